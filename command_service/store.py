"""All SQL of the command service: the append transaction's statements against the event store."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import psycopg
from psycopg import sql

from command_service.domain import NewEvent
from command_service.heads import Checked, Head, Last
from eventkit.codec import RecordedEvent

_COLUMNS = "position, stream_id::text, version, type, data, record_time, metadata, schema_version"


def _recorded(row: tuple[Any, ...]) -> RecordedEvent:
    return RecordedEvent(*row)


def limit_waits(conn: psycopg.Connection[Any], lock_timeout: float, statement_timeout: float) -> None:
    """Bounds, for this session, how long a statement waits for a lock and how long it runs.

    Why: an append stuck behind a held append lock (a psql session, a hung writer) would otherwise
    wait for ever and could commit long after its caller gave up. With these limits the server
    itself ends it, rolls it back and the caller is answered UNAVAILABLE; a stopping service
    cancels it sooner (Appender.abandon).
    """
    conn.execute(
        "SELECT set_config('lock_timeout', %s, false), set_config('statement_timeout', %s, false)",
        [f"{round(lock_timeout * 1000)}ms", f"{round(statement_timeout * 1000)}ms"],
    )


# Seconds from the start of a statement to now, read right after the append lock was granted: the
# lock's wait (clock_timestamp() moves during a statement, statement_timestamp() does not).
_WAITED = "extract(epoch FROM clock_timestamp() - statement_timestamp())::float8"


# Takes the append lock the table's insert trigger takes (see 0001_events.sql) and says how long it
# waited. MATERIALIZED: the lock is taken before the clock is read, not folded into one projection.
_LOCK = (
    "WITH locked AS MATERIALIZED (SELECT pg_advisory_xact_lock('events'::regclass::oid::bigint))"
    f" SELECT {_WAITED} FROM locked"
)


class Loaded(NamedTuple):
    """What the append transaction read under the lock, and how long it waited for the lock."""

    checked: dict[str, Checked]
    earlier: dict[str, RecordedEvent]
    lock_wait: float


class Inserted(NamedTuple):
    """The events as recorded, and the seconds the INSERT took to write its first row (lock wait included)."""

    events: list[RecordedEvent]
    first_row_after: float


def lock_and_load(
    conn: psycopg.Connection[Any], stream_ids: Iterable[str], request_ids: Iterable[str]
) -> Callable[[], Loaded]:
    """Sends the append lock, then reads of the given streams' heads and last events and of the request ids' events.

    Returns a function that gives what they read. The lock is the one the table's insert trigger
    takes (see 0001_events.sql), taken first so the reads see every committed event they decide on
    and no other writer can append between those reads and this transaction's commit: a head found
    to match the stream's last event here still matches it at the commit. The statements read O(1)
    rows per stream whatever its length (heads.trusted decides whether a head may stand for the
    history; stale ones are refolded from load_streams).

    Why a function: in the caller's pipeline the statements travel in one round trip with those
    queued before them (BEGIN) and after them (the users' keys), up to the first result read.
    """
    streams, requests = sorted(set(stream_ids)), sorted(set(request_ids))
    locked = conn.execute(_LOCK)
    by_stream = conn.execute(_CHECK_HEADS, [streams]) if streams else None
    by_request = (
        conn.execute(f"SELECT request_id::text, {_COLUMNS} FROM events WHERE request_id = ANY(%s::uuid[])", [requests])
        if requests
        else None
    )

    def loaded() -> Loaded:
        waited = locked.fetchone()
        checked = {row[0]: _checked(row) for row in by_stream.fetchall()} if by_stream else {}
        earlier = {row[0]: _recorded(row[1:]) for row in by_request.fetchall()} if by_request else {}
        return Loaded(checked, earlier, float(waited[0]) if waited else 0.0)

    return loaded


# Each stream's head (if any) beside its last event, found backwards on (stream_id, version): one
# index probe per stream, however long the stream.
_CHECK_HEADS = """
    SELECT s.id::text, h.version, h.position, h.deleted, h.forgotten, h.forgotten_version, h.keyed,
           h.create_time, h.checksum, last.version, last.position, last.record_time
    FROM unnest(%s::uuid[]) AS s(id)
    LEFT JOIN stream_heads h ON h.stream_id = s.id
    LEFT JOIN LATERAL (
        SELECT version, position, record_time FROM events e WHERE e.stream_id = s.id ORDER BY version DESC LIMIT 1
    ) last ON true
"""


def _checked(row: tuple[Any, ...]) -> Checked:
    stream, *head, last_version, last_position, last_time = row
    stored = Head(stream, *head) if head[0] is not None else None
    last = Last(last_version, last_position, last_time) if last_version is not None else None
    return Checked(stored, last)


def head(conn: psycopg.Connection[Any]) -> int:
    """Returns the highest position in the store (0 when empty)."""
    row = conn.execute("SELECT coalesce(max(position), 0) FROM events").fetchone()
    return int(row[0]) if row else 0


def load_streams(conn: psycopg.Connection[Any], stream_ids: Iterable[str]) -> dict[str, list[RecordedEvent]]:
    """Returns every event of the given streams, in version order."""
    ids = sorted(set(stream_ids))
    streams: dict[str, list[RecordedEvent]] = {stream: [] for stream in ids}
    if not ids:
        return streams
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM events WHERE stream_id = ANY(%s::uuid[]) ORDER BY stream_id, version", [ids]
    )
    for row in rows:
        event = _recorded(row)
        streams[event.stream_id].append(event)
    return streams


def insert(
    conn: psycopg.Connection[Any],
    appends: list[tuple[NewEvent, dict[str, object]]],
    schema_version: int,
    heads: list[dict[str, object]] | None = None,
    keys: tuple[sql.Composable, list[Any]] | None = None,
) -> Callable[[], Inserted]:
    """Sends the statement appending the events (data as stored: sealed for schema version 2) and writing `heads`.

    Returns a function that gives the events as recorded, in the order given (in a pipeline, once
    what was queued after the statement, COMMIT, has gone with it). One statement means one lock,
    one NOTIFY and one round trip; a head row without a position takes that of the event appended
    at its version (see heads.to_write), so the head and the events it folds commit together. `keys`
    is a WITH query (eventkit.keystore.KeyStore.creating, on APPENDED) storing the new users' keys
    in the same statement.

    In autocommit mode the statement is a transaction of its own: its trigger takes the append lock
    and holds it to the commit, so positions stay in commit order with no statement before it.
    """
    if not appends:
        if heads:  # refolded heads, nothing appended: their positions are known
            conn.execute(
                f"WITH {APPENDED} AS ({_NOTHING_APPENDED}), heads AS ({_WRITE_HEADS}) SELECT", [json.dumps(heads)]
            )
        return lambda: Inserted([], 0.0)
    statement, params = _append_statement(_INSERT, appends, schema_version, heads, keys)
    cursor = conn.execute(statement, params)

    def inserted() -> Inserted:
        rows = cursor.fetchall()
        # The statement trigger takes the append lock before the first row is formed, so the first
        # row's time is that wait plus one row's work (when the caller did not take the lock before).
        return Inserted(_recorded_appends(appends, schema_version, rows), float(min(row[4] for row in rows)))

    return inserted


def insert_unless_retried(
    conn: psycopg.Connection[Any],
    appends: list[tuple[NewEvent, dict[str, object]]],
    schema_version: int,
    keys: tuple[sql.Composable, list[Any]] | None = None,
) -> Inserted:
    """Appends the events whose request id is not in the store yet (new streams only), in one round trip.

    Returns the events appended, in the order given; an event left out is a retry, to be answered
    from its first attempt. The lock is taken by a statement before the INSERT, whose snapshot (read
    committed: one per statement) is therefore taken after it: no writer can store one of these
    request ids unseen in between, so a retry is left out and never collides in the unique index,
    which would use up positions. Needs an autocommit connection.

    Why one query string of two statements (client-side parameters, simple query protocol): it is
    one implicit transaction sent as one message, so no wait on this side (the GIL, the scheduler)
    can fall between the lock and the INSERT and hold the lock open; pipelined statements left the
    session "idle in transaction" for most of the time the lock was held.
    """
    statement, params = _append_statement(_INSERT_UNLESS_RETRIED, appends, schema_version, None, keys)
    cursor = psycopg.ClientCursor(conn)
    cursor.execute(sql.SQL("{}; {}").format(sql.SQL(_LOCK), statement), params)
    waited = cursor.fetchone()
    cursor.nextset()
    return Inserted(_recorded_appends(appends, schema_version, cursor.fetchall()), float(waited[0]) if waited else 0.0)


def _append_statement(
    insert_query: str,
    appends: list[tuple[NewEvent, dict[str, object]]],
    schema_version: int,
    heads: list[dict[str, object]] | None,
    keys: tuple[sql.Composable, list[Any]] | None,
) -> tuple[sql.SQL | sql.Composed, list[Any]]:
    """Returns the statement appending `appends` with `insert_query`, with the WITH queries writing heads and keys."""
    # The whole batch travels as ONE json parameter: one C-speed json.dumps instead of adapting six
    # arrays value by value, which was the appender's largest cost in Python.
    batch = json.dumps(
        [
            {
                "s": event.stream_id,
                "v": event.version,
                "t": event.type,
                "d": event.data,
                "m": meta,
                "r": meta.get("request_id"),
            }
            for event, meta in appends
        ]
    )
    if not heads and not keys:
        return sql.SQL(insert_query), [schema_version, batch]
    # Data-modifying WITH queries run once whether or not the outer query reads them; parameters
    # follow the order of the queries in the statement.
    withs: list[sql.Composable] = [sql.SQL(f"{APPENDED} AS ({insert_query})")]
    params: list[Any] = [schema_version, batch]
    if keys:
        withs.append(keys[0])
        params += keys[1]
    if heads:
        withs.append(sql.SQL(f"heads AS ({_WRITE_HEADS})"))
        params.append(json.dumps(heads))
    return sql.SQL("WITH {} SELECT * FROM {}").format(sql.SQL(", ").join(withs), sql.Identifier(APPENDED)), params


def _recorded_appends(
    appends: list[tuple[NewEvent, dict[str, object]]], schema_version: int, rows: list[tuple[Any, ...]]
) -> list[RecordedEvent]:
    """Returns the appends that `rows` (the INSERT's RETURNING) recorded, as recorded, in the order given."""
    stored = {(stream, version): (position, time) for stream, version, position, time, _ in rows}
    recorded = []
    for event, meta in appends:
        found = stored.get((event.stream_id, event.version))
        if found is not None:
            recorded.append(
                RecordedEvent(
                    found[0], event.stream_id, event.version, event.type, event.data, found[1], meta, schema_version
                )
            )
    return recorded


# The WITH query the append statement names its INSERT: the keys and heads written beside it join it.
APPENDED = "appended"

_INSERT = f"""
    INSERT INTO events (stream_id, version, type, schema_version, data, metadata, request_id)
    SELECT s, v, t, %s, d, m, r FROM jsonb_to_recordset(%s::jsonb)
        AS batch(s uuid, v bigint, t text, d jsonb, m jsonb, r uuid)
    RETURNING stream_id::text, version, position, record_time, {_WAITED} AS waited
"""

# A row whose request id is stored already is left out before the INSERT forms it: it takes no
# position (an identity value used by a row that is not inserted is not given back). LATERAL with
# LIMIT: one probe of the request-id index per row, never a hashed scan of the whole table.
_INSERT_UNLESS_RETRIED = f"""
    INSERT INTO events (stream_id, version, type, schema_version, data, metadata, request_id)
    SELECT s, v, t, %s, d, m, r FROM jsonb_to_recordset(%s::jsonb)
        AS batch(s uuid, v bigint, t text, d jsonb, m jsonb, r uuid)
    LEFT JOIN LATERAL (SELECT true AS found FROM events stored WHERE stored.request_id = batch.r LIMIT 1) seen ON true
    WHERE seen.found IS NULL
    RETURNING stream_id::text, version, position, record_time, {_WAITED} AS waited
"""

_NOTHING_APPENDED = "SELECT NULL::text AS stream_id, NULL::bigint AS version, NULL::bigint AS position WHERE false"

# Heads as the batch leaves them; a row without a position takes the one its version was appended at.
_WRITE_HEADS = """
    INSERT INTO stream_heads (
        stream_id, version, position, deleted, forgotten, forgotten_version, keyed, create_time, checksum
    )
    SELECT h.s, h.v, coalesce(h.p, a.position), h.d, h.f, h.fv, h.k, h.c, h.x
    FROM jsonb_to_recordset(%s::jsonb)
        AS h(s uuid, v bigint, p bigint, d boolean, f boolean, fv bigint, k boolean, c timestamptz, x text)
    LEFT JOIN appended a ON a.stream_id = h.s::text AND a.version = h.v
    ON CONFLICT (stream_id) DO UPDATE SET
        version = excluded.version, position = excluded.position, deleted = excluded.deleted,
        forgotten = excluded.forgotten, forgotten_version = excluded.forgotten_version,
        keyed = excluded.keyed, create_time = excluded.create_time, checksum = excluded.checksum
"""
