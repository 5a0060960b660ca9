"""All SQL of the query service: users, the read-side event log and the projection's checkpoint."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from eventkit.rows import LogRow, UserRow

# The name expression of the index users_name_key, written exactly as in 0001_read_model.sql: the
# planner uses the index only for this very expression (the "C" collation included).
_NAME_KEY = 'lower(name) COLLATE "C"'

_USER_COLUMNS = "id::text, name, version, create_time, update_time, position"
_EVENT_COLUMNS = "position, type, user_id::text, version, name, record_time"


@dataclass(frozen=True)
class Checkpoint:
    """How far the projection has applied the store, and how many seconds ago the projector was last seen."""

    position: int
    seen_seconds_ago: float | None


async def get_user(conn: psycopg.AsyncConnection[Any], user_id: str) -> UserRow | None:
    """Returns the user with this id, or None (unknown, or deleted: the projector removes those)."""
    cur = await conn.execute(f"SELECT {_USER_COLUMNS} FROM users WHERE id = %s", [user_id])
    row = await cur.fetchone()
    return UserRow(*row) if row else None


def escape_like(text: str) -> str:
    """Returns `text` with LIKE's wildcards and escape character escaped (default escape: backslash)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


LIST_USERS = f"""
    SELECT {_USER_COLUMNS}, {_NAME_KEY}
    FROM users
    WHERE {_NAME_KEY} LIKE lower(%(pattern)s) || '%%'
      AND ({_NAME_KEY}, id) > (%(after_name)s COLLATE "C", %(after_id)s::uuid)
    ORDER BY {_NAME_KEY}, users.id  -- users.id: a bare "id" would be the text column selected above
    LIMIT %(limit)s
"""

# The smallest key: '' sorts first in "C" and the nil UUID is the smallest id.
FIRST_KEY = ("", "00000000-0000-0000-0000-000000000000")


async def list_users(
    conn: psycopg.AsyncConnection[Any], prefix: str, after: tuple[str, str], limit: int
) -> list[tuple[UserRow, str]]:
    """Returns up to `limit` users whose lower-cased name starts with lower(prefix), after key `after`.

    Keyset pagination: one index range scan from `after`, so page 1,000 costs what page 1 costs.
    Each user comes with its sort key (lower-cased name) for the next page's token.
    """
    params = {"pattern": escape_like(prefix), "after_name": after[0], "after_id": after[1], "limit": limit}
    # prepare=False: an unnamed statement is planned with its values, so the LIKE prefix becomes an
    # index range; a generic plan (what a prepared statement may settle on) could not use it.
    cur = await conn.execute(LIST_USERS, params, prepare=False)
    return [(UserRow(*row[:6]), row[6]) for row in await cur.fetchall()]


async def checkpoint(conn: psycopg.AsyncConnection[Any], projection: str) -> Checkpoint:
    """Returns the projection's checkpoint (position 0 and unseen when the projector never ran)."""
    # The projector's leader moves projector_status.heartbeat_time every few seconds even when idle;
    # a checkpoint that moved is a sign of life too (greatest() skips NULLs).
    cur = await conn.execute(
        "SELECT c.position, extract(epoch FROM now() - greatest(c.updated_time, s.heartbeat_time))::float8"
        " FROM projection_checkpoint c LEFT JOIN projector_status s USING (name) WHERE c.name = %s",
        [projection],
    )
    row = await cur.fetchone()
    return Checkpoint(row[0], row[1]) if row else Checkpoint(0, None)


async def log_between(
    conn: psycopg.AsyncConnection[Any],
    after: int,
    upto: int,
    limit: int,
    types: list[int] | None = None,
    user_id: str | None = None,
) -> list[LogRow]:
    """Returns event-log rows with after < position <= upto, in order, at most `limit`, optionally filtered."""
    cur = await conn.execute(
        f"""
        SELECT {_EVENT_COLUMNS} FROM event_log
        WHERE position > %s AND position <= %s
          AND (%s::smallint[] IS NULL OR type = ANY(%s::smallint[]))
          AND (%s::uuid IS NULL OR user_id = %s::uuid)
        ORDER BY position
        LIMIT %s
        """,
        [after, upto, types, types, user_id, user_id, limit],
        prepare=False,  # planned with its values: the user filter then uses event_log_user_key
    )
    return [LogRow(*row) for row in await cur.fetchall()]


async def listen(conn: psycopg.AsyncConnection[Any], channel: str) -> None:
    """Subscribes `conn` (autocommit) to notifications on `channel`."""
    await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
