"""The projector's SQL: event-store reads, read-model writes, checkpoint, leadership, status (the rebuild's: rebuild_sql)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, NamedTuple

import psycopg
from psycopg import postgres, pq, sql
from psycopg.adapt import Dumper

from eventkit.channels import EVENTS_CHANNEL, PROJECTED_CHANNEL
from eventkit.codec import NO_METADATA, RecordedEvent
from eventkit.correlation import METADATA_KEY
from eventkit.namekey import name_key
from eventkit.rows import LogRow, UserRow
from eventkit.sealing import SEALED_FIELD
from projector_service.fold import Plan

Conn = psycopg.Connection[Any]


# --- the event store -------------------------------------------------------------------------


def read_events(
    conn: Conn, after: int, limit: int, upto: int | None = None, share: Share | None = None
) -> list[RecordedEvent]:
    """Returns up to `limit` events after position `after` (and at most `upto`; of one share's users), in position order.

    An event's data comes back holding only what the fold reads: its name in clear, or sealed.
    PostgreSQL picks them out of the JSON (a value that is not a string counts as absent, which is
    what the fold would make of it), so this process never parses a document: that was a third of
    its work per event. Results come in binary, which costs less to load than text.
    """
    bound = "AND position <= %s" if upto is not None else ""
    params: list[object] = [after, upto] if upto is not None else [after]
    if share is not None:
        bound += " AND (hashtext(stream_id::text) & 2147483647) %% %s = %s"
        params += [share.shares, share.number]
    params.append(limit)
    rows = (
        conn.cursor(binary=True)
        .execute(
            f"SELECT position, stream_id::text, version, type, {_NAME_FIELDS}, record_time, metadata->>%s,"
            f" schema_version FROM events WHERE position > %s {bound} ORDER BY position LIMIT %s",
            [METADATA_KEY, *params],
        )
        .fetchall()
    )
    return [
        RecordedEvent(
            p,
            stream,
            version,
            kind,
            _data(name, sealed),
            at,
            {METADATA_KEY: cid} if cid else NO_METADATA,
            schema_version,
        )
        for p, stream, version, kind, name, sealed, at, cid, schema_version in rows
    ]


def _data(name: str | None, sealed: str | None) -> dict[str, str]:
    if sealed is None:
        return {} if name is None else {"name": name}
    return {SEALED_FIELD: sealed} if name is None else {"name": name, SEALED_FIELD: sealed}


class Share(NamedTuple):
    """Share `number` of `shares` shares of the users, chosen by a hash of their ids (the rebuild folds one at a time)."""

    shares: int
    number: int


# The two data fields the fold reads, each as text when it holds a string and NULL otherwise.
_NAME_FIELDS = ", ".join(
    f"CASE WHEN jsonb_typeof(data->'{field}') = 'string' THEN data->>'{field}' END" for field in ("name", SEALED_FIELD)
)


def lag(conn: Conn, after: int) -> tuple[int, int, float]:
    """Returns (head position, events after `after`, seconds the oldest of them has waited)."""
    row = conn.execute(
        "SELECT (SELECT coalesce(max(position), 0) FROM events), count(*),"
        " coalesce(extract(epoch FROM now() - min(record_time)), 0)::float8 FROM events WHERE position > %s",
        [after],
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), float(row[2])


class Sample(NamedTuple):
    """The event store as the projector's metrics see it after a checkpoint."""

    head: int
    lag_seconds: float
    notification_queue_usage: float


def sample(conn: Conn, after: int) -> Sample:
    """Returns the store's head, how long the first event after `after` has waited, and the NOTIFY queue's use.

    Two index lookups, no count: cheap enough to run at every heartbeat whatever the lag.
    """
    row = conn.execute(
        "SELECT (SELECT coalesce(max(position), 0) FROM events),"
        " coalesce((SELECT extract(epoch FROM now() - record_time)::float8 FROM events WHERE position > %s"
        " ORDER BY position LIMIT 1), 0), pg_notification_queue_usage()",
        [after],
    ).fetchone()
    assert row is not None
    return Sample(int(row[0]), float(row[1]), float(row[2]))


def listen(conn: Conn) -> None:
    """Subscribes an autocommit connection to the event store's wake-up channel."""
    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(EVENTS_CHANNEL)))


def name_session(conn: Conn, name: str) -> None:
    """Labels the session in pg_stat_activity, so operators (and `status`) can tell what it is."""
    conn.execute("SELECT set_config('application_name', %s, false)", [name[:63]])


# --- the read model: one batch ---------------------------------------------------------------


def ensure_rows(conn: Conn, name: str) -> None:
    """Creates the projection's checkpoint and status rows if they are missing."""
    with conn.transaction():
        conn.execute("INSERT INTO projection_checkpoint (name) VALUES (%s) ON CONFLICT DO NOTHING", [name])
        conn.execute("INSERT INTO projector_status (name) VALUES (%s) ON CONFLICT DO NOTHING", [name])


def checkpoint(conn: Conn, name: str) -> tuple[int, int]:
    """Returns (position, skipped_unknown) of the projection's checkpoint."""
    row = conn.execute("SELECT position, skipped_unknown FROM projection_checkpoint WHERE name = %s", [name]).fetchone()
    if row is None:
        raise LookupError(f"no checkpoint row for projection {name!r}")
    return int(row[0]), int(row[1])


def lock_checkpoint(conn: Conn, name: str) -> int:
    """Locks the checkpoint row for this transaction and returns its position (the compare of compare-and-set).

    Taken first in every batch, before any read-model table, so batches and the rebuild's switch
    lock in one order and never deadlock.
    """
    row = conn.execute("SELECT position FROM projection_checkpoint WHERE name = %s FOR UPDATE", [name]).fetchone()
    if row is None:
        raise LookupError(f"no checkpoint row for projection {name!r}")
    return int(row[0])


def load_users(conn: Conn, ids: set[str]) -> dict[str, UserRow]:
    """Returns the current rows of these users (absent ids are not in the read model)."""
    if not ids:
        return {}
    rows = conn.execute(
        f"SELECT id::text, name, version, create_time, update_time, position FROM users WHERE id = ANY({_IDS})",
        [_ids(ids)],
        binary=True,
    ).fetchall()  # all at once: a cursor iterated row by row costs several times as much
    return {row[0]: UserRow._make(row) for row in rows}


# User ids travel as one comma-separated string that PostgreSQL splits: adapting a Python list
# to an array costs this process a few microseconds an element, and a batch may load thousands.
_IDS = "string_to_array(%s, ',')::uuid[]"


def _ids(ids: Iterable[str]) -> str:
    return ",".join(ids)


def write_plan(conn: Conn, name: str, plan: Plan) -> None:
    """Writes a batch's changes, moves the (locked) checkpoint and notifies, inside the caller's transaction.

    Rows travel by binary COPY: new users straight into `users` (half the cost of a merge), the
    others into a session's temporary table, then one merge into `users`; log rows straight into
    `event_log`. The checkpoint's compare-and-set stays in the same
    transaction (the caller's): a process killed mid-COPY leaves nothing behind.
    """
    write_users(conn, plan)
    if plan.log:
        copy_log(conn, plan.log)
    if plan.forgotten:
        erase_names(conn, plan.forgotten)
    conn.execute(
        "UPDATE projection_checkpoint SET position = %s, event_time = coalesce(%s, event_time), updated_time = now(),"
        " skipped_unknown = skipped_unknown + %s WHERE name = %s",
        [plan.position, plan.event_time, plan.skipped_unknown, name],
    )
    if plan.skipped_operator:
        conn.execute(
            "UPDATE projector_status SET skipped_operator = skipped_operator + %s WHERE name = %s",
            [plan.skipped_operator, name],
        )
    notify_projected(conn, plan.position)


def write_users(conn: Conn, plan: Plan) -> None:
    """Writes a plan's user rows (deletions, then new users by COPY and the others by one merge) in the caller's transaction."""
    if plan.deletes:
        conn.execute(f"DELETE FROM users WHERE id = ANY({_IDS})", [_ids(plan.deletes)])
    created = [row for row in plan.upserts if row.id in plan.created]
    merged = [row for row in plan.upserts if row.id not in plan.created]
    if created:
        try:
            # A savepoint: should one of these rows exist after all (a second UserAdded written out
            # of band), every row goes through the merge instead, as it did before this shortcut.
            with conn.transaction():
                _copy_users(conn, "users", created)
        except psycopg.errors.UniqueViolation:
            merged = plan.upserts
    if merged:
        _merge_users(conn, merged)


def erase_names(conn: Conn, users: Sequence[str]) -> None:
    """Erases the names of every log row of these (forgotten) users.

    Forgetting reaches back: every earlier log row of these users loses its name. (The old row
    versions stay in the table's files until VACUUM reclaims them; see README: Forgetting.)
    """
    conn.execute(
        f"UPDATE event_log SET name = '', forgotten = true WHERE user_id = ANY({_IDS}) AND NOT forgotten",
        [_ids(users)],
    )


def _copy_users(conn: Conn, table: str, rows: Iterable[UserRow]) -> None:
    with _binary_copy(conn, table, _USER_COLUMNS) as copy:
        for u in rows:
            # name_key is what ListUsers' prefix search compares: the same function computes the prefix's key.
            copy.write_row((u.id, u.name, name_key(u.name), u.version, u.create_time, u.update_time, u.position))


def _merge_users(conn: Conn, rows: Sequence[UserRow]) -> None:
    """Inserts or updates users through a session's temporary table: one INSERT ... ON CONFLICT for all of them."""
    conn.execute(
        "CREATE TEMPORARY TABLE IF NOT EXISTS incoming_users (id uuid, name text, name_key text, version int8,"
        " create_time timestamptz, update_time timestamptz, position int8) ON COMMIT DELETE ROWS"
    )
    _copy_users(conn, "incoming_users", rows)
    conn.execute(
        "INSERT INTO users (id, name, name_key, version, create_time, update_time, position)"
        " SELECT id, name, name_key, version, create_time, update_time, position FROM incoming_users"
        " ON CONFLICT (id) DO UPDATE SET name = excluded.name, name_key = excluded.name_key,"
        " version = excluded.version, create_time = excluded.create_time, update_time = excluded.update_time,"
        " position = excluded.position"
    )


def copy_log(conn: Conn, log: Sequence[LogRow]) -> None:
    """Appends rows to the read-side event log by binary COPY (a LogRow's fields are the columns, in order)."""
    with _binary_copy(conn, "event_log", _LOG_COLUMNS) as copy:
        for row in log:
            copy.write_row(row)


# (column, PostgreSQL type) of the rows each COPY sends; the types let them travel in binary.
_USER_COLUMNS = (
    ("id", "uuid"),
    ("name", "text"),
    ("name_key", "text"),
    ("version", "int8"),
    ("create_time", "timestamptz"),
    ("update_time", "timestamptz"),
    ("position", "int8"),
)
_LOG_COLUMNS = tuple(
    zip(LogRow._fields, ("int8", "int2", "uuid", "int8", "text", "timestamptz", "text", "bool"), strict=True)
)


class _TextUuidBinaryDumper(Dumper):
    """Sends a uuid this process holds as text (as it keeps every id) in PostgreSQL's binary form."""

    format = pq.Format.BINARY
    oid = postgres.types["uuid"].oid

    def dump(self, obj: str) -> bytes:
        return bytes.fromhex(obj.replace("-", ""))


@contextlib.contextmanager
def _binary_copy(conn: Conn, table: str, columns: Sequence[tuple[str, str]]) -> Iterator[psycopg.Copy]:
    """Opens a binary COPY into `table`: about a sixth of text COPY's cost for a timestamp, the bulk of a row's.

    Binary COPY needs each column's type up front; uuids travel through the dumper above (by type
    only, on this cursor alone: nothing else this connection sends changes).
    """
    cursor = conn.cursor()
    cursor.adapters.register_dumper(None, _TextUuidBinaryDumper)
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        sql.Identifier(table), sql.SQL(", ").join(sql.Identifier(column) for column, _ in columns)
    )
    with cursor.copy(statement) as copy:
        copy.set_types([kind for _, kind in columns])
        yield copy


def notify_projected(conn: Conn, position: int) -> None:
    """Tells the query service (at commit) how far the read model now reaches."""
    conn.execute("SELECT pg_notify(%s, %s)", [PROJECTED_CHANNEL, str(position)])


def operator_skips(conn: Conn, schema: str, name: str, after: int, upto: int) -> set[int]:
    """Returns the positions in (after, upto] an operator asked to skip (read from the live schema)."""
    query = sql.SQL("SELECT position FROM {}.projector_skip WHERE name = %s AND position > %s AND position <= %s")
    rows = conn.execute(query.format(sql.Identifier(schema)), [name, after, upto])
    return {int(row[0]) for row in rows}


def add_skip(conn: Conn, name: str, position: int, reason: str) -> bool:
    """Records an operator's skip; returns False when that position was already skipped."""
    cur = conn.execute(
        "INSERT INTO projector_skip (name, position, reason) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
        [name, position, reason],
    )
    return cur.rowcount == 1


# --- leadership and status -------------------------------------------------------------------


def try_lock(conn: Conn, key: str) -> bool:
    """Tries to take the session-level advisory lock named `key`."""
    row = conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", [key]).fetchone()
    return bool(row and row[0])


def lock_holder(conn: Conn, key: str) -> str | None:
    """Returns the application_name of the session holding the advisory lock `key`, or None."""
    row = conn.execute(
        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
        " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1"
        " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        " AND l.classid::int8 = (hashtext(%s)::int8 >> 32) & 4294967295"
        " AND l.objid::int8 = hashtext(%s)::int8 & 4294967295",
        [key, key],
    ).fetchone()
    return row[0] if row else None


def heartbeat(conn: Conn, name: str, leader: str, first: bool = False) -> None:
    """Marks the leader alive (on the lock's own connection, so it also proves the lock is held)."""
    since = ", leader_since = now()" if first else ""
    conn.execute(
        f"UPDATE projector_status SET leader = %s, heartbeat_time = now(){since} WHERE name = %s",
        [leader, name],
    )


def record_store_head(lock: Conn, reader: Conn, name: str) -> None:
    """Records the event store's head and a read-model time taken before reading it (for StreamEvents' range check)."""
    # The time first, then the head: every event committed before that time is at or below the head.
    row = lock.execute("SELECT now()").fetchone()
    head = reader.execute("SELECT coalesce(max(position), 0) FROM events").fetchone()
    assert row is not None and head is not None
    lock.execute(
        "UPDATE projector_status SET store_head = %s, store_head_time = %s WHERE name = %s", [head[0], row[0], name]
    )


def record_stall(conn: Conn, name: str, position: int | None, error: str) -> None:
    """Records why the projector cannot advance (position None: not an event's fault, e.g. a lost database)."""
    conn.execute(
        "UPDATE projector_status SET stalled_position = %s, last_error = %s, last_error_time = now() WHERE name = %s",
        [position, error[:2000], name],
    )


def clear_stall(conn: Conn, name: str) -> None:
    """Marks the projector as advancing again (the last error stays for `status`)."""
    conn.execute(
        "UPDATE projector_status SET stalled_position = NULL WHERE name = %s AND stalled_position IS NOT NULL", [name]
    )


def status(conn: Conn, name: str) -> dict[str, Any] | None:
    """Returns the projection's checkpoint and status columns, or None before the first run."""
    cur = conn.execute(
        "SELECT c.position, c.event_time, c.updated_time, c.skipped_unknown, s.leader, s.leader_since,"
        " s.heartbeat_time, extract(epoch FROM now() - s.heartbeat_time)::float8 AS heartbeat_age,"
        " s.stalled_position, s.last_error, s.last_error_time, s.skipped_operator"
        " FROM projection_checkpoint c LEFT JOIN projector_status s USING (name) WHERE c.name = %s",
        [name],
    )
    row = cur.fetchone()
    if row is None:
        return None
    return {col.name: value for col, value in zip(cur.description or [], row)}
