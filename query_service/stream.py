"""One StreamEvents subscription: replay from the event log, then live from the hub, falling back when slow."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

from psycopg_pool import AsyncConnectionPool

from eventkit.errors import ShuttingDown
from query_service import messages, metrics, queries
from query_service.hub import Hub, Published
from query_service.requests import Batching, Filter

log = logging.getLogger(__name__)

REPLAY_PAGE = 500
LAGGING_SERVER_PAUSE_SECONDS = 0.01


class Subscriber:
    """A live subscriber's bounded buffer: the hub offers events, the stream takes them."""

    def __init__(self, wanted: Filter, capacity: int) -> None:
        self.wanted = wanted
        self.pending: deque[Published] = deque()
        self.lagging = False  # its buffer overflowed: the hub dropped it from the live set
        self.closed = False
        self.since = 0.0  # when the buffer last went from empty to not empty (monotonic)
        self._capacity = capacity
        # The stream's wait for more, when it waits: a bare future, not asyncio.wait_for on an
        # Event, which wraps each wait in a task of its own (about 10 us a wake-up, paid per
        # subscriber and event when streams keep up).
        self._waiter: asyncio.Future[None] | None = None

    def offer(self, events: list[Published]) -> bool:
        """Buffers the events the filter selects; False when the buffer is full (never blocks the hub)."""
        woken = False
        for event in events:
            if self.wanted.accepts(event.type, event.user_id):
                if len(self.pending) >= self._capacity:
                    self.lagging = True
                    self._wake_up()
                    return False
                if not self.pending:
                    self.since = time.monotonic()
                self.pending.append(event)
                woken = True
        if woken:
            self._wake_up()
        return True

    def close(self) -> None:
        """Ends the stream at its next step."""
        self.closed = True
        self._wake_up()

    def _wake_up(self) -> None:
        _resolve(self._waiter)

    async def wait(self, timeout: float) -> None:
        """Returns when there is something to do, or after `timeout` seconds."""
        if self.pending or self.lagging or self.closed:
            return
        await self.wait_more(timeout)

    async def wait_more(self, timeout: float) -> None:
        """Returns when the hub offers more (or the stream must stop or catch up), or after `timeout` seconds."""
        loop = asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        timer = loop.call_later(timeout, _resolve, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None


def _resolve(waiter: asyncio.Future[None] | None) -> None:
    if waiter is not None and not waiter.done():
        waiter.set_result(None)


class Subscription:
    """Yields the messages of one stream; `last` is the position up to which it has sent every match."""

    def __init__(
        self,
        hub: Hub,
        pool: AsyncConnectionPool,
        wanted: Filter,
        capacity: int,
        heartbeat: float,
        batching: Batching = Batching(),
    ) -> None:
        self.hub = hub
        self.batching = batching
        self.pool = pool
        self.wanted = wanted
        self.heartbeat = heartbeat
        self.subscriber = Subscriber(wanted, capacity)
        self.last = 0

    async def messages(self, after: int | None) -> AsyncIterator[Any]:
        """Replays after `after` (None: nothing), sends the caught-up marker, then relays live events."""
        hub = self.hub
        hub.attach(self.subscriber)
        try:
            if after is None:
                self.last = hub.head
                hub.join(self.subscriber)
            else:
                self.last = after
                async for message in self._catch_up():
                    yield message
            yield messages.caught_up(self.last)
            async for message in self._live():
                yield message
        finally:
            hub.detach(self.subscriber)

    async def _live(self) -> AsyncIterator[Any]:
        subscriber, hub = self.subscriber, self.hub
        next_beat = time.monotonic() + self.heartbeat
        while True:
            if subscriber.closed:
                raise ShuttingDown("the server is shutting down; resume from your last position")
            if subscriber.pending:
                if self.batching.size == 1:
                    while subscriber.pending:
                        event = subscriber.pending.popleft()
                        if event.position > self.last:  # never twice, whatever raced
                            self.last = event.position
                            metrics.RELAYED.inc()
                            yield event.data
                elif not await self._held() and (batch := self._take()):
                    yield batch
                continue
            if subscriber.lagging:
                subscriber.lagging = False
                metrics.FALLBACKS.inc()
                log.info(
                    "a subscriber fell behind its buffer; it catches up from the event log",
                    extra={"position": self.last},
                )
                async for message in self._catch_up():
                    yield message
                continue
            now = time.monotonic()
            if now >= next_beat:
                # Live with an empty buffer: every match up to the hub's head has been sent.
                if not subscriber.pending and not subscriber.lagging:
                    self.last = max(self.last, hub.head)
                yield messages.heartbeat(self.last)
                next_beat = now + self.heartbeat
                continue
            await subscriber.wait(next_beat - now)

    async def _held(self) -> bool:
        """Waits a little for more events when a batch is not full and its first event may still wait; True if it did."""
        subscriber, batching = self.subscriber, self.batching
        if batching.delay <= 0 or len(subscriber.pending) >= batching.size or subscriber.lagging or subscriber.closed:
            return False
        left = subscriber.since + batching.delay - time.monotonic()
        if left <= 0:
            return False
        await subscriber.wait_more(left)
        return True

    def _take(self) -> bytes:
        """Takes up to a batch's worth of buffered events and returns them as one batch message (b"" if none is new)."""
        pending, taken = self.subscriber.pending, list[bytes]()
        while pending and len(taken) < self.batching.size:
            event = pending.popleft()
            if event.position > self.last:  # never twice, whatever raced
                self.last = event.position
                taken.append(event.data)
        metrics.RELAYED.inc(len(taken))
        return messages.batch(taken) if taken else b""

    def _framed(self, events: list[bytes]) -> list[bytes]:
        """Returns encoded events as messages: each on its own, or all in one batch when batching."""
        if self.batching.size == 1 or not events:
            return events
        return [messages.batch(events)]

    async def _catch_up(self) -> AsyncIterator[Any]:
        """Reads the event log from `last` until it reaches the hub's head, then joins the live set."""
        wanted, hub = self.wanted, self.hub
        types = sorted(wanted.types) if wanted.types else None
        while True:
            if self.subscriber.closed:
                raise ShuttingDown("the server is shutting down; resume from your last position")
            target = hub.head
            if self.last >= target:
                hub.join(self.subscriber)  # no await since reading head: no event can slip between
                return
            async with self.pool.connection() as conn:
                # Never past what this connection's server has applied: a replica behind a shared
                # address may lag the hub's, and a page short of `target` would then skip events.
                target = min(target, await queries.applied(conn, hub.projection))
                rows = await queries.log_between(conn, self.last, target, REPLAY_PAGE, types, wanted.user_id)
            if target <= self.last:
                metrics.LAGGING_REPLICA_RETRIES.inc()
                await asyncio.sleep(LAGGING_SERVER_PAUSE_SECONDS)  # that server lags: ask again shortly
                continue
            size = self.batching.size
            for start in range(0, len(rows), size):
                chunk = rows[start : start + size]
                self.last = chunk[-1].position
                metrics.RELAYED.inc(len(chunk))
                for message in self._framed([messages.encoded(row) for row in chunk]):
                    yield message
            if len(rows) < REPLAY_PAGE:
                self.last = max(self.last, target)
