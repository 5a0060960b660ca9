"""The reference server: the same Python gRPC stack and messages as the services, with no work behind them.

`python -m bench.trivial PORT [MAX_WORKERS]` serves users.v1.CommandService.AddUser (a canned reply)
and users.v1.QueryService.StreamEvents (`after_position` messages as fast as the stack sends them),
on the services' own server skeleton, so the ratio of a service to it is the cost of the service's work.
"""

from __future__ import annotations

import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import grpc

from eventkit import server
from eventkit.timestamps import to_timestamp
from users.v1 import (
    command_service_pb2,
    command_service_pb2_grpc,
    query_service_pb2,
    query_service_pb2_grpc,
    resources_pb2,
)

# The command service's default GRPC_MAX_WORKERS, so both servers have the same thread pool.
DEFAULT_WORKERS = 32


class TrivialCommands(command_service_pb2_grpc.CommandServiceServicer):
    """Answers AddUser at once with a reply of the real reply's shape."""

    def AddUser(self, request: Any, context: grpc.ServicerContext) -> Any:
        now = to_timestamp(datetime.now(UTC))
        user = resources_pb2.User(id=str(uuid.uuid4()), name=request.name, version=1, create_time=now, update_time=now)
        return command_service_pb2.AddUserResponse(user=user, position=1)


class TrivialQueries(query_service_pb2_grpc.QueryServiceServicer):
    """Streams `after_position` events of the real event's shape, as fast as the stack sends them."""

    def StreamEvents(self, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        user_id = str(uuid.uuid4())
        for position in range(1, request.after_position + 1):
            now = to_timestamp(datetime.now(UTC))
            event = resources_pb2.Event(
                position=position,
                type=resources_pb2.EVENT_TYPE_USER_ADDED,
                user_id=user_id,
                version=1,
                name="bench user",
                record_time=now,
            )
            yield query_service_pb2.StreamEventsResponse(event=event)


def main() -> int:
    """Serves until SIGTERM."""
    port = int(sys.argv[1])
    workers = int(sys.argv[2]) if len(sys.argv) > 2 else DEFAULT_WORKERS
    commands = command_service_pb2.DESCRIPTOR.services_by_name["CommandService"].full_name
    queries = query_service_pb2.DESCRIPTOR.services_by_name["QueryService"].full_name
    running = server.start(
        [
            server.Service(commands, command_service_pb2_grpc.add_CommandServiceServicer_to_server, TrivialCommands()),
            server.Service(queries, query_service_pb2_grpc.add_QueryServiceServicer_to_server, TrivialQueries()),
        ],
        "127.0.0.1",
        port,
        workers,
    )
    running.health.set(True)
    stopped = threading.Event()
    server.stop_on_signals(lambda: (running.server.stop(1).wait(), stopped.set()))
    running.server.wait_for_termination()
    return 0


if __name__ == "__main__":
    sys.exit(main())
