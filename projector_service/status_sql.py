"""The projector's SQL for leadership and status: the advisory lock, heartbeats, stalls, and what `status` shows."""

from __future__ import annotations

from typing import Any

from projector_service import events_sql
from projector_service.store import Conn


def name_session(conn: Conn, name: str) -> None:
    """Labels the session in pg_stat_activity, so operators (and `status`) can tell what it is."""
    conn.execute("SELECT set_config('application_name', %s, false)", [name[:63]])


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
    assert row is not None
    lock.execute(
        "UPDATE projector_status SET store_head = %s, store_head_time = %s WHERE name = %s",
        [events_sql.head(reader), row[0], name],
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
