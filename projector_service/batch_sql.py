"""A batch's writes to the read model: by binary COPY when it is large, in one round trip when it holds a few events.

Both ways make the same changes with the same statements, the checkpoint moving in the same
transaction; the one-trip way guards each of them by the locked checkpoint (commit_in_one_trip).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import psycopg
from psycopg import postgres, pq, sql
from psycopg.adapt import Dumper

from eventkit.channels import PROJECTED_CHANNEL
from eventkit.namekey import name_key
from eventkit.pipelined import pipelined
from eventkit.rows import LogRow, UserRow
from projector_service.fold import Plan
from projector_service.store import IDS, LOCK_CHECKPOINT, Conn, ids_text

# (column, PostgreSQL type) of the rows written; the types let them travel in binary (COPY) or as
# typed arrays (one trip).
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

# The statements both ways send, with named parameters (_params). Each ends in a WHERE clause but
# the notification, so the one-trip way adds its guard to them.
_DELETE_USERS = f"DELETE FROM users WHERE id = ANY({IDS})"
_UPSERT_USERS = "INSERT INTO users ({columns}) SELECT {source} ON CONFLICT (id) DO UPDATE SET " + ", ".join(
    f"{column} = excluded.{column}" for column, _ in _USER_COLUMNS[1:]
)
# Forgetting reaches back: every earlier log row of these users loses its name. (The old row
# versions stay in the table's files until VACUUM reclaims them; see README: Forgetting.)
_ERASE_NAMES = f"UPDATE event_log SET name = '', forgotten = true WHERE user_id = ANY({IDS}) AND NOT forgotten"
_COUNT_OPERATOR_SKIPS = (
    "UPDATE projector_status SET skipped_operator = skipped_operator + %(skipped_operator)s WHERE name = %(name)s"
)
_MOVE_CHECKPOINT = (
    "UPDATE projection_checkpoint SET position = %(position)s, event_time = coalesce(%(event_time)s, event_time),"
    " updated_time = now(), skipped_unknown = skipped_unknown + %(skipped_unknown)s WHERE name = %(name)s"
)
# Sent at commit: the query service learns how far the read model now reaches.
_NOTIFY = "SELECT pg_notify(%(channel)s, %(position)s::text)"


def _params(name: str, plan: Plan) -> dict[str, Any]:
    return {
        "name": name,
        "position": plan.position,
        "event_time": plan.event_time,
        "skipped_unknown": plan.skipped_unknown,
        "skipped_operator": plan.skipped_operator,
        "channel": PROJECTED_CHANNEL,
    }


def write_plan(conn: Conn, name: str, plan: Plan) -> None:
    """Writes a batch's changes, moves the (locked) checkpoint and notifies, inside the caller's transaction.

    Rows travel by binary COPY: new users straight into `users` (half the cost of a merge), the
    others into a session's temporary table, then one merge into `users`; log rows straight into
    `event_log`. The checkpoint's compare-and-set stays in the same
    transaction (the caller's): a process killed mid-COPY leaves nothing behind.
    """
    params = _params(name, plan)
    write_users(conn, plan)
    if plan.log:
        copy_log(conn, plan.log)
    if plan.forgotten:
        erase_names(conn, plan.forgotten)
    conn.execute(_MOVE_CHECKPOINT, params)
    if plan.skipped_operator:
        conn.execute(_COUNT_OPERATOR_SKIPS, params)
    conn.execute(_NOTIFY, params)


# A plan of at most this many rows (users, log rows, deletions) is written in one round trip
# (commit_in_one_trip); a larger one by COPY (write_plan), whose rows cost less each but whose
# statements wait for one another: about nine round trips a batch, which is what a batch of a few
# events is made of, and what held a live event's way to the read model.
ONE_TRIP_ROWS = 64


def fits_one_trip(plan: Plan) -> bool:
    """Tells whether a plan is small enough for commit_in_one_trip."""
    return len(plan.upserts) + len(plan.log) + len(plan.deletes) <= ONE_TRIP_ROWS


def commit_in_one_trip(conn: Conn, name: str, plan: Plan, expected: int) -> int:
    """Writes a small plan and moves the checkpoint from `expected`, all in one transaction sent at once; returns the checkpoint found.

    The statements travel in one pipeline with their BEGIN and COMMIT. The checkpoint row is locked
    first (the order every batch locks in), and each write that follows is guarded by that row
    still being at `expected`: the lock holds it there until the commit, so either every write
    applies or, when another projector moved the checkpoint, none does and the transaction commits
    nothing. The caller compares the position returned with `expected` (and raises Fenced). The
    connection must be in autocommit mode and outside any transaction.
    """
    guard = "EXISTS (SELECT FROM projection_checkpoint WHERE name = %(name)s AND position = %(expected)s)"
    params = {**_params(name, plan), "expected": expected}
    with pipelined(conn):
        locked = conn.execute(LOCK_CHECKPOINT, params)
        if plan.position != expected:
            if plan.deletes:
                conn.execute(f"{_DELETE_USERS} AND {guard}", {**params, "ids": ids_text(plan.deletes)})
            if plan.upserts:
                conn.execute(
                    _UPSERT_USERS.format(columns=_names(_USER_COLUMNS), source=f"* FROM {_unnest(_USER_COLUMNS)}")
                    + f" WHERE {guard}",
                    {**params, **_arrays(_USER_COLUMNS, [_user_values(row) for row in plan.upserts])},
                )
            if plan.log:
                conn.execute(
                    f"INSERT INTO event_log ({_names(_LOG_COLUMNS)}) SELECT * FROM {_unnest(_LOG_COLUMNS)} WHERE {guard}",
                    {**params, **_arrays(_LOG_COLUMNS, plan.log)},
                )
            if plan.forgotten:
                conn.execute(f"{_ERASE_NAMES} AND {guard}", {**params, "ids": ids_text(plan.forgotten)})
            if plan.skipped_operator:
                conn.execute(f"{_COUNT_OPERATOR_SKIPS} AND {guard}", params)
            conn.execute(f"{_NOTIFY} WHERE {guard}", params)
            # Last: the guards above read the checkpoint this moves.
            conn.execute(f"{_MOVE_CHECKPOINT} AND position = %(expected)s", params)
    row = locked.fetchone()
    if row is None:
        raise LookupError(f"no checkpoint row for projection {name!r}")
    return int(row[0])


def _names(columns: Sequence[tuple[str, str]]) -> str:
    return ", ".join(column for column, _ in columns)


def _unnest(columns: Sequence[tuple[str, str]]) -> str:
    """unnest() of one array parameter per column, named after the column and cast to its type."""
    return "unnest({})".format(", ".join(f"%(column_{column})s::{kind}[]" for column, kind in columns))


def _arrays(columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[Any]]) -> dict[str, list[Any]]:
    """Turns rows into one list per column, the parameters _unnest names."""
    return {f"column_{column}": [row[i] for row in rows] for i, (column, _) in enumerate(columns)}


def _user_values(u: UserRow) -> tuple[Any, ...]:
    """A user's row as _USER_COLUMNS lists them (name_key is what ListUsers' prefix search compares)."""
    return (u.id, u.name, name_key(u.name), u.version, u.create_time, u.update_time, u.position)


def write_users(conn: Conn, plan: Plan) -> None:
    """Writes a plan's user rows (deletions, then new users by COPY and the others by one merge) in the caller's transaction."""
    if plan.deletes:
        conn.execute(_DELETE_USERS, {"ids": ids_text(plan.deletes)})
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
    """Erases the names of every earlier log row of these (forgotten) users, in the caller's transaction."""
    conn.execute(_ERASE_NAMES, {"ids": ids_text(users)})


def _copy_users(conn: Conn, table: str, rows: Iterable[UserRow]) -> None:
    with _binary_copy(conn, table, _USER_COLUMNS) as copy:
        for u in rows:
            copy.write_row(_user_values(u))


def _merge_users(conn: Conn, rows: Sequence[UserRow]) -> None:
    """Inserts or updates users through a session's temporary table: one INSERT ... ON CONFLICT for all of them."""
    conn.execute(
        "CREATE TEMPORARY TABLE IF NOT EXISTS incoming_users (id uuid, name text, name_key text, version int8,"
        " create_time timestamptz, update_time timestamptz, position int8) ON COMMIT DELETE ROWS"
    )
    _copy_users(conn, "incoming_users", rows)
    columns = _names(_USER_COLUMNS)
    conn.execute(_UPSERT_USERS.format(columns=columns, source=f"{columns} FROM incoming_users"))


def copy_log(conn: Conn, log: Sequence[LogRow]) -> None:
    """Appends rows to the read-side event log by binary COPY (a LogRow's fields are the columns, in order)."""
    with _binary_copy(conn, "event_log", _LOG_COLUMNS) as copy:
        for row in log:
            copy.write_row(row)


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
    conn.execute(_NOTIFY, {"channel": PROJECTED_CHANNEL, "position": position})
