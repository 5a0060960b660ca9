"""The `run` command's outer loop: elect, follow, and on any lost connection reconnect with backoff."""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from typing import Any

import psycopg

from eventkit import db
from eventkit.backoff import Backoff
from eventkit.config import ProjectorSettings
from eventkit.server import Health
from projector_service import leadership, metrics, store
from projector_service.applier import Fenced
from projector_service.follower import Follower

log = logging.getLogger(__name__)

FIRST_RETRY_SECONDS = 0.5


def identity() -> str:
    """Names this process for the status table and pg_stat_activity: host:pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Runner:
    """Keeps one projector process following for ever: as leader, or as a standby ready to take over."""

    def __init__(
        self,
        settings: ProjectorSettings,
        health: Health,
        stop: threading.Event,
        connect_read_model: Callable[[], store.Conn],
    ) -> None:
        self._s = settings
        self._health = health
        self._stop = stop
        self._connect_read_model = connect_read_model
        self._identity = identity()
        self._key = leadership.leader_key(settings.read_model.schema, settings.projection_name)
        self._probe: store.Conn | None = None  # a standby's event-store connection, for its health

    def run(self) -> None:
        """Returns once stop is set; never gives up on a database."""
        backoff = Backoff(FIRST_RETRY_SECONDS, self._s.retry_max)
        while not self._stop.is_set():
            follower: Follower | None = None
            try:
                lock = leadership.acquire(
                    self._lock_connection,
                    self._key,
                    self._identity,
                    self._s.leader_retry_interval,
                    self._stop,
                    self._standing_by,
                )
                self._close_probe()
                if lock is None:
                    return
                metrics.LEADER.set(1)
                try:
                    follower = Follower(
                        self._s, self._health, self._stop.is_set, self._identity, lock, self._connect_read_model
                    )
                    follower.run()
                finally:
                    metrics.LEADER.set(0)
                    lock.close()  # releases the leader lock at once, so a standby need not wait
            except Fenced as exc:
                log.warning("fenced (%s); standing down", exc, extra={"error": str(exc)})
                self._stop.wait(self._s.leader_retry_interval)
            except psycopg.errors.UndefinedTable as exc:
                # Not a connection problem: the event store has no tables until the command service
                # has started once. The backoff is not reset, so the wait grows instead of spinning.
                self._health.set(False)
                wait = backoff.next()
                log.warning(
                    "the event store is not initialised (%s): the command service creates it when it starts;"
                    " retrying in %.1f s",
                    _first_line(exc),
                    wait,
                    extra={"error": _first_line(exc), "retry_in": round(wait, 2)},
                )
                self._stop.wait(wait)
            except psycopg.Error as exc:
                metrics.RECONNECTS.inc()
                if follower is not None and follower.ready:
                    backoff.reset()  # it worked until now: start the backoff again from the first step
                self._health.set(False)
                wait = backoff.next()
                error = _first_line(exc)
                log.warning(
                    "database unreachable or not ready (%s); retrying in %.1f s",
                    error,
                    wait,
                    extra={"error": error, "retry_in": round(wait, 2)},
                )
                self._stop.wait(wait)
            except Exception:
                self._health.set(False)
                log.exception("projector failed; retrying")
                self._stop.wait(backoff.next())
        self._close_probe()
        self._health.set(False)

    def _lock_connection(self) -> store.Conn:
        return db.connect(self._s.read_model, autocommit=True)

    def _standing_by(self) -> None:
        """Probes the event store too: a standby that could not take over is not healthy."""
        try:
            if self._probe is None or self._probe.closed:
                self._probe = db.connect(self._s.event_store, autocommit=True)
            self._probe.execute("SELECT 1")
        except psycopg.Error:
            self._close_probe()
            raise
        self._health.set(True)

    def _close_probe(self) -> None:
        if self._probe is not None:
            self._probe.close()
            self._probe = None


def _first_line(exc: BaseException) -> Any:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
