"""Store growth (`--scale`, `make bench SCALE=1`): appends, request-id lookups, head checks and catch-up reads on a small store and a large one.

The large store is written with COPY, never through the API (10 million events take minutes that
way, not hours), then vacuumed and checkpointed as a running system would be. Appends are timed
right after that VACUUM (they fill the room it recorded in the load's pages) and again once that
room is used up: the first is the cost of a bulk load's history, the second of the store's size.
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
FILL_ROUNDS = 8  # windows of appends at most, to use up the free space the bulk load left
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
    appended = sql.max_position(dsn)  # positions 1..appended hold rows as the window appends them
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
    size = f"{written / 1e6:g} million events"
    _appends_after_the_load(ctx, result, dsn, size, appended)
    _appends(ctx, result, dsn, size, small)
    large_reads = _reads(dsn)
    for name, hist in large_reads.items():
        reference = small_reads[name].summary_ms()["p50_ms"]
        result.figures.append(
            Figure(
                f"{name} p50, {size}",
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


def _appends_after_the_load(ctx: Context, result: SectionResult, dsn: str, size: str, appended: int) -> None:
    """Times appends right after the load's VACUUM, then appends until the room it recorded is (nearly) used up."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        room = _FreeSpace(conn, appended)
        before = room.pages()
        _appends(ctx, result, dsn, f"{size}, right after the load's VACUUM", None)
        after, rounds = room.pages(), 0
        # Then appends until those gaps are full, so that the next window measures the size alone.
        while after > before // 100 and rounds < FILL_ROUNDS:
            ctx.window("store_append", {"dsn": dsn}, APPEND_CLIENTS, "filling the load's free space", processes=1)
            after, rounds = room.pages(), rounds + 1
    result.notes.append(
        f"the bulk load and its VACUUM left {before:,} of {room.loaded_pages:,} pages with room for an appended row"
        f" ({room.needed} bytes): the first window after it put rows there; {rounds} more windows of appends,"
        f" then {after:,} such pages were left"
    )
    if after > before // 100:
        raise measure.MeasurementFailed(f"{after:,} pages still had room after {rounds} windows of appends")


class _FreeSpace:
    """Counts the pages of the bulk-loaded table that still have room for an appended row.

    VACUUM records in the free-space map the room left at the end of each page a load filled. An
    appended row that fits there goes into that old page, not the table's last one: a page read, a
    full-page image in the WAL (the page's first change since the checkpoint), a dirty page to
    evict, for each row, until those gaps are full. That is the cost of a bulk load's history, not
    of the store's size, and it ends; the scale section measures it in a window of its own.
    """

    def __init__(self, conn: psycopg.Connection[Any], appended: int) -> None:
        self._conn = conn
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_freespacemap")
        row = conn.execute(
            "SELECT min(pg_column_size(e.*)), pg_relation_size('event_store.events') / current_setting('block_size')::int"
            " FROM event_store.events e WHERE position <= %s",
            [appended],
        ).fetchone()
        assert row is not None and row[0] is not None, "the empty store's window appended rows"
        self.needed = int(row[0]) + 4  # the row and its line pointer
        self.loaded_pages = int(row[1])

    def pages(self) -> int:
        row = self._conn.execute(
            "SELECT count(*) FROM pg_freespace('event_store.events') WHERE avail >= %s AND blkno < %s",
            [self.needed, self.loaded_pages],
        ).fetchone()
        return int(row[0]) if row else 0


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
