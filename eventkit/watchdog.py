"""Keeps a server's health status in step with whether its database answers."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from eventkit.server import Health

log = logging.getLogger(__name__)


def probe(check: Callable[[], None]) -> tuple[bool, str]:
    """Runs `check`; returns whether it succeeded and, if not, why."""
    try:
        check()
        return True, ""
    except Exception as exc:
        return False, str(exc).strip()


class Reachability:
    """Remembers whether the database answered last time, and logs only the changes."""

    def __init__(self) -> None:
        self._healthy: bool | None = None

    def changed(self, ok: bool, error: str) -> bool:
        """Records the latest probe; returns True when health must be set to `ok`."""
        if ok == self._healthy:
            return False
        if ok:
            log.info("database reachable: SERVING")
        else:
            log.warning("database unreachable: NOT_SERVING", extra={"error": error})
        self._healthy = ok
        return True


def watch_database(
    check: Callable[[], None], health: Health, stop: threading.Event, interval: float = 1.0
) -> threading.Thread:
    """Runs `check` every `interval` seconds in a thread; SERVING while it succeeds, NOT_SERVING otherwise."""

    def loop() -> None:
        reachability = Reachability()
        while not stop.is_set():
            ok, error = probe(check)
            if reachability.changed(ok, error):
                health.set(ok)
            stop.wait(interval)

    thread = threading.Thread(target=loop, name="db-watchdog", daemon=True)
    thread.start()
    return thread
