"""The projector's SQL on the read model: a batch's rows, the checkpoint, skips (reads: events_sql; leadership: status_sql; the rebuild's: rebuild_sql)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import psycopg
from psycopg import postgres, pq, sql
from psycopg.adapt import Dumper

from eventkit.channels import PROJECTED_CHANNEL
from eventkit.namekey import name_key
from eventkit.rows import LogRow, UserRow
from projector_service.fold import Plan

Conn = psycopg.Connection[Any]


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
