"""Starts the query service: `python -m query_service` (the only wiring point)."""

from __future__ import annotations

import asyncio
import signal
import sys

from eventkit import config, logs, server, tracing
from query_service.app import App


async def serve(settings: config.QuerySettings) -> None:
    """Serves until SIGTERM or SIGINT, then stops cleanly (see App.stop)."""
    app = await App(settings).start()
    if settings.common.metrics_port:
        from prometheus_client import start_http_server

        start_http_server(settings.common.metrics_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await app.stop(process_exits=True)
    server.exit_process(0)  # from inside the loop: asyncio.run's teardown would stop the server


def main() -> int:
    settings = config.load(config.query_settings, "query_service")
    logs.configure(settings.common.log_level, settings.common.log_format, "query")
    if settings.common.tracing:
        tracing.configure("query")
    asyncio.run(serve(settings))
    return 1  # not reached: serve() ends the process


if __name__ == "__main__":
    sys.exit(main())
