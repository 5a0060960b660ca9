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
from query_service.requests import Filter

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
        self._capacity = capacity
        self._wake = asyncio.Event()

    def offer(self, events: list[Published]) -> bool:
        """Buffers the events the filter selects; False when the buffer is full (never blocks the hub)."""
        woken = False
        for event in events:
            if self.wanted.accepts(event.type, event.user_id):
                if len(self.pending) >= self._capacity:
                    self.lagging = True
                    self._wake.set()
                    return False
                self.pending.append(event)
                woken = True
        if woken:
            self._wake.set()
        return True

    def close(self) -> None:
        """Ends the stream at its next step."""
        self.closed = True
        self._wake.set()

    async def wait(self, timeout: float) -> None:
        """Returns when there is something to do, or after `timeout` seconds."""
        if self.pending or self.lagging or self.closed:
            return
        self._wake.clear()
        try:
            await asyncio.wait_for(self._wake.wait(), timeout)
        except TimeoutError:
            pass


class Subscription:
    """Yields the messages of one stream; `last` is the position up to which it has sent every match."""

    def __init__(self, hub: Hub, pool: AsyncConnectionPool, wanted: Filter, capacity: int, heartbeat: float) -> None:
        self.hub = hub
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
            while subscriber.pending:
                event = subscriber.pending.popleft()
                if event.position > self.last:  # never twice, whatever raced
                    self.last = event.position
                    metrics.RELAYED.inc()
                    yield event.message
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
                await asyncio.sleep(LAGGING_SERVER_PAUSE_SECONDS)  # that server lags: ask again shortly
                continue
            for row in rows:
                self.last = row.position
                metrics.RELAYED.inc()
                yield messages.event(row)
            if len(rows) < REPLAY_PAGE:
                self.last = max(self.last, target)
