"""Keeps a server's health status in step with whether its database answers."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from eventkit.server import Health

log = logging.getLogger(__name__)


def watch_database(
    check: Callable[[], None], health: Health, stop: threading.Event, interval: float = 1.0
) -> threading.Thread:
    """Runs `check` every `interval` seconds in a thread; SERVING while it succeeds, NOT_SERVING otherwise."""

    def loop() -> None:
        healthy: bool | None = None
        while not stop.is_set():
            try:
                check()
                ok = True
            except Exception as exc:
                ok = False
                error = str(exc).strip()
            if ok != healthy:
                if ok:
                    log.info("database reachable: SERVING")
                else:
                    log.warning("database unreachable: NOT_SERVING", extra={"error": error})
                healthy = ok
                health.set(ok)
            stop.wait(interval)

    thread = threading.Thread(target=loop, name="db-watchdog", daemon=True)
    thread.start()
    return thread
