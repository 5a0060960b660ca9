"""Store growth (`--scale`, `make bench SCALE=1`): appends, request-id lookups, head checks and catch-up reads on a small store and a large one.

The large store is written with COPY, never through the API (10 million events take minutes that
way, not hours), then vacuumed and checkpointed as a running system would be.
"""

from __future__ import annotations

import random
import time
from typing import Any

import psycopg

from bench import measure, sql
from bench.context import Context
from bench.model import Figure, SectionResult, Target
from bench.stats import Histogram

APPEND_TARGET = Target("ratio", 0.9, ">= 0.9x the rate on an empty store")
APPEND_CLIENTS = 16
PROBES = 2_000  # single-row lookups timed per store size
CATCH_UP_BATCH = 1_000  # the projector's page size when it follows the store
SMALL_EVENTS = 10_000  # the small store the reads are first timed on (plus the appends of the first window)

_COLUMNS = "position, stream_id, version, type, schema_version, data, metadata, record_time"
# The read paths a growing store must keep flat, as the services issue them.
QUERIES = {
    "request-id lookup": f"SELECT request_id, {_COLUMNS} FROM event_store.events WHERE request_id = ANY(%s::uuid[])",
    "head check (last event of a stream)": (
        "SELECT version, position, record_time FROM event_store.events WHERE stream_id = %s"
        " ORDER BY version DESC LIMIT 1"
    ),
    "catch-up page": f"SELECT {_COLUMNS} FROM event_store.events WHERE position > %s ORDER BY position LIMIT %s",
}


def run(ctx: Context, result: SectionResult) -> None:
    """Appends on an empty store, fills it with COPY, appends again; lookups and plans at both sizes."""
    dsn = ctx.database("scale")
    small = _appends(ctx, result, dsn, "empty store", None)
    # The reads need keys that exist: a few events like the service's own (they carry request ids).
    written = sql.copy_events(dsn, SMALL_EVENTS)
    small_reads = _reads(dsn)
    started = time.perf_counter()
    written += sql.copy_events(dsn, ctx.plan.scale_events - SMALL_EVENTS)
    seconds = time.perf_counter() - started
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) event_store.events")  # what autovacuum does after a bulk load
        conn.execute("CHECKPOINT")  # the load's dirty pages are not written during the window
    result.notes.append(f"wrote {written:,} events with COPY in {seconds:.0f} s ({written / seconds:,.0f} events/s)")
    _sizes(result, dsn)
    _appends(ctx, result, dsn, f"{written / 1e6:g} million events", small)
    large_reads = _reads(dsn)
    for name, hist in large_reads.items():
        reference = small_reads[name].summary_ms()["p50_ms"]
        result.figures.append(
            Figure(
                f"{name} p50, {written / 1e6:g} million events",
                hist.summary_ms()["p50_ms"],
                "ms",
                f"{name} p50 on the small store",
                reference,
                detail=measure.latency_text(hist) + f"; {hist.count:,} probes",
            )
        )
    result.series["explain"] = _plans(dsn)
    ctx.drop(dsn)


def _appends(ctx: Context, result: SectionResult, dsn: str, label: str, reference: float | None) -> float:
    """Measures store appends (the Appender, in-process threads) and returns their rate."""
    profile = ctx.profile()
    outcome = ctx.window(
        "store_append",
        {"dsn": dsn, "profile_thread": "appender"},
        APPEND_CLIENTS,
        f"store appends, {label}",
        profile,
        processes=1,
    )
    figure = measure.rate_figure(
        result,
        f"store appends, {APPEND_CLIENTS} threads, {label}",
        outcome,
        "events/s",
        "",
        0,
        "store appends on an empty store" if reference else "",
        reference,
        APPEND_TARGET if reference else None,
        profile.result | outcome.stacks,
    )
    result.series.setdefault("cost", {}).setdefault("store appends (events/s)", {})[label] = round(outcome.rate, 1)
    measure.record_latency(result, f"store appends, {label}", outcome.hist)
    return figure.value


def _reads(dsn: str) -> dict[str, Histogram]:
    """Times PROBES single executions of each read path against random existing keys."""
    head = max(sql.max_position(dsn), 1)
    with psycopg.connect(dsn, autocommit=True) as conn:
        sample = conn.execute(
            "SELECT request_id::text, stream_id::text FROM event_store.events"
            " WHERE position = ANY(%s::bigint[]) AND request_id IS NOT NULL",
            [[random.randint(1, head) for _ in range(PROBES * 2)]],
        ).fetchall()
        params: dict[str, list[Any]] = {
            "request-id lookup": [[[request]] for request, _ in sample],
            "head check (last event of a stream)": [[stream] for _, stream in sample],
            "catch-up page": [[random.randint(0, max(head - CATCH_UP_BATCH, 0)), CATCH_UP_BATCH] for _ in sample],
        }
        timings: dict[str, Histogram] = {}
        for name, query in QUERIES.items():
            hist = Histogram()
            for values in params[name][:PROBES]:
                started = time.perf_counter()
                conn.execute(query, values, prepare=True).fetchall()
                hist.add(time.perf_counter() - started)
            timings[name] = hist
    return timings


def _sizes(result: SectionResult, dsn: str) -> None:
    sizes = sql.relation_sizes(dsn)
    events = sql.max_position(dsn)
    per_million = {name: size * 1e6 / events / 2**20 for name, size in sizes.items()}
    total = sum(per_million.values())
    result.figures.append(
        Figure(
            "event store size per million events (table and indexes)",
            total,
            "MiB",
            detail=", ".join(f"{name} {mib:.0f} MiB" for name, mib in per_million.items()) + f"; {events:,} events",
        )
    )


def _plans(dsn: str) -> dict[str, str]:
    """Returns EXPLAIN (ANALYZE, BUFFERS) of each read path and of the append, on the large store."""
    with psycopg.connect(dsn) as conn:
        sample = conn.execute(
            "SELECT request_id::text, stream_id::text, position FROM event_store.events"
            " WHERE position = (SELECT max(position) / 2 FROM event_store.events)"
        ).fetchone()
        assert sample is not None, "the store is not empty"
        request, stream, position = sample
        plans = {}
        for name, values in (
            ("request-id lookup", [[request]]),
            ("head check (last event of a stream)", [stream]),
            ("catch-up page", [position, CATCH_UP_BATCH]),
        ):
            rows = conn.execute(f"EXPLAIN (ANALYZE, BUFFERS) {QUERIES[name]}", values).fetchall()
            plans[name] = "\n".join(row[0] for row in rows)
        # The append as the service issues it (one row here), rolled back: it leaves nothing behind.
        rows = conn.execute(
            "EXPLAIN (ANALYZE, BUFFERS) INSERT INTO event_store.events"
            " (stream_id, version, type, schema_version, data, metadata, request_id)"
            " SELECT s, v, t, 2, d, m, r FROM jsonb_to_recordset(%s::jsonb)"
            " AS batch(s uuid, v bigint, t text, d jsonb, m jsonb, r uuid)"
            " RETURNING stream_id::text, version, position, record_time",
            ['[{"s": "00000000-0000-4000-8000-000000000001", "v": 1, "t": "UserAdded", "d": {}, "m": {}, "r": null}]'],
        ).fetchall()
        plans["append (one event, rolled back)"] = "\n".join(row[0] for row in rows)
        conn.rollback()
    return plans
