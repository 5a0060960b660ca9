"""Starts the command service: `python -m command_service` (the only wiring point)."""

from __future__ import annotations

import asyncio
import os
import sys

# Before grpc is imported: with COMMAND_WORKERS this process starts children (see tests/conftest.py).
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

from command_service.app import App
from eventkit import config, logs, server, tracing, workers


def main() -> int:
    settings = config.load(config.command_settings, "command_service")
    logs.configure(settings.common.log_level, settings.common.log_format, "command")
    worker = workers.worker_index(sys.argv[1:])
    if settings.workers > 1 and worker is None:
        return workers.supervise("command_service", settings.workers)
    if settings.common.tracing:
        tracing.configure("command")
    if settings.server_stack == "asyncio":
        asyncio.run(_serve_async(settings, worker or 0))
    app = App(settings).start()
    workers.serve_metrics(settings.common.metrics_port, worker or 0)
    server.stop_on_signals(lambda: app.stop(process_exits=True))
    app.wait()
    server.exit_process(0)


async def _serve_async(settings: config.CommandSettings, worker: int) -> None:
    """Serves on grpc.aio until SIGTERM or SIGINT, then stops as the sync stack does (see AsyncApp.stop)."""
    from command_service.aio_app import AsyncApp

    app = await AsyncApp(settings).start()
    workers.serve_metrics(settings.common.metrics_port, worker)
    await server.until_stop_signal()
    await app.stop(process_exits=True)
    server.exit_process(0)  # from inside the loop: asyncio.run's teardown would stop the server


if __name__ == "__main__":
    sys.exit(main())
