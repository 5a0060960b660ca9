"""Reads the next batch of events while the caller applies this one, so the reader and the writer overlap."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Generator
from concurrent.futures import Future, ThreadPoolExecutor, wait

from eventkit.codec import RecordedEvent

# Reads up to `limit` events after `after` (and at most `upto`), in position order.
Read = Callable[[int, int, "int | None"], list[RecordedEvent]]


def batches(
    read: Read, after: int, size: int, upto: int | None = None, pool: ThreadPoolExecutor | None = None
) -> Generator[list[RecordedEvent], None, None]:
    """Yields batches of up to `size` events after `after` (at most `upto`) until the store has no more.

    While the caller works on one batch, one thread reads the next: the database serves the read
    while this process folds and writes, and the other way round. At most two batches are in memory.
    A short batch is the last one (the store's end was reached at that read); close the generator
    (contextlib.closing) so that a read still in flight is waited for.
    The read position follows the events read, not the caller's checkpoint: a caller that stops
    early (a stall, a fence) just leaves the loop, and the read in flight is waited for and dropped.
    A caller that reads often (a follower woken by each commit) passes a one-worker `pool` it keeps:
    a thread started and joined per call cost more than a one-event batch's own reading.
    """
    with contextlib.ExitStack() as owned:
        if pool is None:
            pool = owned.enter_context(ThreadPoolExecutor(max_workers=1, thread_name_prefix="prefetch"))
        pending: Future[list[RecordedEvent]] | None = pool.submit(read, after, size, upto)
        try:
            while pending is not None:
                events = pending.result()
                if not events:
                    return
                last = events[-1].position
                more = len(events) == size and (upto is None or last < upto)
                pending = pool.submit(read, last, size, upto) if more else None
                yield events
        finally:
            if pending is not None:
                pending.cancel()
                # A read still running is waited for: the reader's connection is the caller's
                # again once this generator is closed.
                wait([pending])
