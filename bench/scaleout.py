"""GetUser scale-out: random ids at the Queries section's client count, for 1 and 2 query workers, on the primary and through a replica."""

from __future__ import annotations

import functools
from collections.abc import Callable

from bench import curve, measure, replica
from bench.context import Context
from bench.model import SectionResult
from bench.processes import ServiceProcess, worker_groups
from bench.profile import tree_cpu
from devtools.pgcluster import Cluster

WORKERS_START_SECONDS = 60.0


def run(ctx: Context, result: SectionResult, ids: list[str]) -> None:
    """Measures every configuration of `curve.CONFIGURATIONS`, then adds its series and the note on its ceiling."""
    measured: list[curve.Measured] = []
    for point in (p for p in curve.CONFIGURATIONS if not p.replicas):
        measured.append(_point(ctx, result, point, ids, None, measured))
    replicated = [p for p in curve.CONFIGURATIONS if p.replicas]
    if replicated:
        with replica.streaming_replica(ctx) as standby:
            for point in replicated:
                measured.append(_point(ctx, result, point, ids, standby, measured))
    result.series["scaleout"] = curve.series(measured)
    result.notes.append(curve.ceiling_note(measured))


def _point(
    ctx: Context,
    result: SectionResult,
    point: curve.Point,
    ids: list[str],
    standby: Cluster | None,
    before: list[curve.Measured],
) -> curve.Measured:
    """Starts the query service as `point` says, loads it with GetUser, stops it, and adds the point's figure."""
    clients = ctx.plan.query_clients
    env = ctx.service_env(read_model=ctx.read_model, QUERY_WORKERS=str(point.workers))
    if standby is not None:
        env["READ_MODEL_REPLICA_DSN"] = standby.dsn(ctx.read_model.rsplit("/", 1)[1])
    service = ctx.start("query_service", env)
    try:
        groups = _groups(service, point.workers, standby)
        profile = ctx.profile(
            *([service] if point.workers == 1 else []),
            extra=groups,
            waits_on=standby.dsn() if standby is not None else "",
        )
        name = f"GetUser (random id), {point.label}"
        # One connection per client: the kernel spreads connections, not calls, over the workers.
        params = {"address": service.address, "ids": ids, "own_connection": True}
        outcome = ctx.window("get_user", params, clients, name, profile)
    finally:
        ctx.stop(service)
    reference = before[0] if before else None
    figure = measure.rate_figure(
        result,
        f"{name}, {clients} clients",
        outcome,
        "RPC/s",
        reference=curve.CONFIGURATIONS[0].label if reference else "",
        reference_value=reference.rate if reference else None,
        profile=profile.result,
    )
    figure.detail += ("; the curve's reference; " if reference is None else "; ") + curve.cpu_text(profile.result)
    measure.record_latency(result, f"{name}, {clients} clients", outcome.hist)
    latency = outcome.hist.summary_ms()
    return curve.Measured(point, outcome.rate, latency["p50_ms"], latency["p99_ms"], profile.result)


def _groups(service: ServiceProcess, workers: int, standby: Cluster | None) -> dict[str, Callable[[], float]]:
    """Returns the profile's extra groups: each query worker (once all listen on the port) and the replica's server."""
    groups = worker_groups(service, workers, "query worker", WORKERS_START_SECONDS) if workers > 1 else {}
    if standby is not None:
        assert standby.process is not None
        groups["postgres replica"] = functools.partial(tree_cpu, standby.process.pid)
    return groups
