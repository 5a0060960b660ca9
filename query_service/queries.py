"""All SQL of the query service: users, the read-side event log and the projection's checkpoint."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from eventkit.namekey import prefix_range
from eventkit.rows import LogRow, UserRow

_USER_COLUMNS = "id::text, name, version, create_time, update_time, position"
_EVENT_COLUMNS = "position, type, user_id::text, version, name, record_time, correlation_id, forgotten"


@dataclass(frozen=True)
class Checkpoint:
    """How far the projection has applied the store, and how many seconds ago the projector was last seen."""

    position: int
    seen_seconds_ago: float | None


async def user_as_of(conn: psycopg.AsyncConnection[Any], projection: str, user_id: str) -> tuple[int, UserRow | None]:
    """Returns the projection's checkpoint and the user with this id (or None), read in one snapshot.

    One statement is one snapshot, so the user row is exactly as of that checkpoint on this
    connection's server, whichever replica behind a shared address it reached.
    """
    cur = await conn.execute(
        "SELECT coalesce((SELECT position FROM projection_checkpoint WHERE name = %s), 0), u.*"
        f" FROM (VALUES (1)) AS one LEFT JOIN LATERAL (SELECT {_USER_COLUMNS} FROM users WHERE id = %s) AS u ON true",
        [projection, user_id],
    )
    row = await cur.fetchone()
    assert row is not None  # the VALUES row is always there
    return row[0], UserRow(*row[1:]) if row[1] is not None else None


async def applied(conn: psycopg.AsyncConnection[Any], projection: str) -> int:
    """Returns the projection's checkpoint as this connection's server sees it (0 before the first batch)."""
    cur = await conn.execute("SELECT position FROM projection_checkpoint WHERE name = %s", [projection])
    row = await cur.fetchone()
    return row[0] if row else 0


def list_users_query(prefix: str, after: tuple[str, str], limit: int) -> tuple[str, dict[str, Any]]:
    """Returns the SQL and parameters of one ListUsers page: users whose name key starts with the prefix's, after `after`.

    name_key is the Unicode case-folded name (eventkit/namekey.py), a "C"-collated column: its order
    is code-point order, so "starts with" is the range [low, high) and the index users_name_key
    (name_key, id) serves the prefix, the keyset start and the ORDER BY in one range scan, whatever
    the database's default collation (lower() under the C locale folds ASCII only: `é` did not find
    "Émile"). No LIKE: its wildcards need no escaping, and a generic plan uses the range too.
    """
    low, high = prefix_range(prefix)
    upper = "AND name_key < %(high)s" if high is not None else ""
    query = f"""
        SELECT {_USER_COLUMNS}, name_key
        FROM users
        WHERE name_key >= %(low)s {upper}
          AND (name_key, id) > (%(after_name)s, %(after_id)s::uuid)
        ORDER BY name_key, users.id  -- users.id: a bare "id" would be the text column selected above
        LIMIT %(limit)s
    """
    params = {"low": low, "high": high, "after_name": after[0], "after_id": after[1], "limit": limit}
    return query, params


# The smallest key: '' sorts first in "C" and the nil UUID is the smallest id.
FIRST_KEY = ("", "00000000-0000-0000-0000-000000000000")


async def list_users(
    conn: psycopg.AsyncConnection[Any], prefix: str, after: tuple[str, str], limit: int
) -> list[tuple[UserRow, str]]:
    """Returns up to `limit` users whose case-folded name starts with the case-folded prefix, after key `after`.

    Keyset pagination: one index range scan from `after`, so page 1,000 costs what page 1 costs.
    Each user comes with its sort key (its name key) for the next page's token.
    """
    query, params = list_users_query(prefix, after, limit)
    cur = await conn.execute(query, params)
    return [(UserRow(*row[:6]), row[6]) for row in await cur.fetchall()]


async def page_token_key(conn: psycopg.AsyncConnection[Any]) -> bytes:
    """Returns the random page-token key the read model's migrations made."""
    cur = await conn.execute("SELECT key FROM page_token_key")
    row = await cur.fetchone()
    if row is None:
        raise psycopg.OperationalError("the read model has no page_token_key row: migrate it")
    return str(row[0]).encode()


# The projection's checkpoint and how long ago the projector was last seen. Its leader moves
# projector_status.heartbeat_time every few seconds even when idle; a checkpoint that moved is a
# sign of life too (greatest() skips NULLs).
_CHECKPOINT = (
    "SELECT c.position, extract(epoch FROM now() - greatest(c.updated_time, s.heartbeat_time))::float8 AS seen"
    " FROM projection_checkpoint c LEFT JOIN projector_status s USING (name) WHERE c.name = %(projection)s"
)


async def checkpoint(conn: psycopg.AsyncConnection[Any], projection: str) -> Checkpoint:
    """Returns the projection's checkpoint (position 0 and unseen when the projector never ran)."""
    cur = await conn.execute(_CHECKPOINT, {"projection": projection})
    row = await cur.fetchone()
    return Checkpoint(row[0], row[1]) if row else Checkpoint(0, None)


async def checkpoint_and_log(
    conn: psycopg.AsyncConnection[Any], projection: str, after: int, limit: int
) -> tuple[Checkpoint, list[LogRow]]:
    """Returns the checkpoint and the event-log rows after `after` up to it (at most `limit`), in one statement.

    One round trip where checkpoint() then log_between() took two: what a live event waits for
    between the projector's commit and its subscribers. One statement is also one snapshot, so the
    rows are exactly those the checkpoint covers.
    """
    cur = await conn.execute(
        f"SELECT c.position, c.seen, e.* FROM ({_CHECKPOINT}) AS c LEFT JOIN LATERAL"
        f" (SELECT {_EVENT_COLUMNS} FROM event_log WHERE position > %(after)s AND position <= c.position"
        "  ORDER BY position LIMIT %(limit)s) AS e ON true",
        {"projection": projection, "after": after, "limit": limit},
    )
    found = await cur.fetchall()
    if not found:
        return Checkpoint(0, None), []
    return Checkpoint(found[0][0], found[0][1]), [LogRow(*row[2:]) for row in found if row[2] is not None]


@dataclass(frozen=True)
class StoreHead:
    """The event store's head as the projector last read it, and whether it read it after `since`."""

    position: int
    after_since: bool


async def clock(conn: psycopg.AsyncConnection[Any]) -> datetime:
    """Returns the read model's current time (the clock the projector stamps its store-head readings with)."""
    cur = await conn.execute("SELECT now()")
    row = await cur.fetchone()
    assert row is not None
    return row[0]


async def store_head(conn: psycopg.AsyncConnection[Any], projection: str, since: datetime) -> StoreHead | None:
    """Returns the projector's last reading of the store's head, or None when it never took one."""
    cur = await conn.execute(
        "SELECT store_head, store_head_time >= %s FROM projector_status WHERE name = %s AND store_head IS NOT NULL",
        [since, projection],
    )
    row = await cur.fetchone()
    return StoreHead(row[0], row[1]) if row else None


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
