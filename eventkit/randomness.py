"""Random bytes from os.urandom, read a few kilobytes at a time (ids, nonces, correlation ids).

Why: os.urandom releases the GIL for its system call, and the thread that called it then queues
for the GIL behind the busy ones, up to a switch interval each time. In the command service that
thread is the appender, which every command waits for: one read per few hundred values instead of
one per value keeps it from giving up the GIL once or twice per command.
"""

from __future__ import annotations

import os
import threading


class RandomBytes:
    """A buffer of os.urandom bytes, each handed out once; a forked child starts with none."""

    def __init__(self, chunk: int = 4096) -> None:
        self._chunk, self._buffer, self._used = chunk, b"", 0
        self._lock = threading.Lock()
        os.register_at_fork(after_in_child=self._forget)

    def take(self, count: int) -> bytes:
        """Returns `count` bytes no other call gets."""
        with self._lock:
            if self._used + count > len(self._buffer):
                self._buffer, self._used = os.urandom(max(self._chunk, count)), 0
            self._used += count
            return self._buffer[self._used - count : self._used]

    def _forget(self) -> None:
        # So no two processes hand out the same bytes.
        self._buffer, self._used = b"", 0
        self._lock = threading.Lock()


_shared = RandomBytes()


def random_bytes(count: int) -> bytes:
    """Returns `count` bytes from the operating system's CSPRNG, without a system call most times."""
    return _shared.take(count)
