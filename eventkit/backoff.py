"""Capped exponential backoff with optional jitter: the one retry schedule of services, clients and tools."""

from __future__ import annotations

import random


class Backoff:
    """Hands out growing waits: first, 2x first, 4x first ... up to `cap`, each shortened by up to `jitter` (a fraction)."""

    def __init__(self, first: float, cap: float, jitter: float = 0.2) -> None:
        self._first = min(first, cap)
        self._cap = cap
        self._jitter = jitter
        self._next = self._first

    def next(self) -> float:
        """Returns the wait before the next attempt and doubles the one after."""
        wait = self._next
        self._next = min(self._next * 2, self._cap)
        # Jitter keeps replicas that lost the same database from reconnecting in lockstep.
        return wait * random.uniform(1.0 - self._jitter, 1.0) if self._jitter else wait

    def reset(self) -> None:
        """Starts again from the first wait (after a success)."""
        self._next = self._first
