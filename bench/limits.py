"""The machine's own limits, measured in the same run: raw INSERT and read rates, and the gRPC loopback limit."""

from __future__ import annotations

import statistics
import time

import psycopg

from bench import load, measure, sql, streams
from bench.context import Context
from bench.model import Figure, SectionResult
from bench.processes import ServiceProcess
from eventkit import migrations

TITLE = "Limits of this machine (the references)"
READ_BATCH = 1000
READS = 3  # the median of three: one read of a small store is at the mercy of a noisy neighbour


def run(ctx: Context, result: SectionResult) -> None:
    """Measures every reference the other sections divide by, and stores them in ctx.references."""
    _raw_inserts(ctx, result)
    _trivial_rpc(ctx, result)
    _seeded_store(ctx, result)


def raw_read(ctx: Context, dsn: str, events: int) -> tuple[float, float]:
    """Reads the whole store READS times from a client process; returns the median rate and its seconds."""
    reads = [ctx.pool.run(sql.read_all, [(dsn, "event_store", READ_BATCH)])[0] for _ in range(READS)]
    if any(read["events"] != events for read in reads):
        raise measure.MeasurementFailed(f"read {[r['events'] for r in reads]} events back, expected {events}")
    seconds = statistics.median(read["seconds"] for read in reads)
    return events / seconds, seconds


def _raw_inserts(ctx: Context, result: SectionResult) -> None:
    dsn = ctx.database("limits")
    sql.create_raw_table(dsn)
    rates: dict[int, float] = {}
    for clients in ctx.plan.concurrency:
        profile = ctx.profile()
        outcome = ctx.window("raw_insert", {"dsn": dsn}, clients, f"raw INSERT at {clients}", profile)
        measure.rate_figure(
            result,
            f"raw durable single-row INSERT, {measure.plural(clients)}",
            outcome,
            "rows/s",
            "raw INSERT",
            clients,
            profile=profile.result,
        )
        rates[clients] = outcome.rate
    ctx.references["raw_insert"] = rates
    ctx.drop(dsn)


def _trivial_rpc(ctx: Context, result: SectionResult) -> None:
    for module, stack, key in (("bench.trivial_aio", "asyncio", "aio"), ("bench.trivial", "sync", "sync")):
        server = ctx.start(module)
        try:
            ctx.references[f"trivial_rpc_{key}"] = _trivial_unary(ctx, result, server, stack)
            ctx.references[f"stream_rate_{key}"] = _single_stream(ctx, result, server, stack)
        finally:
            ctx.stop(server)
    # The faster stack at each concurrency: a service is compared with the best this Python can do.
    ctx.references["trivial_rpc"] = {
        clients: max(ctx.references["trivial_rpc_sync"][clients], ctx.references["trivial_rpc_aio"][clients])
        for clients in ctx.plan.concurrency
    }
    ctx.references["stream_rate"] = max(ctx.references["stream_rate_sync"], ctx.references["stream_rate_aio"])


def _single_stream(ctx: Context, result: SectionResult, server: ServiceProcess, stack: str) -> float:
    """Measures one server stream read as fast as a trivial server of `stack` sends it."""
    window = load.Window.soon(ctx.plan.warmup, ctx.plan.duration)
    profile = ctx.profile(server)
    timers = load.profiled(window, profile)
    (part,) = ctx.pool.run(streams.single_stream, [(server.address, window)])
    for timer in timers:
        timer.join()
    if not part["messages"]:
        raise measure.MeasurementFailed(f"the trivial {stack} server's stream delivered nothing")
    rate = float(part["messages"] / part["seconds"])
    result.figures.append(
        Figure(f"trivial server-streaming RPC, {stack} server, one stream", rate, "messages/s", profile=profile.result)
    )
    return rate


def _trivial_unary(ctx: Context, result: SectionResult, process: ServiceProcess, stack: str) -> dict[int, float]:
    """Measures a trivial unary RPC server at each concurrency."""
    rates: dict[int, float] = {}
    for clients, outcome, profile in ctx.add_user_windows(process, f"trivial RPC ({stack})"):
        measure.rate_figure(
            result,
            f"trivial unary RPC, {stack} server, {measure.plural(clients)}",
            outcome,
            "RPC/s",
            f"trivial RPC, {stack}",
            clients,
            profile=profile.result,
        )
        rates[clients] = outcome.rate
    return rates


def _seeded_store(ctx: Context, result: SectionResult) -> None:
    """Seeds the event store the read-side sections share, then reads it back at full speed."""
    dsn = ctx.database("store")
    with psycopg.connect(dsn) as conn:
        migrations.apply(conn, "event_store", "event_store")
    started = time.perf_counter()
    events = sql.seed_events(dsn, "event_store", ctx.plan.store_users, ctx.plan.edits_per_user)
    seeded = time.perf_counter() - started
    result.notes.append(f"seeded {events:,} events ({ctx.plan.store_users:,} users) in bulk in {seeded:.1f} s")
    ctx.seeded_store = dsn
    profile = ctx.profile()
    profile.start()
    rate, seconds = raw_read(ctx, dsn, events)
    profile.stop()
    result.figures.append(
        Figure(
            f"raw read of the store, {READ_BATCH} rows a query",
            rate,
            "events/s",
            detail=f"{events:,} events in {seconds:.2f} s (median of {READS} reads)",
            profile=profile.result,
        )
    )
    ctx.references["raw_read"] = rate
