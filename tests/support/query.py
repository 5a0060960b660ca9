"""An in-process QueryService on a free port, its asyncio loop in a thread, for integration tests."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import threading
from collections.abc import Iterator
from typing import Any

import grpc

from eventkit import db, server
from eventkit.config import Database
from query_service.hub import Hub
from query_service.service import QueryService
from query_service.tokens import PageTokens
from tests.support.waiting import wait_until
from users.v1 import query_service_pb2, query_service_pb2_grpc

SERVICE_NAME = query_service_pb2.DESCRIPTOR.services_by_name["QueryService"].full_name


@dataclasses.dataclass
class QueryServer:
    """A running in-process query service: its address, a stub, its hub, and a way to stop it."""

    address: str
    stub: query_service_pb2_grpc.QueryServiceStub
    hub: Hub
    loop: asyncio.AbstractEventLoop
    stopped: threading.Event
    _stop: Any = None
    stopping: bool = False

    def shutdown(self) -> None:
        """Stops as SIGTERM does: streams end with UNAVAILABLE, then the server stops (once)."""
        if not self.stopping:
            self.stopping = True
            asyncio.run_coroutine_threadsafe(self._stop(), self.loop).result(timeout=30)


@contextlib.contextmanager
def query_server(
    database: Database,
    *,
    buffer: int = 1024,
    heartbeat: float = 5.0,
    stale_after: float = 15.0,
    poll_interval: float = 1.0,
    secret: bytes = b"test secret",
    projection: str = "users",
    pool_timeout: float = 10.0,
) -> Iterator[QueryServer]:
    """Serves QueryService on 127.0.0.1:<free port> until the block ends."""
    loop = asyncio.new_event_loop()
    started: dict[str, Any] = {}
    stopped = threading.Event()

    async def main() -> None:
        try:
            await serve()
        except BaseException as exc:
            started["error"] = exc
            raise

    async def serve() -> None:
        pool = await db.pool_async(database, "query-test", timeout=pool_timeout)
        hub = Hub(database, projection, poll_interval, stale_after)
        service = QueryService(pool, hub, PageTokens(secret), buffer, heartbeat)
        running = await server.start_async(
            [server.Service(SERVICE_NAME, query_service_pb2_grpc.add_QueryServiceServicer_to_server, service)],
            "127.0.0.1",
            0,
        )
        following = asyncio.create_task(hub.run(running.health.set))
        done = asyncio.Event()

        async def stop() -> None:
            await running.health.shutdown()
            hub.close()
            await running.server.stop(5)
            following.cancel()
            await pool.close()
            done.set()

        started.update(port=running.port, hub=hub, stop=stop)
        await done.wait()

    thread = threading.Thread(target=lambda: (loop.run_until_complete(main()), stopped.set()), daemon=True)
    thread.start()

    def ready() -> bool:
        if "error" in started:
            raise RuntimeError("the query service failed to start") from started["error"]
        return "port" in started and started["hub"].ready

    wait_until(ready, timeout=60, message="query service ready")
    address = f"127.0.0.1:{started['port']}"
    channel = grpc.insecure_channel(address)
    running = QueryServer(
        address, query_service_pb2_grpc.QueryServiceStub(channel), started["hub"], loop, stopped, started["stop"]
    )
    try:
        yield running
    finally:
        channel.close()
        running.shutdown()
        thread.join(timeout=30)
        loop.close()
