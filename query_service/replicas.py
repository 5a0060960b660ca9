"""Reading through streaming replicas: wake-ups come from the primary, data from a server that has replayed far enough.

A hot standby cannot LISTEN, and it applies the primary's commits some time after they happen. So
the hub LISTENs on the primary (READ_MODEL_DSN) and treats a notification as "position P is
committed there"; it then reads the checkpoint and the event log on the replica, whose checkpoint
row is replayed in the same transaction as the rows it covers (the projector writes both in one
transaction, and a standby makes a transaction visible all at once). The hub's `head` is therefore
what the replica has replayed, never what the primary has committed.

Several replicas behind one address (CloudNativePG's `-ro` service) may each be at a different
point, and every pooled connection may reach another one: a position is only trusted on the
connection that read it. Replay only moves forward, so what one connection has seen stays visible
to its later statements.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import psycopg
from psycopg_pool import AsyncConnectionPool

from eventkit import db
from eventkit.config import Database
from query_service import metrics

T = TypeVar("T")

# A replica usually replays a commit within a few milliseconds of the primary's notification:
# look again soon, then less often, and leave the rest to the hub's regular poll.
FIRST_PAUSE_SECONDS = 0.002
MAX_PAUSE_SECONDS = 0.05
REPLAY_WAIT_SECONDS = 1.0


@contextlib.asynccontextmanager
async def reader(
    primary: psycopg.AsyncConnection[Any], replica: Database | None
) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """Yields the connection the hub reads from: one to the replica, or the primary's own."""
    if replica is None:
        yield primary
        return
    async with await db.connect_async(replica, autocommit=True) as conn:
        yield conn


def position_hint(payload: str) -> int:
    """Returns the position a projector's notification announces (0 when it carries none)."""
    return int(payload) if payload.isdigit() else 0


async def until_replayed(position: int, head: Callable[[], int], look: Callable[[], Awaitable[None]]) -> None:
    """Looks again (`look`) with growing pauses until `head()` reaches `position` or REPLAY_WAIT_SECONDS pass."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + REPLAY_WAIT_SECONDS
    pause = FIRST_PAUSE_SECONDS
    while head() < position and loop.time() < give_up:
        await asyncio.sleep(pause)
        pause = min(pause * 2, MAX_PAUSE_SECONDS)
        await look()


async def read_at_least(
    pool: AsyncConnectionPool[Any],
    position: int,
    give_up: float,
    read: Callable[[psycopg.AsyncConnection[Any]], Awaitable[tuple[int, T]]],
) -> tuple[int, T] | None:
    """Returns `read`'s (checkpoint, answer) from a connection whose server has applied `position`.

    `read` returns the checkpoint it saw on its connection before (or with) its answer. A connection
    that reached a replica still behind `position` is given back, and another read follows after a
    pause; None once the loop's clock passes `give_up`.
    """
    loop = asyncio.get_running_loop()
    pause = FIRST_PAUSE_SECONDS
    while True:
        async with pool.connection() as conn:
            seen, answer = await read(conn)
        if seen >= position:
            return seen, answer
        metrics.LAGGING_REPLICA_RETRIES.inc()
        if loop.time() + pause >= give_up:
            return None
        await asyncio.sleep(pause)
        pause = min(pause * 2, MAX_PAUSE_SECONDS)
