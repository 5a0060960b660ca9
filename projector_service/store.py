"""The projector's SQL on the read model: the checkpoint, the users a batch reads, skips (a batch's writes: batch_sql; the store's reads: events_sql; leadership: status_sql; the rebuild's: rebuild_sql)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import psycopg
from psycopg import sql

from eventkit.rows import UserRow

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


LOCK_CHECKPOINT = "SELECT position FROM projection_checkpoint WHERE name = %(name)s FOR UPDATE"


def lock_checkpoint(conn: Conn, name: str) -> int:
    """Locks the checkpoint row for this transaction and returns its position (the compare of compare-and-set).

    Taken first in every batch, before any read-model table, so batches and the rebuild's switch
    lock in one order and never deadlock.
    """
    row = conn.execute(LOCK_CHECKPOINT, {"name": name}).fetchone()
    if row is None:
        raise LookupError(f"no checkpoint row for projection {name!r}")
    return int(row[0])


def load_users(conn: Conn, ids: set[str]) -> dict[str, UserRow]:
    """Returns the current rows of these users (absent ids are not in the read model)."""
    if not ids:
        return {}
    rows = conn.execute(
        f"SELECT id::text, name, version, create_time, update_time, position FROM users WHERE id = ANY({IDS})",
        {"ids": ids_text(ids)},
        binary=True,
    ).fetchall()  # all at once: a cursor iterated row by row costs several times as much
    return {row[0]: UserRow._make(row) for row in rows}


# User ids travel as one comma-separated string that PostgreSQL splits: adapting a Python list
# to an array costs this process a few microseconds an element, and a batch may load thousands.
# The parameter is named `ids` (ids_text gives its value).
IDS = "string_to_array(%(ids)s, ',')::uuid[]"


def ids_text(ids: Iterable[str]) -> str:
    """Returns user ids as the one string IDS splits."""
    return ",".join(ids)


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
