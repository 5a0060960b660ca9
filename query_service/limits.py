"""Bounds on what one query-service process gives its callers: open streams, per process and per connection."""

from __future__ import annotations

from collections import Counter

from eventkit.errors import TooManyStreams


class Slot:
    """One admitted stream; release() gives its place back, once, however often it is called."""

    def __init__(self, limits: StreamLimits, peer: str) -> None:
        self._limits, self._peer = limits, peer
        self._released = False

    def release(self) -> None:
        """Frees the place (the stream ended, failed, or its client went away)."""
        if not self._released:
            self._released = True
            self._limits.free(self._peer)


class StreamLimits:
    """Counts open streams; refuses a new one past the per-process or per-connection cap.

    Each stream holds a buffer and a task (about 0.3 MB): without a cap, one client could open
    streams until the process runs out of memory and every other caller with it.
    """

    def __init__(self, per_process: int, per_connection: int) -> None:
        self.per_process = per_process
        self.per_connection = per_connection
        self.open = 0
        self._by_peer: Counter[str] = Counter()

    def admit(self, peer: str) -> Slot:
        """Returns a slot for a new stream from `peer` (one client connection), or raises TooManyStreams."""
        if self.open >= self.per_process:
            raise TooManyStreams(
                f"this server already serves {self.per_process} streams; retry later or elsewhere",
                limit=str(self.per_process),
                scope="process",
            )
        if self._by_peer[peer] >= self.per_connection:
            raise TooManyStreams(
                f"this connection already has {self.per_connection} open streams; close one first",
                limit=str(self.per_connection),
                scope="connection",
            )
        self.open += 1
        self._by_peer[peer] += 1
        return Slot(self, peer)

    def free(self, peer: str) -> None:
        """Gives back one place of `peer`'s."""
        self.open -= 1
        self._by_peer[peer] -= 1
        if self._by_peer[peer] <= 0:
            del self._by_peer[peer]
