"""The QueryService gRPC edge: reads the read model, waits for positions, relays the event stream."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, NoReturn, TypeVar

import grpc
import psycopg
from psycopg_pool import AsyncConnectionPool

from eventkit.errors import DeadlineExceeded, InvalidArgument, NotFound, ShuttingDown, Unavailable
from eventkit.rows import UserRow
from eventkit.status import grpc_errors
from query_service import horizon, messages, metrics, queries, replicas, requests
from query_service.hub import Hub
from query_service.limits import StreamLimits
from query_service.stream import Subscription
from query_service.tokens import PageTokens
from users.v1 import query_service_pb2 as pb
from users.v1 import query_service_pb2_grpc as pb_grpc

# The longest a read with min_position waits, whatever its deadline (READ_MAX_WAIT_SECONDS): a
# caller with a one-day deadline must not hold a waiter that long.
DEFAULT_MAX_WAIT_SECONDS = 30.0
_NO_DEADLINE = 365 * 24 * 3600.0

T = TypeVar("T")


def _answer_margin(remaining: float) -> float:
    # Stop waiting a little before the deadline, so the caller gets our status (UNAVAILABLE or
    # DEADLINE_EXCEEDED with a reason) rather than its own client-side timeout.
    return min(0.1, remaining * 0.1)


class QueryService(pb_grpc.QueryServiceServicer):
    """Serves GetUser, ListUsers and StreamEvents from the read model, through one hub per process."""

    def __init__(
        self,
        pool: AsyncConnectionPool,
        hub: Hub,
        tokens: PageTokens,
        buffer: int,
        heartbeat: float,
        primary: AsyncConnectionPool | None = None,
        limits: StreamLimits | None = None,
        max_wait: float = DEFAULT_MAX_WAIT_SECONDS,
    ) -> None:
        self._pool = pool  # reads: the replica's, or the primary's when there is none
        # The store-head check compares the projector's readings with the clock that stamped them.
        self._primary = primary or pool
        self._hub = hub
        self._tokens = tokens
        self._buffer = buffer
        self._heartbeat = heartbeat
        self._limits = limits or StreamLimits(per_process=1000, per_connection=256)
        self._max_wait = max_wait

    def _require_ready(self) -> None:
        if self._hub.closed:
            raise ShuttingDown("the server is shutting down")
        if not self._hub.ready:
            raise Unavailable("the read model is not reachable yet; retry later")

    def _wait_budget(self, context: grpc.aio.ServicerContext) -> float:
        """Returns how many seconds a read may wait for a position: the deadline's, less a margin."""
        remaining = context.time_remaining()  # None, or a huge number, without a deadline
        if remaining is None or remaining > _NO_DEADLINE:
            return self._max_wait
        return min(max(remaining - _answer_margin(remaining), 0.0), self._max_wait)

    async def _reflect(self, position: int, context: grpc.aio.ServicerContext) -> float:
        """Waits until the hub has applied `position` (read-your-writes), or raises; returns when reads must give up.

        The result is a time on the loop's clock: the read that follows may still meet a replica
        that lags the hub's (see replicas.py) and waits for it until then.
        """
        self._require_ready()
        wait = self._wait_budget(context)
        give_up = asyncio.get_running_loop().time() + wait
        if position <= self._hub.head:
            return give_up
        started = time.perf_counter()
        reached = await self._hub.reached(position, wait)
        metrics.READ_WAIT_SECONDS.observe(time.perf_counter() - started)
        if not reached:
            self._not_reached(position, wait)
        metrics.READ_WAITS.labels("reached").inc()
        return give_up

    def _not_reached(self, position: int, wait: float | None) -> NoReturn:
        """Raises what a read that waited `wait` seconds (None: on a lagging replica) for `position` in vain answers."""
        if self._hub.closed or not self._hub.projector_alive():
            metrics.READ_WAITS.labels("unavailable").inc()
        else:
            metrics.READ_WAITS.labels("timeout").inc()
        if self._hub.closed:
            raise ShuttingDown("the server is shutting down")
        if not self._hub.projector_alive():
            raise Unavailable(
                f"position {position} is not applied and the projector is not running", min_position=str(position)
            )
        if wait is None:
            raise DeadlineExceeded(
                f"position {position} was not replayed in time by the replica serving this read",
                min_position=str(position),
            )
        raise DeadlineExceeded(
            f"position {position} was not applied within {wait:.1f}s", min_position=str(position), waited=f"{wait:.1f}"
        )

    async def _read(
        self,
        position: int,
        give_up: float,
        read: Callable[[psycopg.AsyncConnection[Any]], Awaitable[tuple[int, T]]],
    ) -> tuple[int, T]:
        """Runs `read` on a connection whose server has applied `position`, or raises as a vain wait does."""
        got = await replicas.read_at_least(self._pool, position, give_up, read)
        if got is None:
            self._not_reached(position, None)
        return got

    @grpc_errors
    async def GetUser(self, request: pb.GetUserRequest, context: grpc.aio.ServicerContext) -> Any:
        user_id = requests.parse_id(request.id)
        position = requests.min_position(request.min_position)
        give_up = await self._reflect(position, context)
        # The checkpoint comes with the row, from the same snapshot: the answer reflects exactly that
        # position, which tells a caller whether its write (a later position) can be in it yet.
        projection = self._hub.projection
        read_position, row = await self._read(
            position, give_up, lambda conn: queries.user_as_of(conn, projection, user_id)
        )
        if row is None:
            raise NotFound(f"user {user_id} not found", user_id=user_id, read_position=str(read_position))
        return pb.GetUserResponse(user=messages.user(row))

    @grpc_errors
    async def ListUsers(self, request: pb.ListUsersRequest, context: grpc.aio.ServicerContext) -> Any:
        size = requests.page_size(request.page_size)
        prefix = requests.name_prefix(request.name_prefix)
        if not self._tokens.ready:  # no PAGE_TOKEN_SECRET: the read model's own random key
            async with self._pool.connection() as conn:
                self._tokens.use(await queries.page_token_key(conn))
        try:
            after = self._tokens.decode(request.page_token, prefix) if request.page_token else queries.FIRST_KEY
        except InvalidArgument:
            metrics.PAGE_TOKEN_REJECTIONS.inc()
            raise
        position = requests.min_position(request.min_position)
        give_up = await self._reflect(position, context)
        projection = self._hub.projection

        async def read(conn: psycopg.AsyncConnection[Any]) -> tuple[int, list[tuple[UserRow, str]]]:
            # The checkpoint first, on the same connection: replay only moves forward, so the page
            # read next reflects at least it. Without min_position there is nothing to check.
            seen = await queries.applied(conn, projection) if position else 0
            return seen, await queries.list_users(conn, prefix, after, size + 1)  # one more tells if a next page exists

        _, rows = await self._read(position, give_up, read)
        page = rows[:size]
        token = self._tokens.encode((page[-1][1], page[-1][0].id), prefix) if len(rows) > size else ""
        return pb.ListUsersResponse(users=[messages.user(row) for row, _ in page], next_page_token=token)

    @grpc_errors
    async def StreamEvents(
        self, request: pb.StreamEventsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[Any]:
        wanted = requests.stream_filter(list(request.event_types), request.user_id)
        after = requests.after_position(request.HasField("after_position"), request.after_position)
        delay = request.max_batch_delay
        batching = requests.batching(request.max_batch_size, delay.seconds, delay.nanos)
        self._require_ready()
        if after is not None:
            remaining = context.time_remaining()
            await horizon.check_after(
                self._primary, self._hub, after, horizon.READING_WAIT_SECONDS if remaining is None else remaining
            )
        slot = self._limits.admit(context.peer())
        subscription = Subscription(self._hub, self._pool, wanted, self._buffer, self._heartbeat, batching)

        def ended(_: object) -> None:
            # Frees the subscriber and its place the moment the call ends, even while the stream is
            # parked in a write to a client that stopped reading.
            self._hub.detach(subscription.subscriber)
            slot.release()

        context.add_done_callback(ended)
        try:
            async for message in subscription.messages(after):
                yield message
        finally:
            slot.release()
