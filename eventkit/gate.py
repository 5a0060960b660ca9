"""Admission of calls to a stopping server: new calls get UNAVAILABLE while the calls in flight finish.

Why our own gate: once `server.stop()` runs, gRPC cancels calls it has received but not yet handed
to a handler, and every call still running when the grace ends; their callers see CANCELLED, which
clients (ours included) do not retry. So a server closes this gate first: calls that arrive from
then on are answered UNAVAILABLE (reason SERVER_SHUTTING_DOWN) by the gate itself, the calls in
flight drain, and only then is the server stopped.
"""

from __future__ import annotations

import asyncio
import threading

from eventkit.errors import ShuttingDown

REJECTION = ShuttingDown("the server is shutting down; retry (with the same request_id for a command)")
EXPIRED = ShuttingDown("the server stopped before this call finished; retry (with the same request_id for a command)")


class Gate:
    """Counts the calls in flight in a thread-pool server and refuses new ones once closed."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._open = True
        self._in_flight = 0

    @property
    def open(self) -> bool:
        return self._open

    def enter(self) -> bool:
        """Admits a call (True), or refuses it because the gate is closed (False)."""
        with self._changed:
            if not self._open:
                return False
            self._in_flight += 1
            return True

    def leave(self) -> None:
        """Marks an admitted call as finished."""
        with self._changed:
            self._in_flight -= 1
            self._changed.notify_all()

    def close(self) -> None:
        """Refuses every call from now on; the admitted ones go on."""
        with self._changed:
            self._open = False

    def drain(self, timeout: float) -> bool:
        """Waits until no admitted call is in flight; False if `timeout` passed first."""
        with self._changed:
            return self._changed.wait_for(lambda: self._in_flight == 0, timeout)


class AsyncGate:
    """The same gate for an asyncio server; `expire()` also ends the calls still in flight."""

    def __init__(self) -> None:
        self._open = True
        self._calls: set[asyncio.Task[object]] = set()
        self._expired = False
        self._idle: asyncio.Event | None = None

    @property
    def open(self) -> bool:
        return self._open

    @property
    def expired(self) -> bool:
        return self._expired

    def enter(self) -> bool:
        """Admits the current task's call (True), or refuses it because the gate is closed (False)."""
        if not self._open:
            return False
        task = asyncio.current_task()
        assert task is not None
        self._calls.add(task)
        return True

    def leave(self) -> None:
        """Marks the current task's call as finished."""
        self._calls.discard(asyncio.current_task())
        if not self._calls and self._idle is not None:
            self._idle.set()

    def close(self) -> None:
        """Refuses every call from now on; the admitted ones go on."""
        self._open = False

    async def drain(self, timeout: float) -> bool:
        """Waits until no admitted call is in flight; False if `timeout` passed first."""
        if not self._calls:
            return True
        self._idle = asyncio.Event()
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def expire(self) -> None:
        """Cancels the calls still in flight; each answers UNAVAILABLE (see admission.py) instead of CANCELLED."""
        self._expired = True
        for task in list(self._calls):
            task.cancel()
