"""Growth: what a command costs as a user's stream grows, and (--scale) what appends cost as the store grows."""

from __future__ import annotations

import time

from bench import measure, scale, sql
from bench.context import Context, require
from bench.model import Figure, SectionResult, Target
from bench.stats import Histogram

TITLE = "Cost as streams and the store grow"
# Events in each stream before the measurement, and how many such users the edits go round: enough
# that the edits of one window lengthen each stream by a small part only.
STREAMS = ((1, 1_000), (100, 100), (10_000, 10))
EDIT_TARGET = Target("ratio at most", 1.2, "<= 1.2x the p50 on 1-event streams")


def run(ctx: Context, result: SectionResult) -> None:
    """Measures EditUser against stream length; with --scale also appends and reads against store size."""
    require("command_service")
    _streams(ctx, result)
    if ctx.plan.scale:
        scale.run(ctx, result)
    else:
        result.notes.append(f"store growth to {ctx.plan.scale_events:,} events not run: --scale (SCALE=1) runs it")


def _streams(ctx: Context, result: SectionResult) -> None:
    dsn = ctx.database("streams")
    service = ctx.start("command_service", ctx.service_env(event_store=dsn))
    groups: dict[str, list[str]] = {}
    first: dict[int, Histogram] = {}
    for size, users in STREAMS:
        groups[str(size)] = ids = sql.seed_streams(dsn, users, size)
        # Each user's first command finds no head (the bulk load wrote none): it folds the whole stream.
        (first[size],) = ctx.pool.run(edit_each, [(service.address, ids)])
        _cost(result, "first EditUser: no head, folds the stream (p50)", size, first[size].summary_ms()["p50_ms"])
    # One window for every size, edited in turn, so a noisy neighbour slows them all alike.
    profile = ctx.profile(service)
    outcome = ctx.window(
        "edit_user",
        {"address": service.address, "groups": groups},
        1,
        "EditUser on streams of every size",
        profile,
        collect=True,
        processes=1,
    )
    by_size = {size: Histogram() for size, _ in STREAMS}
    for group, seconds in outcome.records:
        by_size[int(group)].add(seconds)
    smallest = by_size[STREAMS[0][0]].summary_ms()["p50_ms"]
    for size, users in STREAMS:
        hist = by_size[size]
        shortest, longest = sql.stream_lengths(dsn, groups[str(size)])
        summary = hist.summary_ms()
        detail = (
            f"{users:,} users edited in turn; {hist.count:,} edits in the window; streams now "
            f"{shortest:,}-{longest:,} events; first edit (no head) p50 {first[size].summary_ms()['p50_ms']:.1f} ms"
        )
        for label in ("p50", "p99"):
            compared = label == "p50" and size != STREAMS[0][0]
            result.figures.append(
                Figure(
                    f"EditUser on streams of {measure.plural(size, 'event')}, 1 client {label}",
                    summary[f"{label}_ms"],
                    "ms",
                    "EditUser p50 on 1-event streams" if compared else "",
                    smallest if compared else None,
                    EDIT_TARGET if compared and size == STREAMS[-1][0] else None,
                    detail,
                    profile.result,
                )
            )
            _cost(result, f"EditUser {label} (head)", size, summary[f"{label}_ms"])
        measure.record_latency(result, f"EditUser, {measure.plural(size, 'event')} streams", hist)
    ctx.stop(service)
    ctx.drop(dsn)


def _cost(result: SectionResult, curve: str, size: int, value: float) -> None:
    """Adds one point to a cost-against-size curve (the cost plot)."""
    result.series.setdefault("cost", {}).setdefault(curve, {})[str(size)] = round(value, 3)


def edit_each(address: str, ids: list[str]) -> Histogram:
    """(In a client process) edits each user once, in turn; returns the latencies."""
    import grpc

    from users.v1 import command_service_pb2 as pb
    from users.v1 import command_service_pb2_grpc as pb_grpc

    hist = Histogram()
    with grpc.insecure_channel(address) as channel:
        stub = pb_grpc.CommandServiceStub(channel)
        for user_id in ids:
            started = time.perf_counter()
            stub.EditUser(pb.EditUserRequest(id=user_id, name="first edit"), timeout=60)
            hist.add(time.perf_counter() - started)
    return hist
