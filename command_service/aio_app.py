"""Builds, starts and stops the command service on the asyncio stack (COMMAND_SERVER_STACK=asyncio)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from command_service import keyring
from command_service.aio_service import AsyncCommandService, LoopWaiters
from command_service.app import SERVICE_NAME
from command_service.appender import Appender, Timeouts
from eventkit import config, observing, server
from eventkit.watchdog import Reachability, probe
from users.v1 import command_service_pb2_grpc

log = logging.getLogger("command_service")

WATCH_INTERVAL_SECONDS = 1.0


class AsyncApp:
    """The command service as `App` builds it, with the gRPC server on grpc.aio; the appender stays one thread."""

    def __init__(self, settings: config.CommandSettings) -> None:
        self.settings = settings
        self.connect, keys = keyring.wire(settings.event_store, settings.key_store)
        timeouts = Timeouts(settings.append_lock_timeout, settings.append_statement_timeout)
        self.appender = Appender(self.connect, settings.batch_max, timeouts, keys)
        self._running: server.RunningAsync | None = None
        self._watching: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        assert self._running is not None, "start() first"
        return self._running.port

    async def start(self) -> AsyncApp:
        """Starts the appender, the server (health NOT_SERVING) and the watchdog that turns it SERVING."""
        waiters = LoopWaiters(asyncio.get_running_loop())
        self.appender.on_answered(waiters.answered)
        self.appender.start()
        self._running = await server.start_async(
            [
                server.Service(
                    SERVICE_NAME,
                    command_service_pb2_grpc.add_CommandServiceServicer_to_server,
                    AsyncCommandService(self.appender, waiters),
                    writes=True,
                )
            ],
            self.settings.common.listen_host,
            self.settings.port,
            self.settings.common.transport,
            correlate=observing.Correlate([SERVICE_NAME], make_missing=True),
            reuse_port=self.settings.workers > 1,
        )
        self._watching = asyncio.create_task(self._watch(self._running.health), name="db-watchdog")
        log.info("command service listening", extra={"port": self._running.port, "stack": "asyncio"})
        return self

    async def _watch(self, health: server.AsyncHealth) -> None:
        """SERVING while the event store answers a fresh connection, NOT_SERVING otherwise (as watch_database)."""
        reachability = Reachability()
        while True:
            ok, error = await asyncio.to_thread(probe, lambda: self.connect().close())
            if reachability.changed(ok, error):
                await health.set(ok)
            await asyncio.sleep(WATCH_INTERVAL_SECONDS)

    async def stop(self, process_exits: bool = False) -> None:
        """Stops as `App.stop` does: new calls UNAVAILABLE, a grace to drain, then the batch left is cancelled."""
        assert self._running is not None and self._watching is not None
        self._watching.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._watching
        await self._running.stop(
            self.settings.common.shutdown_grace, stop_server=not process_exits, on_overrun=self.appender.abandon
        )
        await asyncio.to_thread(self.appender.stop)
        log.info("command service stopped")
