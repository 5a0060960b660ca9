"""Queries: GetUser and ListUsers (pages of 50) at 16 clients over the projected users; a deep page against the first; GetUser's scale-out."""

from __future__ import annotations

from typing import Any

import grpc

from bench import measure, scaleout, sql
from bench.context import Context, require
from bench.model import Figure, NotRunnable, SectionResult
from users.v1 import query_service_pb2 as pb
from users.v1 import query_service_pb2_grpc as pb_grpc

TITLE = "Queries"
SCHEMA = "read_model"
PAGE = 50
WALK_PAGE = 1000  # the largest page: reaching the middle of 100,000 users takes 50 calls
ID_SAMPLE = 10_000


def run(ctx: Context, result: SectionResult) -> None:
    """Loads GetUser, the first ListUsers page and a page from the middle of the listing, then GetUser's scale-out curve."""
    require("query_service")
    if not ctx.read_model:
        raise NotRunnable("no projected read model (the projector section did not run)")
    service = ctx.start("query_service", ctx.service_env(read_model=ctx.read_model))
    ids = sql.user_ids(ctx.read_model, SCHEMA, ID_SAMPLE)
    users = ctx.plan.store_users
    clients = ctx.plan.query_clients
    trivial = measure.reference(ctx.references, "trivial_rpc", clients)
    deep_token, depth = _token_at(service.address, users // 2)
    runs: list[tuple[str, str, dict[str, Any]]] = [
        ("GetUser (random id)", "get_user", {"address": service.address, "ids": ids}),
        (f"ListUsers, first page of {PAGE}", "list_users", {"address": service.address, "page_size": PAGE}),
        (
            f"ListUsers, page of {PAGE} after {depth:,} users",
            "list_users",
            {"address": service.address, "page_size": PAGE, "page_token": deep_token},
        ),
    ]
    rates = []
    for name, workload, params in runs:
        profile = ctx.profile(service)
        outcome = ctx.window(workload, params, clients, name, profile)
        measure.rate_figure(
            result,
            f"{name}, {clients} clients, {users:,} users",
            outcome,
            "RPC/s",
            reference="trivial RPC",
            reference_value=trivial,
            profile=profile.result,
        )
        measure.record_latency(result, f"{name}, {clients} clients", outcome.hist)
        rates.append(outcome)
    first, deep = rates[1], rates[2]
    result.figures.append(
        Figure(
            "deep page against the first: throughput",
            deep.rate,
            "RPC/s",
            "first page",
            first.rate,
            detail="1.00x means a deep page costs nothing extra",
        )
    )
    result.figures.append(
        Figure(
            "deep page against the first: p99 latency",
            deep.hist.percentile(99) * 1e3,
            "ms",
            "first page",
            first.hist.percentile(99) * 1e3,
        )
    )
    ctx.stop(service)
    scaleout.run(ctx, result, ids)


def _token_at(address: str, depth: int) -> tuple[str, int]:
    """Walks the listing in pages of 1,000 and returns the token that continues after about `depth` users."""
    token, seen = "", 0
    with grpc.insecure_channel(address) as channel:
        stub = pb_grpc.QueryServiceStub(channel)
        while seen < depth:
            size = min(WALK_PAGE, depth - seen)
            page = stub.ListUsers(pb.ListUsersRequest(page_size=size, page_token=token), timeout=60)
            if not page.next_page_token:
                break
            token, seen = page.next_page_token, seen + len(page.users)
    if not token:
        raise measure.MeasurementFailed(f"the listing has no second page (depth {depth})")
    return token, seen
