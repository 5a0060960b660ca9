"""All SQL of the command service: the append transaction's statements against the event store."""

from __future__ import annotations

from typing import Any, Iterable

import psycopg
from psycopg.types.json import Jsonb

from command_service.domain import NewEvent
from eventkit.codec import RecordedEvent

_COLUMNS = "position, stream_id::text, version, type, data, record_time, metadata, schema_version"


def _recorded(row: tuple[Any, ...]) -> RecordedEvent:
    return RecordedEvent(*row)


def lock(conn: psycopg.Connection[Any]) -> None:
    """Takes the append lock (the same one the table's insert trigger takes, see 0001_events.sql).

    Taken first, so the reads below see every committed event of the streams they decide on, and
    no other writer can append between those reads and this transaction's commit.
    """
    conn.execute("SELECT pg_advisory_xact_lock('events'::regclass::oid::bigint)")


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


def load_requests(conn: psycopg.Connection[Any], request_ids: Iterable[str]) -> dict[str, RecordedEvent]:
    """Returns the events already appended for any of these request ids."""
    ids = sorted(set(request_ids))
    if not ids:
        return {}
    rows = conn.execute(
        f"SELECT request_id::text, {_COLUMNS} FROM events WHERE request_id = ANY(%s::uuid[])", [ids]
    )
    return {row[0]: _recorded(row[1:]) for row in rows}


def insert(conn: psycopg.Connection[Any], appends: list[tuple[NewEvent, dict[str, object]]]) -> list[RecordedEvent]:
    """Appends the events in one statement (one lock, one NOTIFY) and returns them as recorded."""
    if not appends:
        return []
    rows = conn.execute(
        f"""
        INSERT INTO events (stream_id, version, type, data, metadata, request_id)
        SELECT * FROM unnest(%s::uuid[], %s::bigint[], %s::text[], %s::jsonb[], %s::jsonb[], %s::uuid[])
        RETURNING {_COLUMNS}
        """,
        [
            [event.stream_id for event, _ in appends],
            [event.version for event, _ in appends],
            [event.type for event, _ in appends],
            [Jsonb(event.data) for event, _ in appends],
            [Jsonb(meta) for _, meta in appends],
            [meta.get("request_id") for _, meta in appends],
        ],
    )
    return [_recorded(row) for row in rows]
