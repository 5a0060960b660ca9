"""All SQL of the command service: the append transaction's statements against the event store."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import psycopg

from command_service.domain import NewEvent
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


def lock_and_load(
    conn: psycopg.Connection[Any], stream_ids: Iterable[str], request_ids: Iterable[str]
) -> tuple[dict[str, list[RecordedEvent]], dict[str, RecordedEvent]]:
    """Takes the append lock, then reads the given streams and the events of the given request ids.

    The lock is the one the table's insert trigger takes (see 0001_events.sql), taken first so the
    reads see every committed event they decide on and no other writer can append between those
    reads and this transaction's commit. The three statements travel in one round trip (pipeline).
    """
    streams_ids, requests = sorted(set(stream_ids)), sorted(set(request_ids))
    with conn.pipeline():
        conn.execute("SELECT pg_advisory_xact_lock('events'::regclass::oid::bigint)")
        by_stream = (
            conn.execute(
                f"SELECT {_COLUMNS} FROM events WHERE stream_id = ANY(%s::uuid[]) ORDER BY stream_id, version",
                [streams_ids],
            )
            if streams_ids
            else None
        )
        by_request = (
            conn.execute(
                f"SELECT request_id::text, {_COLUMNS} FROM events WHERE request_id = ANY(%s::uuid[])", [requests]
            )
            if requests
            else None
        )
    streams: dict[str, list[RecordedEvent]] = {stream: [] for stream in streams_ids}
    for row in by_stream.fetchall() if by_stream else ():
        event = _recorded(row)
        streams[event.stream_id].append(event)
    earlier = {row[0]: _recorded(row[1:]) for row in by_request.fetchall()} if by_request else {}
    return streams, earlier


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


def insert(conn: psycopg.Connection[Any], appends: list[tuple[NewEvent, dict[str, object]]]) -> list[RecordedEvent]:
    """Appends the events in one statement (one lock, one NOTIFY) and returns them as recorded.

    In autocommit mode the statement is a transaction of its own: its trigger takes the append lock
    and holds it to the commit, so positions stay in commit order with no statement before it.
    """
    if not appends:
        return []
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
    rows = conn.execute(
        """
        INSERT INTO events (stream_id, version, type, data, metadata, request_id)
        SELECT s, v, t, d, m, r FROM jsonb_to_recordset(%s::jsonb)
            AS batch(s uuid, v bigint, t text, d jsonb, m jsonb, r uuid)
        RETURNING stream_id::text, version, position, record_time
        """,
        [batch],
    )
    stored = {(stream, version): (position, time) for stream, version, position, time in rows}
    recorded = []
    for event, meta in appends:
        position, record_time = stored[(event.stream_id, event.version)]
        recorded.append(
            RecordedEvent(position, event.stream_id, event.version, event.type, event.data, record_time, meta)
        )
    return recorded
