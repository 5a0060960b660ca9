"""An in-process QueryService on a free port, its asyncio loop in a thread, for integration tests."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import threading
from collections.abc import Iterator
from typing import Any

import grpc

from eventkit import config
from eventkit.config import Database
from query_service.app import App
from query_service.hub import Hub
from tests.support.waiting import wait_until
from users.v1 import query_service_pb2_grpc


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


def query_settings(
    database: Database,
    *,
    buffer: int,
    heartbeat: float,
    stale_after: float,
    poll_interval: float,
    secret: bytes | None,
    projection: str,
    replica: Database | None = None,
    max_streams: int = 1000,
    max_streams_per_connection: int = 256,
    max_wait: float = 30.0,
) -> config.QuerySettings:
    """Returns the settings the service would read from an environment with these values."""
    owner = {"READ_MODEL_MIGRATION_DSN": database.migration_dsn} if database.migration_dsn else {}
    return config.query_settings(
        {
            "READ_MODEL_REPLICA_DSN": replica.dsn if replica else "",
            **owner,
            "STREAM_MAX_PER_PROCESS": str(max_streams),
            "STREAM_MAX_PER_CONNECTION": str(max_streams_per_connection),
            "READ_MAX_WAIT_SECONDS": str(max_wait),
            "READ_MODEL_DSN": database.dsn,
            "READ_MODEL_SCHEMA": database.schema,
            "LISTEN_HOST": "127.0.0.1",
            "QUERY_SERVICE_PORT": "0",
            "STREAM_SUBSCRIBER_BUFFER": str(buffer),
            "STREAM_HEARTBEAT_SECONDS": str(heartbeat),
            "PROJECTOR_STALE_AFTER_SECONDS": str(stale_after),
            "QUERY_POLL_INTERVAL_SECONDS": str(poll_interval),
            "PAGE_TOKEN_SECRET": secret.decode() if secret else "",
            "PROJECTION_NAME": projection,
            "SHUTDOWN_GRACE_SECONDS": "5",
        }
    )


@contextlib.contextmanager
def query_server(
    database: Database,
    *,
    buffer: int = 1024,
    heartbeat: float = 5.0,
    stale_after: float = 15.0,
    poll_interval: float = 1.0,
    secret: bytes | None = b"test secret",
    projection: str = "users",
    pool_timeout: float = 10.0,
    replica: Database | None = None,
    max_streams: int = 1000,
    max_streams_per_connection: int = 256,
    max_wait: float = 30.0,
) -> Iterator[QueryServer]:
    """Serves QueryService on 127.0.0.1:<free port> until the block ends, wired as `__main__` wires it."""
    settings = query_settings(
        database,
        buffer=buffer,
        heartbeat=heartbeat,
        stale_after=stale_after,
        poll_interval=poll_interval,
        secret=secret,
        projection=projection,
        replica=replica,
        max_streams=max_streams,
        max_streams_per_connection=max_streams_per_connection,
        max_wait=max_wait,
    )
    app = App(settings, pool_timeout=pool_timeout)
    loop = asyncio.new_event_loop()
    started: dict[str, Any] = {}
    stopped = threading.Event()

    async def serve() -> None:
        try:
            await app.start()
        except BaseException as exc:
            started["error"] = exc
            raise
        done = asyncio.Event()

        async def stop() -> None:
            await app.stop()
            done.set()

        started.update(port=app.port, stop=stop)
        await done.wait()

    thread = threading.Thread(target=lambda: (loop.run_until_complete(serve()), stopped.set()), daemon=True)
    thread.start()

    def ready() -> bool:
        if "error" in started:
            raise RuntimeError("the query service failed to start") from started["error"]
        return "port" in started and app.hub.ready

    wait_until(ready, timeout=60, message="query service ready")
    address = f"127.0.0.1:{started['port']}"
    channel = grpc.insecure_channel(address)
    running = QueryServer(
        address, query_service_pb2_grpc.QueryServiceStub(channel), app.hub, loop, stopped, started["stop"]
    )
    try:
        yield running
    finally:
        channel.close()
        running.shutdown()
        thread.join(timeout=30)
        loop.close()
