"""The projector's read-ahead, without a database: the next batch is read while the caller holds this one."""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from eventkit.codec import RecordedEvent
from projector_service import prefetch

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class Store:
    """An in-memory store of `count` events that records the reads made and signals each one."""

    def __init__(self, count: int) -> None:
        self.events = [RecordedEvent(p, "u", p, "UserAdded", {"name": "n"}, T0) for p in range(1, count + 1)]
        self.reads: list[tuple[int, int | None]] = []
        self.read_started = threading.Semaphore(0)

    def read(self, after: int, limit: int, upto: int | None) -> list[RecordedEvent]:
        self.reads.append((after, upto))
        self.read_started.release()
        return [e for e in self.events if e.position > after and (upto is None or e.position <= upto)][:limit]


def test_batches_cover_the_store_in_order_and_stop_after_a_short_one() -> None:
    store = Store(25)
    with contextlib.closing(prefetch.batches(store.read, 0, 10)) as stream:
        sizes = [[e.position for e in batch] for batch in stream]
    assert sizes == [list(range(1, 11)), list(range(11, 21)), list(range(21, 26))]
    assert store.reads == [(0, None), (10, None), (20, None)]  # no read after the short batch


def test_the_next_batch_is_read_while_the_caller_still_holds_this_one() -> None:
    store = Store(30)
    with contextlib.closing(prefetch.batches(store.read, 0, 10)) as stream:
        first = next(stream)
        store.read_started.acquire(timeout=10)  # the first read
        # The caller has not asked for more, yet the second read starts: reading overlaps applying.
        assert store.read_started.acquire(timeout=10)
        assert first[-1].position == 10 and store.reads[1] == (10, None)


def test_an_upper_bound_ends_the_batches_at_it() -> None:
    store = Store(50)
    with contextlib.closing(prefetch.batches(store.read, 5, 10, upto=25)) as stream:
        positions = [e.position for batch in stream for e in batch]
    assert positions == list(range(6, 26))
    assert store.reads[-1] == (15, 25)


def test_a_caller_that_stops_early_leaves_no_read_running() -> None:
    store = Store(100)
    stream = prefetch.batches(store.read, 0, 10)
    next(stream)
    stream.close()
    reads = len(store.reads)
    assert reads <= 2 and not any(t.name.startswith("prefetch") for t in threading.enumerate())


def test_a_stream_on_a_kept_pool_closed_early_returns_only_once_its_read_in_flight_ended() -> None:
    store, gate, waiting = Store(100), threading.Event(), threading.Event()

    def slow_second_read(after: int, limit: int, upto: int | None) -> list[RecordedEvent]:
        if after == 10:
            waiting.set()
            gate.wait(timeout=30)
        return store.read(after, limit, upto)

    with ThreadPoolExecutor(max_workers=1) as pool:
        stream = prefetch.batches(slow_second_read, 0, 10, pool=pool)
        next(stream)
        assert waiting.wait(timeout=10)  # the second read has started and waits at the gate
        closer = threading.Thread(target=stream.close)
        closer.start()
        closer.join(timeout=0.5)
        # The pool outlives the stream, so nothing else would wait for its read: close() does.
        assert closer.is_alive()
        gate.set()
        closer.join(timeout=30)
        assert not closer.is_alive()
        # The kept pool serves the next stream.
        with contextlib.closing(prefetch.batches(store.read, 90, 10, pool=pool)) as again:
            assert [e.position for batch in again for e in batch] == list(range(91, 101))
