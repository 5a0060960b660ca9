"""The hub: one LISTEN connection per process that follows the projection and fans its events out."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple, Protocol

import psycopg

from eventkit import db, startup, tracing
from eventkit.backoff import Backoff
from eventkit.channels import PROJECTED_CHANNEL
from eventkit.config import Database
from query_service import messages, queries, replicas

log = logging.getLogger(__name__)

FETCH_SIZE = 1000
FIRST_RETRY_SECONDS = 0.1
MAX_BACKOFF_SECONDS = 5.0


class Published(NamedTuple):
    """One event as the hub hands it to live subscribers, encoded once for all of them (messages.encoded)."""

    position: int
    type: int
    user_id: str
    data: bytes
    correlation_id: str | None = None


class Listener(Protocol):
    """A live subscriber as the hub sees it."""

    def offer(self, events: list[Published]) -> bool: ...  # False: its buffer is full, drop it
    def close(self) -> None: ...


class Hub:
    """Follows the projection's checkpoint and hands each new event-log row to every live subscriber.

    `head` is the position fanned out so far: every event up to it has been offered to every live
    subscriber, and the read model reflects it. It only moves in `_publish`, which never awaits, so
    code that checks `head` and joins the live set without awaiting in between misses nothing.
    """

    def __init__(
        self,
        database: Database,
        projection: str,
        poll_interval: float,
        stale_after: float,
        replica: Database | None = None,
    ) -> None:
        self.head = 0
        self.ready = False
        self.closed = False
        self.overflows = 0  # how often a subscriber fell behind its buffer (and caught up from the log)
        self._database = database
        self._replica = replica
        self._projection = projection
        self._poll_interval = poll_interval
        self._stale_after = stale_after
        self._on_health: Callable[[bool], Awaitable[None]] | None = None
        self._live: set[Listener] = set()
        self._all: set[Listener] = set()
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._seen: tuple[float, float | None] = (time.monotonic(), None)  # (when read, seconds ago then)
        self._connected = False

    @property
    def projection(self) -> str:
        """The name of the projection this hub follows."""
        return self._projection

    @property
    def subscribers(self) -> int:
        """How many streams are attached (live or catching up)."""
        return len(self._all)

    @property
    def waiting(self) -> int:
        """How many reads wait for a position the read model has not reached."""
        return len(self._waiters)

    def attach(self, listener: Listener) -> None:
        """Registers a stream, so that close() ends it."""
        self._all.add(listener)

    def join(self, listener: Listener) -> None:
        """Adds a listener to the live set; it receives every event after the current head."""
        self._live.add(listener)

    def detach(self, listener: Listener) -> None:
        """Forgets a stream at once (it ended, was cancelled, or its client went away)."""
        self._live.discard(listener)
        self._all.discard(listener)

    def projector_alive(self) -> bool:
        """Tells whether the projector showed a sign of life within the stale threshold."""
        read_at, age = self._seen
        return self._connected and age is not None and age + time.monotonic() - read_at < self._stale_after

    def counts_as_alive(self, seen_seconds_ago: float | None) -> bool:
        """Tells whether a projector last seen `seen_seconds_ago` (read just now) is within the stale threshold."""
        return seen_seconds_ago is not None and seen_seconds_ago < self._stale_after

    async def reached(self, position: int, timeout: float) -> bool:
        """Waits until `head` >= position; returns False if `timeout` passes (or the hub closes) first."""
        if position <= self.head:
            return True
        waiter = (position, asyncio.get_running_loop().create_future())
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(waiter[1], timeout)
        except TimeoutError:
            pass
        finally:
            self._waiters.remove(waiter)
        return position <= self.head  # also woken early by close()

    def close(self) -> None:
        """Ends every stream (the server is shutting down)."""
        self.closed = True
        for listener in list(self._all):
            listener.close()
        for _, future in self._waiters:
            if not future.done():
                future.set_result(None)

    async def run(self, on_health: Callable[[bool], Awaitable[None]] | None = None) -> None:
        """Keeps the LISTEN connection up, reconnecting with backoff, until cancelled; reports health."""
        self._on_health = on_health
        backoff = Backoff(FIRST_RETRY_SECONDS, MAX_BACKOFF_SECONDS)
        while not self.closed:
            try:
                await self._follow()
            except psycopg.Error as exc:
                log.warning("read model unreachable; reconnecting", extra={"error": str(exc).strip()})
            except Exception:
                log.exception("the hub failed; reconnecting")
            if self._connected:
                backoff.reset()
            self._connected = False
            if self._on_health:
                await self._on_health(False)
            await asyncio.sleep(backoff.next())

    async def _follow(self) -> None:
        if not self.ready:
            # Migrates when given the owner's DSN (whichever of projector and query service starts
            # first creates the tables), else waits for the schema version this code needs.
            await asyncio.to_thread(startup.prepare, self._database, "read_model")
        async with await db.connect_async(self._database, autocommit=True) as conn:
            # LISTEN before reading: a projection committed in between is then both read and notified.
            await queries.listen(conn, PROJECTED_CHANNEL)
            async with replicas.reader(conn, self._replica) as reader:
                if not self.ready:
                    self.head = (await queries.checkpoint(reader, self._projection)).position
                await self._drain(reader)
                self.ready = self._connected = True
                log.info("following the projection", extra={"position": self.head, "replica": reader is not conn})
                if self._on_health:
                    await self._on_health(True)
                while True:
                    # The payload (a position) is a hint only: the table is the truth, read after any wake-up.
                    hint = 0
                    async for note in conn.notifies(timeout=self._poll_interval, stop_after=1):
                        hint = replicas.position_hint(note.payload)
                    await self._drain(reader)
                    if reader is not conn:
                        await replicas.until_replayed(hint, lambda: self.head, lambda: self._drain(reader))

    async def _drain(self, conn: psycopg.AsyncConnection[Any]) -> None:
        checkpoint, rows = await queries.checkpoint_and_log(conn, self._projection, self.head, FETCH_SIZE)
        self._seen = (time.monotonic(), checkpoint.seen_seconds_ago)
        while checkpoint.position > self.head:
            # A full page may stop short of the checkpoint; positions without rows (events the
            # projection skipped) are covered once a page ends before the limit.
            upto = rows[-1].position if len(rows) == FETCH_SIZE else checkpoint.position
            self._publish(
                [Published(r.position, r.type, r.user_id, messages.encoded(r), r.correlation_id) for r in rows], upto
            )
            if checkpoint.position > self.head:
                rows = await queries.log_between(conn, self.head, checkpoint.position, FETCH_SIZE)

    def _publish(self, events: list[Published], upto: int) -> None:
        if log.isEnabledFor(logging.DEBUG):
            for event in events:
                log.debug(
                    "relaying event",
                    extra={"correlation_id": event.correlation_id or None, "position": event.position},
                )
        traced = [(e.correlation_id or None, {"position": e.position}) for e in events] if tracing.enabled() else []
        with tracing.spans("query.relay", traced):
            for listener in list(self._live):
                if not listener.offer(events):
                    self._live.discard(listener)  # it catches up from the event log on its own
                    self.overflows += 1
        self.head = upto
        for position, future in self._waiters:
            if position <= upto and not future.done():
                future.set_result(None)
