"""Capped exponential backoff with jitter, for reconnects and for retrying a stalled event."""

from __future__ import annotations

import random


class Backoff:
    """Hands out growing waits: first, 2x first, 4x first ... up to `cap`, each with up to 20% jitter."""

    def __init__(self, first: float, cap: float) -> None:
        self._first = min(first, cap)
        self._cap = cap
        self._next = self._first

    def next(self) -> float:
        """Returns the wait before the next attempt and doubles the one after."""
        wait = self._next
        self._next = min(self._next * 2, self._cap)
        # Jitter keeps replicas that lost the same database from reconnecting in lockstep.
        return wait * random.uniform(0.8, 1.0)

    def reset(self) -> None:
        """Starts again from the first wait (after a success)."""
        self._next = self._first
