"""The reference server on the other Python gRPC stack: grpc.aio, the services' asyncio skeleton, no work.

`python -m bench.trivial_aio PORT` serves users.v1.CommandService.AddUser (the canned reply of
`bench.trivial`) and users.v1.QueryService.StreamEvents (its stream) on `eventkit.server.start_async`,
the skeleton the query service runs on. A service must be compared with the faster of the two
stacks, so a slower one cannot make its ratio look good.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import Any

import grpc

from bench.trivial import TrivialCommands, TrivialQueries
from eventkit import server
from users.v1 import command_service_pb2, command_service_pb2_grpc, query_service_pb2, query_service_pb2_grpc


class AsyncTrivialCommands(command_service_pb2_grpc.CommandServiceServicer):
    """Answers AddUser at once, from the event loop."""

    def __init__(self) -> None:
        self._sync = TrivialCommands()

    async def AddUser(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # type: ignore[override]
        return self._sync.AddUser(request, context)  # type: ignore[arg-type]


class AsyncTrivialQueries(query_service_pb2_grpc.QueryServiceServicer):
    """Streams the messages of `bench.trivial`'s stream, from the event loop."""

    def __init__(self) -> None:
        self._sync = TrivialQueries()

    async def StreamEvents(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # type: ignore[override]
        for message in self._sync.StreamEvents(request, context):  # type: ignore[arg-type]
            yield message


async def serve(port: int) -> None:
    """Serves until SIGTERM or SIGINT."""
    commands = command_service_pb2.DESCRIPTOR.services_by_name["CommandService"].full_name
    queries = query_service_pb2.DESCRIPTOR.services_by_name["QueryService"].full_name
    running = await server.start_async(
        [
            server.Service(
                commands, command_service_pb2_grpc.add_CommandServiceServicer_to_server, AsyncTrivialCommands()
            ),
            server.Service(queries, query_service_pb2_grpc.add_QueryServiceServicer_to_server, AsyncTrivialQueries()),
        ],
        "127.0.0.1",
        port,
    )
    await running.health.set(True)
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopped.set)
    await stopped.wait()
    await running.server.stop(1)


def main() -> int:
    """Serves on the port given as the first argument."""
    asyncio.run(serve(int(sys.argv[1])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
