"""Leader election: one projector per read model applies events; the others stand by on an advisory lock."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from projector_service import status_sql, store

log = logging.getLogger(__name__)


def leader_key(schema: str, name: str) -> str:
    """Returns the advisory-lock name that one projection's leader holds."""
    return f"{schema}.{name}.projector"


def acquire(
    connect: Callable[[], store.Conn],
    key: str,
    identity: str,
    retry: float,
    stop: threading.Event,
    standing_by: Callable[[], None],
) -> store.Conn | None:
    """Blocks until this process holds the leader lock and returns the connection that holds it (None on stop).

    The lock is session-level: it lives exactly as long as this connection, so a leader that dies
    (even by SIGKILL) releases it when the server notices the closed socket, and a standby polling
    every `retry` seconds takes over. `standing_by` runs after each failed attempt (health probes).
    """
    conn = connect()
    try:
        status_sql.name_session(conn, f"projector {identity}")
        announced = False
        while not stop.is_set():
            if status_sql.try_lock(conn, key):
                log.info("leader lock taken by %s", identity, extra={"identity": identity})
                return conn
            standing_by()
            if not announced:
                holder = status_sql.lock_holder(conn, key)
                log.info("standing by: %s leads", holder or "another projector", extra={"leader": holder})
                announced = True
            stop.wait(retry)
    except BaseException:
        conn.close()
        raise
    conn.close()
    return None
