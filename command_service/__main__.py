"""Starts the command service: `python -m command_service` (the only wiring point)."""

from __future__ import annotations

import logging
import sys
import threading

from command_service.appender import Appender
from command_service.service import CommandService
from eventkit import config, logs, server
from eventkit.startup import migrating_connector
from eventkit.watchdog import watch_database
from users.v1 import command_service_pb2, command_service_pb2_grpc

log = logging.getLogger("command_service")


def main() -> int:
    settings = config.load(config.command_settings, "command_service")
    logs.configure(settings.common.log_level, settings.common.log_format, "command")
    connect = migrating_connector(settings.event_store, "event_store")
    appender = Appender(connect, settings.batch_max)
    appender.start()
    service_name = command_service_pb2.DESCRIPTOR.services_by_name["CommandService"].full_name
    running = server.start(
        [
            server.Service(
                service_name,
                command_service_pb2_grpc.add_CommandServiceServicer_to_server,
                CommandService(appender),
                writes=True,
            )
        ],
        settings.common.listen_host,
        settings.port,
        settings.max_workers,
        settings.common.transport,
    )
    if settings.common.metrics_port:
        from prometheus_client import start_http_server

        start_http_server(settings.common.metrics_port)
    stopping = threading.Event()

    def check() -> None:
        connect().close()

    watch_database(check, running.health, stopping)
    log.info("command service listening", extra={"port": running.port})

    def stop() -> None:
        stopping.set()
        running.health.shutdown()
        running.server.stop(settings.common.shutdown_grace).wait()

    server.stop_on_signals(stop)
    running.server.wait_for_termination()
    appender.stop()
    log.info("command service stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
