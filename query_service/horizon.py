"""Refuses a stream that would start after the event store's head: it would silently skip every event written up to it."""

from __future__ import annotations

import asyncio
from typing import Any

from psycopg_pool import AsyncConnectionPool

from eventkit.errors import OutOfRange
from query_service import queries
from query_service.hub import Hub

# How long to wait for the projector's next reading of the store's head (it takes one per heartbeat,
# PROJECTOR_HEARTBEAT_SECONDS, 2 s by default), and how often to look for it meanwhile.
READING_WAIT_SECONDS = 5.0
LOOK_EVERY_SECONDS = 0.1


async def check_after(pool: AsyncConnectionPool[Any], hub: Hub, after: int, wait: float) -> None:
    """Returns if events may still come after `after`; raises OutOfRange if `after` is beyond the store's head.

    The query service reads the read model only, whose head lags the store's: a position beyond
    the read model's head may be a write the projector has not applied yet (a client following from
    its own write), and refusing it would be wrong. So the answer comes from the store's head as the
    projector read it, and only from a reading taken after this request arrived (both times on the
    read model's clock): a position a client got from a committed write is at or below such a
    reading. Without one (the projector is down, or slower than `wait`), the stream is let through
    and simply waits, as before.
    """
    if after <= hub.head:
        return
    async with pool.connection() as conn:
        asked_at = await queries.clock(conn)
    loop = asyncio.get_running_loop()
    give_up = loop.time() + min(wait, READING_WAIT_SECONDS)
    while after > hub.head and await _projector_alive(pool, hub):
        async with pool.connection() as conn:
            reading = await queries.store_head(conn, hub.projection, asked_at)
        if reading is not None and reading.after_since:
            if after > reading.position:
                raise OutOfRange(
                    f"after_position {after} is beyond the event store's head ({reading.position}):"
                    f" no event has been written there yet; use {reading.position} or less",
                    after_position=str(after),
                    store_head=str(reading.position),
                )
            return
        if loop.time() >= give_up:
            return
        await hub.reached(after, LOOK_EVERY_SECONDS)  # also returns early if the read model gets there


async def _projector_alive(pool: AsyncConnectionPool[Any], hub: Hub) -> bool:
    """Tells whether the projector is alive, asking the read model when the hub has not seen it lately."""
    if hub.projector_alive():
        return True
    # The hub looks once per poll interval: a request right after a projector (re)started would
    # otherwise be let through unchecked although the projector is there to take a reading.
    async with pool.connection() as conn:
        checkpoint = await queries.checkpoint(conn, hub.projection)
    return hub.counts_as_alive(checkpoint.seen_seconds_ago)
