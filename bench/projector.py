"""Projector: catch-up from zero over the seeded store, then `rebuild`; events/s against the raw read rate, memory."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from bench import limits, measure, sql
from bench.context import Context, connect, require
from bench.model import Figure, NotRunnable, SectionResult, Target
from bench.processes import ServiceProcess, memory_kib, run_once

TITLE = "Projector: catch-up and rebuild"
RATE_TARGET = Target("ratio", 0.5, ">= 0.5x raw read")
REBUILD_TARGET = Target("ratio", 0.7, ">= 0.7x raw read")
FLAT_TARGET = Target("at most", 16.0, "flat: grows <= 16 MiB from 25% to 100% of the events")
SCHEMA = "read_model"
PROJECTION = "users"
POLL_SECONDS = 0.05
READ_AROUND = "raw read around it"


@dataclass
class Progress:
    """When the checkpoint first moved, when it reached the head, and memory along the way (KiB)."""

    launched: float
    first: tuple[float, int]
    done: float
    rss_quarter: int
    rss_end: int
    peak: int


def run(ctx: Context, result: SectionResult) -> None:
    """Catches a fresh read model up over the seeded store, stops the projector, then rebuilds it."""
    require("projector_service")
    if not ctx.seeded_store:
        raise NotRunnable("no seeded event store (the limits section did not seed it)")
    read_model = ctx.database("readmodel")
    env = ctx.service_env(ctx.seeded_store, read_model)
    total = sql.max_position(ctx.seeded_store)
    # The raw read is taken again around each measurement, and each is divided by the mean of the
    # reads just before and just after it: this machine's speed moves by a third within minutes,
    # and the limits' read, taken before the other sections, had made the ratios the machine's.
    read_before = limits.raw_read(ctx, ctx.seeded_store, total)[0]
    projector = ctx.start("projector_service", env, "run", wait=False)
    profile = ctx.profile(projector)
    progress = _follow(projector, read_model, total, profile.start, timeout=120 + total / 500)
    profile.stop()
    ctx.stop(projector)
    read_between = limits.raw_read(ctx, ctx.seeded_store, total)[0]
    reference, reads = read_around(ctx, read_before, read_between)
    rate = (total - progress.first[1]) / max(progress.done - progress.first[0], 1e-6)
    result.figures.append(
        Figure(
            f"catch-up from zero over {total:,} events (projector run)",
            rate,
            "events/s",
            READ_AROUND,
            reference,
            RATE_TARGET,
            f"{total / (progress.done - progress.launched):,.0f} events/s counting process start-up; {reads}",
            profile.result,
        )
    )
    result.figures.append(
        Figure(
            "catch-up: resident memory growth from 25% to 100% of the events",
            (progress.rss_end - progress.rss_quarter) / 1024,
            "MiB",
            target=FLAT_TARGET,
            detail=f"peak {progress.peak / 1024:.0f} MiB (VmHWM)",
        )
    )
    ctx.references["catch_up"] = rate
    ctx.read_model = read_model
    _rebuild(ctx, result, env, total, read_between)


def _follow(
    projector: ServiceProcess, read_model: str, total: int, on_first: Callable[[], object], timeout: float
) -> Progress:
    """Polls the checkpoint until it reaches `total`, sampling the projector's memory."""
    launched = time.monotonic()
    first: tuple[float, int] | None = None
    rss_quarter = 0
    with connect(read_model) as conn:
        while True:
            position = sql.checkpoint(conn, SCHEMA, PROJECTION)
            now = time.monotonic()
            memory = memory_kib(projector.pid)
            if first is None and position > 0:
                first = (now, position)
                on_first()
            if not rss_quarter and position >= total / 4:
                rss_quarter = memory["rss"]
            if position >= total:
                assert first is not None
                return Progress(launched, first, now, rss_quarter, memory["rss"], memory["peak"])
            if projector.process is not None and projector.process.poll() is not None:
                raise measure.MeasurementFailed(f"the projector exited at position {position}:\n{projector.output()}")
            if now - launched > timeout:
                raise measure.MeasurementFailed(f"catch-up stuck at {position} of {total} after {timeout:.0f}s")
            time.sleep(POLL_SECONDS)  # sampling the checkpoint, not synchronising


def read_around(ctx: Context, before: float, after: float) -> tuple[float, str]:
    """Returns the reference a measurement divides by (the mean of the reads around it) and how it was read."""
    limits_read = measure.reference(ctx.references, "raw_read")
    text = f"raw read just before / after: {before:,.0f} / {after:,.0f} events/s" + (
        f" (the limits' {limits_read:,.0f})" if limits_read else ""
    )
    return (before + after) / 2, text


def _rebuild(ctx: Context, result: SectionResult, env: dict[str, str], total: int, read_before: float) -> None:
    profile = ctx.profile()
    profile.start()
    done = run_once("projector_service", env, ["rebuild"], timeout=120 + total / 500)
    profile.stop()
    reference, reads = read_around(ctx, read_before, limits.raw_read(ctx, ctx.seeded_store, total)[0])
    if profile.result:
        # The rebuild's own CPU comes from its exit status (rusage), so it is moved out of "other".
        share = round(100 * done.cpu_seconds / max(done.ended - done.started, 1e-6), 1)
        profile.result["projector_service rebuild"] = share
        profile.result["other"] = max(0.0, round(profile.result["other"] - share, 1))
    if done.returncode != 0:
        output = "\n".join(line for _, line in done.lines[-20:])
        raise measure.MeasurementFailed(f"rebuild exited with {done.returncode}:\n{output}")
    # The clock starts at the rebuild's first line (it has connected and counted the events), so
    # Python's start-up is not charged to the replay; the total with start-up is in the detail.
    begin = done.lines[0][0] if done.lines else done.started
    rate = total / max(done.ended - begin, 1e-6)
    result.figures.append(
        Figure(
            f"rebuild over {total:,} events (replay into fresh tables, then swap)",
            rate,
            "events/s",
            READ_AROUND,
            reference,
            REBUILD_TARGET,
            f"{total / (done.ended - done.started):,.0f} events/s counting process start-up; {reads}",
            profile.result,
        )
    )
    # Quarters of the replay, from its first line like the rate: interpreter start-up and imports
    # (tens of MiB in the first fraction of a second) are not growth during the replay.
    quarters = [begin + (done.ended - begin) * q / 4 for q in (1, 2, 3)]
    rss_at = [next((kib for at, kib in done.rss_samples if at >= moment), 0) for moment in quarters]
    rss_quarter = rss_at[0]
    rss_end = done.rss_samples[-1][1] if done.rss_samples else 0
    growth = (rss_end - rss_quarter) / 1024
    result.figures.append(
        Figure(
            "rebuild: resident memory growth from 25% to 100% of the replay's time",
            growth,
            "MiB",
            target=FLAT_TARGET,
            detail=f"peak {done.peak_kib / 1024:.0f} MiB (VmHWM); at 25/50/75/100%: "
            + "/".join(f"{kib / 1024:.0f}" for kib in [*rss_at, rss_end])
            + " MiB",
        )
    )
    result.notes.append("rebuild's own account: " + (done.lines[-1][1] if done.lines else "(no output)"))
