"""Starts the query service: `python -m query_service` (the only wiring point)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys

from eventkit import config, db, logs, server
from query_service.hub import Hub
from query_service.service import QueryService
from query_service.tokens import PageTokens
from users.v1 import query_service_pb2, query_service_pb2_grpc

log = logging.getLogger("query_service")

SERVICE_NAME = query_service_pb2.DESCRIPTOR.services_by_name["QueryService"].full_name


async def serve(settings: config.QuerySettings) -> None:
    """Serves until SIGTERM or SIGINT, then ends every stream with a clean status and stops."""
    pool = await db.pool_async(settings.read_model, "query", timeout=10.0)
    hub = Hub(settings.read_model, settings.projection_name, settings.poll_interval, settings.projector_stale_after)
    service = QueryService(
        pool, hub, PageTokens(settings.page_token_secret), settings.subscriber_buffer, settings.heartbeat_interval
    )
    running = await server.start_async(
        [server.Service(SERVICE_NAME, query_service_pb2_grpc.add_QueryServiceServicer_to_server, service)],
        settings.common.listen_host,
        settings.port,
        settings.common.transport,
    )
    following = asyncio.create_task(hub.run(running.health.set), name="hub")
    if settings.common.metrics_port:
        from prometheus_client import start_http_server

        start_http_server(settings.common.metrics_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    log.info("query service listening", extra={"port": running.port})
    await stop.wait()
    log.info("stopping", extra={"streams": hub.subscribers})
    await running.health.shutdown()
    hub.close()  # streams end now with UNAVAILABLE, so the grace period is not spent waiting on them
    await running.server.stop(settings.common.shutdown_grace)
    following.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await following
    await pool.close()


def main() -> int:
    settings = config.load(config.query_settings, "query_service")
    logs.configure(settings.common.log_level, settings.common.log_format, "query")
    asyncio.run(serve(settings))
    log.info("query service stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
