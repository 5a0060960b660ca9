"""Starts the query service: `python -m query_service` (the only wiring point)."""

from __future__ import annotations

import asyncio
import os
import sys

# Before grpc is imported: with QUERY_WORKERS this process starts children (see tests/conftest.py).
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

from eventkit import config, logs, server, tracing, workers
from query_service.app import App


async def serve(settings: config.QuerySettings, worker: int = 0) -> None:
    """Serves until SIGTERM or SIGINT, then stops cleanly (see App.stop)."""
    app = await App(settings).start()
    workers.serve_metrics(settings.common.metrics_port, worker)
    await server.until_stop_signal()
    await app.stop(process_exits=True)
    server.exit_process(0)  # from inside the loop: asyncio.run's teardown would stop the server


def main() -> int:
    settings = config.load(config.query_settings, "query_service")
    logs.configure(settings.common.log_level, settings.common.log_format, "query")
    worker = workers.worker_index(sys.argv[1:])
    if settings.workers > 1 and worker is None:
        return workers.supervise("query_service", settings.workers)
    if settings.common.tracing:
        tracing.configure("query")
    asyncio.run(serve(settings, worker or 0))
    return 1  # not reached: serve() ends the process


if __name__ == "__main__":
    sys.exit(main())
