"""Server reflection that also resolves method symbols, working around grpc/grpc#34743."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import grpc
from grpc_reflection.v1alpha import _async as reflection_aio
from grpc_reflection.v1alpha import reflection, reflection_pb2_grpc


def _containing_symbol(base: Any, servicer: Any, request: Any, name: str) -> Any:
    # The upb descriptor pool finds services and messages but not their members, so
    # `grpcurl describe users.v1.QueryService.GetUser` gets NOT_FOUND from the stock servicer.
    # A member's file is its parent's file: retry with the last name component removed.
    response = base._file_containing_symbol(servicer, request, name)
    if response.HasField("error_response") and "." in name:
        parent = name.rsplit(".", 1)[0]
        try:
            servicer._pool.FindServiceByName(parent)
        except KeyError:
            try:
                servicer._pool.FindMessageTypeByName(parent)
            except KeyError:
                return response
        return base._file_containing_symbol(servicer, request, parent)
    return response


class _Reflection(reflection.ReflectionServicer):
    def _file_containing_symbol(self, request: Any, fully_qualified_name: str) -> Any:
        return _containing_symbol(reflection.ReflectionServicer, self, request, fully_qualified_name)


class _AsyncReflection(reflection_aio.ReflectionServicer):
    def _file_containing_symbol(self, request: Any, fully_qualified_name: str) -> Any:
        return _containing_symbol(reflection_aio.ReflectionServicer, self, request, fully_qualified_name)


def enable(server: grpc.Server | grpc.aio.Server, service_names: Iterable[str], registrar: Any = None) -> None:
    """Registers reflection for `service_names` (plus reflection itself) on `server`, through `registrar` if given."""
    names = list(service_names) + [reflection.SERVICE_NAME]
    servicer_class = _AsyncReflection if isinstance(server, grpc.aio.Server) else _Reflection
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(servicer_class(names), registrar or server)
