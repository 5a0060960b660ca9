"""Builds, starts and stops the query service: the one wiring used by `__main__` and by the tests."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging

from psycopg_pool import AsyncConnectionPool

from eventkit import config, db, observing, pool_metrics, server
from query_service import metrics, wire
from query_service.hub import Hub
from query_service.limits import StreamLimits
from query_service.service import QueryService
from query_service.tokens import PageTokens
from users.v1 import query_service_pb2

log = logging.getLogger("query_service")

# Reading from a replica, the primary serves only StreamEvents' store-head check (horizon.py).
PRIMARY_POOL_SIZE = 2

SERVICE_NAME = query_service_pb2.DESCRIPTOR.services_by_name["QueryService"].full_name


class App:
    """The query service: a read-model pool, the hub that follows the projection, and the gRPC server."""

    def __init__(self, settings: config.QuerySettings, pool_timeout: float = 10.0) -> None:
        self.settings = settings
        self.hub = Hub(
            settings.read_model,
            settings.projection_name,
            settings.poll_interval,
            settings.projector_stale_after,
            settings.replica,
        )
        self._pool_timeout = pool_timeout
        self._pool: AsyncConnectionPool | None = None
        self._primary: AsyncConnectionPool | None = None  # with a replica: the store-head check only
        self._running: server.RunningAsync | None = None
        self._following: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        assert self._running is not None, "start() first"
        return self._running.port

    async def start(self) -> App:
        """Opens the pool, starts the server (health NOT_SERVING) and the hub that turns it SERVING."""
        settings = self.settings
        self._pool = await db.pool_async(settings.replica or settings.read_model, "query", timeout=self._pool_timeout)
        if settings.replica is not None:
            primary = dataclasses.replace(settings.read_model, pool_size=PRIMARY_POOL_SIZE)
            self._primary = await db.pool_async(primary, "query-primary", timeout=self._pool_timeout)
        service = QueryService(
            self._pool,
            self.hub,
            PageTokens(settings.page_token_secret),
            settings.subscriber_buffer,
            settings.heartbeat_interval,
            self._primary,
            StreamLimits(settings.max_streams, settings.max_streams_per_connection),
            settings.max_wait,
        )
        self._running = await server.start_async(
            [server.Service(SERVICE_NAME, wire.register, service)],
            settings.common.listen_host,
            settings.port,
            settings.common.transport,
            correlate=observing.Correlate([SERVICE_NAME], make_missing=False),
            reuse_port=settings.workers > 1,
        )
        self._following = asyncio.create_task(self.hub.run(self._running.health.set), name="hub")
        metrics.SUBSCRIBERS.set_function(lambda: self.hub.subscribers)
        metrics.READ_MODEL_POSITION.set_function(lambda: self.hub.head)
        pool_metrics.watch("query", self._pool)
        log.info("query service listening", extra={"port": self._running.port})
        return self

    async def stop(self, process_exits: bool = False) -> None:
        """Health NOT_SERVING, new calls UNAVAILABLE, streams end with UNAVAILABLE, reads drain for the grace.

        Reads still running after the grace (a database that does not answer) are ended with
        UNAVAILABLE by the server's gate, so the stop takes bounded time. With `process_exits` the
        gRPC server is left to the process's exit (see server.exit_process).
        """
        assert self._running is not None and self._following is not None and self._pool is not None
        log.info("stopping", extra={"streams": self.hub.subscribers})
        # Streams end at once with UNAVAILABLE, so the grace is not spent waiting on them.
        await self._running.stop(
            self.settings.common.shutdown_grace, closing=self.hub.close, stop_server=not process_exits
        )
        self._following.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._following
        await self._pool.close(timeout=server.AFTER_GRACE_SECONDS)
        if self._primary is not None:
            await self._primary.close(timeout=server.AFTER_GRACE_SECONDS)
        log.info("query service stopped")
