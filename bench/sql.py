"""All SQL of the benchmark: the raw reference table, seeding the store, reading progress and checks."""

from __future__ import annotations

import base64
import os
import time
import uuid
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

# A fixed stand-in for the command's sha256 fingerprint, so raw rows are as wide as real ones.
_FINGERPRINT = "0" * 64

RAW_TABLE = """
CREATE TABLE IF NOT EXISTS raw_events (
    position    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    stream_id   uuid        NOT NULL,
    version     bigint      NOT NULL,
    type        text        NOT NULL,
    data        jsonb       NOT NULL,
    metadata    jsonb       NOT NULL DEFAULT '{}'::jsonb,
    request_id  uuid,
    record_time timestamptz NOT NULL DEFAULT statement_timestamp(),
    UNIQUE (stream_id, version)
);
CREATE UNIQUE INDEX IF NOT EXISTS raw_events_request_id_key ON raw_events (request_id) WHERE request_id IS NOT NULL;
"""


def create_raw_table(dsn: str) -> None:
    """Creates the raw reference table: the events table's columns and indexes, no lock, no trigger."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(RAW_TABLE)


def raw_insert(conn: psycopg.Connection[Any], stream_id: str, name: str) -> None:
    """Inserts one event-sized row in its own (autocommit) transaction."""
    conn.execute(
        "INSERT INTO raw_events (stream_id, version, type, data, metadata) VALUES (%s, 1, 'UserAdded', %s, %s)",
        [stream_id, Jsonb({"name": name}), Jsonb({"fingerprint": _FINGERPRINT, "command": "AddUser"})],
    )


def read_all(dsn: str, schema: str, batch: int) -> dict[str, float]:
    """Reads every event of the store in position order, `batch` rows a query; returns the count and seconds."""
    events, last = 0, 0
    query = sql.SQL(
        "SELECT position, stream_id, version, type, data, metadata, record_time FROM {}.events"
        " WHERE position > %s ORDER BY position LIMIT %s"
    ).format(sql.Identifier(schema))
    with psycopg.connect(dsn) as conn:
        started = time.perf_counter()
        while True:
            rows = conn.execute(query, [last, batch]).fetchall()
            conn.commit()
            if not rows:
                break
            events += len(rows)
            last = rows[-1][0]
        seconds = time.perf_counter() - started
    return {"events": events, "seconds": seconds}


def seed_events(dsn: str, schema: str, users: int, edits_per_user: int, chunk: int = 10_000) -> int:
    """Appends `users` UserAdded events and `edits_per_user` UserEdited events each, in bulk; returns the count.

    The rows go through the events table's own lock and NOTIFY triggers (one per statement); names are
    hash-derived so that name order is unrelated to position order, as it is for real users.
    """
    add = sql.SQL(
        "INSERT INTO {}.events (stream_id, version, type, data, metadata)"
        " SELECT md5('bench' || i)::uuid, 1, 'UserAdded',"
        "        jsonb_build_object('name', 'user ' || substr(md5('name' || i), 1, 12)),"
        "        jsonb_build_object('fingerprint', md5('f' || i) || md5('g' || i), 'command', 'AddUser')"
        " FROM generate_series(%s::bigint, %s::bigint) AS i"
    ).format(sql.Identifier(schema))
    edit = sql.SQL(
        "INSERT INTO {}.events (stream_id, version, type, data, metadata)"
        " SELECT md5('bench' || i)::uuid, %s, 'UserEdited',"
        "        jsonb_build_object('name', 'user ' || substr(md5('edit' || %s || i), 1, 12)),"
        "        jsonb_build_object('fingerprint', md5('e' || i) || md5('h' || i), 'command', 'EditUser')"
        " FROM generate_series(%s::bigint, %s::bigint) AS i"
    ).format(sql.Identifier(schema))
    with psycopg.connect(dsn, autocommit=True) as conn:
        for first in range(1, users + 1, chunk):
            last = min(first + chunk - 1, users)
            conn.execute(add, [first, last])
            for version in range(2, edits_per_user + 2):
                conn.execute(edit, [version, version, first, last])
    return users * (1 + edits_per_user)


def max_position(dsn: str, schema: str = "event_store") -> int:
    """Returns the store's highest position (0 when empty)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        query = sql.SQL("SELECT coalesce(max(position), 0) FROM {}.events").format(sql.Identifier(schema))
        return conn.execute(query).fetchone()[0]


def checkpoint(conn: psycopg.Connection[Any], schema: str, name: str) -> int:
    """Returns a projection's checkpoint in the read model (0 when it has none yet or no table)."""
    try:
        row = conn.execute(
            sql.SQL("SELECT position FROM {}.projection_checkpoint WHERE name = %s").format(sql.Identifier(schema)),
            [name],
        ).fetchone()
    except (psycopg.errors.UndefinedTable, psycopg.errors.InvalidSchemaName):
        return 0
    return row[0] if row else 0


def user_ids(dsn: str, schema: str, limit: int) -> list[str]:
    """Returns up to `limit` user ids from the read model, in no particular order."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        query = sql.SQL("SELECT id::text FROM {}.users LIMIT %s").format(sql.Identifier(schema))
        return [row[0] for row in conn.execute(query, [limit])]


def order_violations(dsn: str, schema: str = "event_store") -> int:
    """Counts events whose record time is earlier than the event before them (0 when appends are serialised)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        query = sql.SQL(
            "SELECT count(*) FROM (SELECT record_time < lag(record_time) OVER (ORDER BY position) AS back"
            " FROM {}.events) AS t WHERE back"
        ).format(sql.Identifier(schema))
        return conn.execute(query).fetchone()[0]


def events_of_request(dsn: str, request_id: str, schema: str = "event_store") -> int:
    """Counts the events appended for one request id."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        query = sql.SQL("SELECT count(*) FROM {}.events WHERE request_id = %s").format(sql.Identifier(schema))
        return conn.execute(query, [request_id]).fetchone()[0]


def server_settings(dsn: str) -> dict[str, str]:
    """Returns the durability settings and version of the server, for the report."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        names = [
            "server_version",
            "fsync",
            "synchronous_commit",
            "full_page_writes",
            "wal_sync_method",
            "shared_buffers",
        ]
        return {name: conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(name))).fetchone()[0] for name in names}


def seed_streams(dsn: str, users: int, events_per_user: int, schema: str = "event_store") -> list[str]:
    """Appends `users` new streams of `events_per_user` events each (UserAdded, then UserEdited) in bulk; returns their ids."""
    query = sql.SQL(
        "INSERT INTO {}.events (stream_id, version, type, data, metadata)"
        " SELECT u.id, v, CASE WHEN v = 1 THEN 'UserAdded' ELSE 'UserEdited' END,"
        "        jsonb_build_object('name', 'user ' || v), '{{\"command\": \"bulk\"}}'::jsonb"
        " FROM unnest(%s::uuid[]) AS u(id), generate_series(1, %s::bigint) AS v ORDER BY v, u.id"
    ).format(sql.Identifier(schema))
    ids = [str(uuid.uuid4()) for _ in range(users)]
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(query, [ids, events_per_user])
    return ids


def stream_lengths(dsn: str, ids: list[str], schema: str = "event_store") -> tuple[int, int]:
    """Returns the shortest and longest of these streams, in events."""
    query = sql.SQL(
        "SELECT min(n), max(n) FROM (SELECT count(*) AS n FROM {}.events WHERE stream_id = ANY(%s::uuid[])"
        " GROUP BY stream_id) AS t"
    ).format(sql.Identifier(schema))
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(query, [ids]).fetchone()
    return (int(row[0]), int(row[1])) if row and row[0] is not None else (0, 0)


def copy_events(
    dsn: str, events: int, per_user: int = 10, chunk_users: int = 10_000, schema: str = "event_store"
) -> int:
    """Writes `events` events with COPY (never through the API), `per_user` per user, interleaved; returns the count.

    Rows look like the service's own: a sealed name (schema version 2), a fingerprint, a command,
    a correlation id and a request id on every event (the request-id index at its largest); a
    user's events are spread over `chunk_users * per_user` positions, as concurrent users' are.
    """
    copy = sql.SQL(
        "COPY {}.events (stream_id, version, type, schema_version, data, metadata, request_id) FROM STDIN"
    ).format(sql.Identifier(schema))
    written = 0
    with psycopg.connect(dsn, autocommit=True) as conn:
        while written < events:
            users = min(chunk_users, -(-(events - written) // per_user))
            ids = os.urandom(16 * users).hex()
            lines = []
            for version in range(1, per_user + 1):
                kind, command = ("UserAdded", "AddUser") if version == 1 else ("UserEdited", "EditUser")
                requests = os.urandom(16 * users).hex()
                sealed = base64.b64encode(os.urandom(48 * users)).decode()
                for i in range(users):
                    if written + len(lines) >= events:
                        break
                    request, name = requests[32 * i : 32 * i + 32], sealed[64 * i : 64 * i + 64]
                    lines.append(
                        f'{ids[32 * i : 32 * i + 32]}\t{version}\t{kind}\t2\t{{"sealed_name": "{name}"}}\t'
                        f'{{"command": "{command}", "fingerprint": "hmac:{request}{request}", '
                        f'"correlation_id": "{request}", "request_id": "{request}"}}\t{request}\n'
                    )
            with conn.transaction(), conn.cursor().copy(copy) as writer:
                writer.write("".join(lines))
            written += len(lines)
    return written


def relation_sizes(dsn: str, schema: str = "event_store") -> dict[str, int]:
    """Returns the bytes of the events table (heap and TOAST) and of each of its indexes."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        table = f"{schema}.events"
        sizes = {"table": conn.execute("SELECT pg_table_size(%s::regclass)", [table]).fetchone()[0]}
        rows = conn.execute(
            "SELECT indexrelid::regclass::text, pg_relation_size(indexrelid) FROM pg_index WHERE indrelid = %s::regclass",
            [table],
        )
        sizes |= {name.rsplit(".", 1)[-1]: size for name, size in rows}
    return sizes
