"""Appends: the store's append path driven directly (in-process threads), then AddUser through gRPC."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg

from bench import measure, sql
from bench.context import Context, require
from bench.model import Figure, SectionResult, Target
from bench.processes import worker_groups
from eventkit.channels import EVENTS_CHANNEL

TITLE = "Appends"
STORE_TARGET = Target("ratio", 1.0, ">= 1.0x raw INSERT")
RPC_TARGET = Target("ratio", 0.8, ">= 0.8x trivial RPC of the faster stack")
TARGET_CLIENTS = 16
COMMAND_WORKERS = 2


def run(ctx: Context, result: SectionResult) -> None:
    """Measures store appends (all levels, guarantees checked), then RPC appends when the service exists."""
    _store(ctx, result)
    require("command_service")
    _rpc(ctx, result)


def _store(ctx: Context, result: SectionResult) -> None:
    dsn = ctx.database("appends")
    rates: dict[int, float] = {}
    with psycopg.connect(dsn, autocommit=True) as listener:
        listener.execute(f"LISTEN {EVENTS_CHANNEL}")
        for clients in ctx.plan.concurrency:
            profile = ctx.profile()
            # One process, `clients` threads, one Appender: the append path as a library user drives it.
            params = {"dsn": dsn, "profile_thread": "appender"}
            outcome = ctx.window("store_append", params, clients, f"store appends at {clients}", profile, processes=1)
            profile.result |= outcome.stacks  # where the group-commit thread's wall time went
            name = f"store appends (Appender, in-process), {measure.plural(clients, 'thread')}"
            measure.rate_figure(
                result,
                name,
                outcome,
                "events/s",
                "store appends",
                clients,
                "raw INSERT",
                measure.reference(ctx.references, "raw_insert", clients),
                STORE_TARGET if clients == TARGET_CLIENTS else None,
                profile.result,
            )
            rates[clients] = outcome.rate
        notifications = sum(1 for _ in listener.notifies(timeout=2.0))
    ctx.references["store_append"] = rates
    result.notes.append(_guarantees(ctx, dsn, notifications))
    ctx.drop(dsn)


def _guarantees(ctx: Context, dsn: str, notifications: int) -> str:
    """Checks what the fast path must keep; raises if any guarantee was broken under load."""
    events = sql.max_position(dsn)
    backwards = sql.order_violations(dsn)
    request_id = str(uuid.uuid4())
    (answer,) = ctx.pool.run(retry_storm, [(dsn, request_id, 16)])
    stored = sql.events_of_request(dsn, request_id)
    broken = []
    if backwards:
        broken.append(f"{backwards} events recorded earlier than the event before them")
    if answer["positions"] != 1 or stored != 1:
        broken.append(f"16 concurrent retries of one request id gave {answer['positions']} positions, {stored} events")
    if not 0 < notifications <= events:
        broken.append(f"{notifications} notifications for {events} events")
    if broken:
        raise measure.MeasurementFailed("guarantee broken under load: " + "; ".join(broken))
    return (
        f"guarantees held under load: positions in commit order (0 of {events:,} events recorded before "
        f"their predecessor); 16 concurrent retries of one request_id appended 1 event; "
        f"{notifications:,} notifications for {events:,} events (one per group-commit transaction, "
        f"{events / notifications:.1f} events per commit on average)"
    )


def retry_storm(dsn: str, request_id: str, copies: int) -> dict[str, Any]:
    """(In a client process) submits the same AddUser with one request id `copies` times at once."""
    from command_service import domain
    from command_service.appender import Appender
    from eventkit.config import Database
    from eventkit.startup import migrating_connector

    appender = Appender(migrating_connector(Database(dsn, "event_store", 1, migration_dsn=dsn), "event_store"))
    appender.start()
    try:
        futures = [appender.submit(domain.AddUser(name="retried", request_id=request_id)) for _ in range(copies)]
        positions = {future.result(timeout=60).position for future in futures}
    finally:
        appender.stop()
    return {"positions": len(positions)}


def _rpc(ctx: Context, result: SectionResult) -> None:
    # The default stack first (its rates are the reference later sections use), then the other one.
    for stack in ("sync", "asyncio"):
        rates = _rpc_stack(ctx, result, stack)
        if stack == "sync":
            ctx.references["rpc_append"] = rates
    _rpc_workers(ctx, result, ctx.references["rpc_append"][TARGET_CLIENTS])


def _rpc_workers(ctx: Context, result: SectionResult, one_process: float) -> None:
    """Measures AddUser with COMMAND_WORKERS processes on one port (sync stack), against one process.

    No target: the targets compare one process with the trivial server's one process. This shows
    what a second core's worth of Python buys when clients, PostgreSQL and the workers share two.
    """
    dsn = ctx.database("rpc")
    service = ctx.start("command_service", ctx.service_env(event_store=dsn, COMMAND_WORKERS=str(COMMAND_WORKERS)))
    name = f"AddUser over gRPC, sync stack, {COMMAND_WORKERS} command workers, {measure.plural(TARGET_CLIENTS)}"
    try:
        profile = ctx.profile(extra=worker_groups(service, COMMAND_WORKERS, "command worker"))
        # One connection per client: the kernel spreads connections, not calls, over the workers.
        params = {"address": service.address, "own_connection": True}
        outcome = ctx.window("add_user", params, TARGET_CLIENTS, name, profile)
    finally:
        ctx.stop(service)
        ctx.drop(dsn)
    measure.rate_figure(
        result,
        name,
        outcome,
        "events/s",
        reference="AddUser, one process (sync)",
        reference_value=one_process,
        profile=profile.result,
    )
    result.figures.append(
        Figure(
            f"{name}, against the trivial RPC",
            outcome.rate,
            "events/s",
            f"trivial RPC ({_faster_stack(ctx, TARGET_CLIENTS)}, the faster stack, one process)",
            measure.reference(ctx.references, "trivial_rpc", TARGET_CLIENTS),
            detail="same run, same concurrency",
        )
    )


def _rpc_stack(ctx: Context, result: SectionResult, stack: str) -> dict[int, float]:
    """Measures AddUser over gRPC on one server stack of the command service (COMMAND_SERVER_STACK)."""
    dsn = ctx.database("rpc")
    service = ctx.start("command_service", ctx.service_env(event_store=dsn, COMMAND_SERVER_STACK=stack))
    rates: dict[int, float] = {}
    for clients, outcome, profile in ctx.add_user_windows(service, f"AddUser ({stack})"):
        measure.rate_figure(
            result,
            f"AddUser over gRPC, {stack} stack, {measure.plural(clients)}",
            outcome,
            "events/s",
            f"AddUser RPC, {stack} stack",
            clients,
            f"trivial RPC ({_faster_stack(ctx, clients)}, the faster stack)",
            measure.reference(ctx.references, "trivial_rpc", clients),
            RPC_TARGET if clients == TARGET_CLIENTS else None,
            profile.result,
        )
        raw = measure.reference(ctx.references, "raw_insert", clients)
        result.figures.append(
            Figure(
                f"AddUser over gRPC, {stack} stack, {measure.plural(clients)}, against raw INSERT",
                outcome.rate,
                "events/s",
                "raw INSERT",
                raw,
                detail="same run, same concurrency",
            )
        )
        rates[clients] = outcome.rate
    ctx.stop(service)
    ctx.drop(dsn)
    return rates


def _faster_stack(ctx: Context, clients: int) -> str:
    """Names the server stack whose trivial RPC was faster at this concurrency (the reference)."""
    sync = measure.reference(ctx.references, "trivial_rpc_sync", clients) or 0.0
    aio = measure.reference(ctx.references, "trivial_rpc_aio", clients) or 0.0
    return "asyncio" if aio > sync else "sync"
