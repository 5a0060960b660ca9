"""A peer in the same run: the same append and projection workload on the `eventsourcing` library."""

from __future__ import annotations

from typing import Any

from bench import measure
from bench.context import Context
from bench.model import Figure, SectionResult, Target

TITLE = "Peer: the eventsourcing library on the same PostgreSQL"
AHEAD = Target("ratio", 1.0, "ahead of the peer (> 1x)")
TARGET_CLIENTS = 16
PROJECTION_TIMEOUT = 1200.0


def _env(ctx: Context, dsn: str, pool_size: int) -> dict[str, str]:
    from bench import peer_app

    return peer_app.environment("127.0.0.1", ctx.cluster.port, dsn.rsplit("/", 1)[1], pool_size)


def run(ctx: Context, result: SectionResult) -> None:
    """Measures the peer's saves at each concurrency and its projection catch-up, and compares them with ours."""
    try:
        import eventsourcing.postgres  # noqa: F401
    except ImportError as exc:
        raise measure.MeasurementFailed(
            f"the bench extra is not installed ({exc}): pip install -e '.[bench]'"
        ) from None
    _appends(ctx, result)
    _projection(ctx, result)


def _appends(ctx: Context, result: SectionResult) -> None:
    from bench import peer_app

    dsn = ctx.database("peer")
    peer_app.application(_env(ctx, dsn, 1)).close()  # creates its tables once, before threads race to
    ours = ctx.references.get("store_append", {})
    for clients in ctx.plan.concurrency:
        env = _env(ctx, dsn, clients)
        profile = ctx.profile()
        outcome = ctx.window("peer_save", {"env": env}, clients, f"peer saves at {clients}", profile, processes=1)
        threads = measure.plural(clients, "thread")
        measure.rate_figure(
            result,
            f"eventsourcing save (one new aggregate), {threads}",
            outcome,
            "events/s",
            "eventsourcing saves",
            clients,
            "raw INSERT",
            measure.reference(ctx.references, "raw_insert", clients),
            profile=profile.result,
        )
        if clients in ours:
            result.figures.append(
                Figure(
                    f"our store appends against the peer, {threads}",
                    ours[clients],
                    "events/s",
                    "eventsourcing saves",
                    outcome.rate,
                    AHEAD if clients == TARGET_CLIENTS else None,
                )
            )
    ctx.drop(dsn)


def _projection(ctx: Context, result: SectionResult) -> None:
    from bench import peer_app

    dsn = ctx.database("peerproj")
    env = _env(ctx, dsn, 2)
    events = ctx.plan.peer_projection_events
    (last_id,) = ctx.pool.run(peer_app.seed, [(env, events)])
    profile = ctx.profile()
    profile.start()
    (done,) = ctx.pool.run(peer_app.project, [(env, last_id, PROJECTION_TIMEOUT)])
    profile.stop()
    if done["events"] != events:
        raise measure.MeasurementFailed(f"the peer's view holds {done['events']} users, {events} were saved")
    rate = done["events"] / done["seconds"]
    result.figures.append(
        Figure(
            f"eventsourcing ProjectionRunner catch-up over {events:,} events",
            rate,
            "events/s",
            "raw read",
            measure.reference(ctx.references, "raw_read"),
            detail=f"{done['seconds']:.1f} s; RSS grew {done['rss_growth_kib'] / 1024:.1f} MiB",
            profile=profile.result,
        )
    )
    ours: Any = ctx.references.get("catch_up")
    if ours:
        result.figures.append(
            Figure(
                "our projector catch-up against the peer's projection",
                ours,
                "events/s",
                "eventsourcing projection",
                rate,
                AHEAD,
            )
        )
    else:
        result.notes.append("no projector catch-up figure of ours in this run to compare with")
    ctx.drop(dsn)
