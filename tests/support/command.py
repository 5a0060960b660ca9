"""An in-process CommandService on a free port, backed by a real event store."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import grpc

from command_service.appender import Appender
from command_service.service import CommandService
from eventkit import server
from eventkit.config import Database
from eventkit.startup import migrating_connector
from users.v1 import command_service_pb2, command_service_pb2_grpc

SERVICE_NAME = command_service_pb2.DESCRIPTOR.services_by_name["CommandService"].full_name


@contextlib.contextmanager
def command_server(database: Database) -> Iterator[command_service_pb2_grpc.CommandServiceStub]:
    """Serves CommandService on 127.0.0.1:<free port> and yields a stub connected to it."""
    connect = migrating_connector(database, "event_store")
    connect().close()  # the schema exists before the first test query, whatever the test sends
    appender = Appender(connect)
    appender.start()
    running = server.start(
        [
            server.Service(
                SERVICE_NAME, command_service_pb2_grpc.add_CommandServiceServicer_to_server, CommandService(appender)
            )
        ],
        "127.0.0.1",
        0,
        max_workers=64,
    )
    channel = grpc.insecure_channel(f"127.0.0.1:{running.port}")
    try:
        yield command_service_pb2_grpc.CommandServiceStub(channel)
    finally:
        channel.close()
        running.server.stop(None).wait()
        appender.stop()
