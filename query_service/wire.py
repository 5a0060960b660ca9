"""QueryService's registration: StreamEvents sends the bytes the hub encoded once, as they are."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eventkit import handlers
from users.v1 import query_service_pb2_grpc as pb_grpc


def passthrough(original: Callable[[Any], bytes]) -> Callable[[Any], bytes]:
    """Returns a response serializer that sends bytes unchanged and encodes anything else with `original`."""

    def serialize(message: Any) -> bytes:
        return message if isinstance(message, bytes) else original(message)

    return serialize


def register(servicer: Any, server: Any) -> None:
    """Registers QueryService as the generated function does, with responses that are bytes sent as they are.

    Without it, gRPC would encode the same event again for every subscriber it goes to: with 1,000
    subscribers, 1,000 encodings of one event, which was the fan-out's ceiling.
    """
    pb_grpc.add_QueryServiceServicer_to_server(servicer, _Passing(server))


def _passing(handler: Any) -> Any:
    if handler.response_serializer is None:
        return handler
    return handler._replace(response_serializer=passthrough(handler.response_serializer))


class _Passing:
    """Stands in for the server during registration and rewrites each handler's response serializer."""

    def __init__(self, server: Any) -> None:
        self._server = server

    def add_generic_rpc_handlers(self, generic_handlers: Any) -> None:
        self._server.add_generic_rpc_handlers(tuple(handlers.Generic(h, _passing) for h in generic_handlers))

    def add_registered_method_handlers(self, service: str, method_handlers: dict[str, Any]) -> None:
        self._server.add_registered_method_handlers(service, {n: _passing(h) for n, h in method_handlers.items()})
