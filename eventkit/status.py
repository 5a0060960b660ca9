"""The one table that maps domain errors to gRPC status codes, and the decorators that apply it at the edge."""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any

import grpc
import psycopg
import psycopg_pool
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from eventkit import errors

log = logging.getLogger(__name__)

ERROR_DOMAIN = "users.v1"

STATUS_OF: dict[type[errors.DomainError], grpc.StatusCode] = {
    errors.InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    errors.NotFound: grpc.StatusCode.NOT_FOUND,
    errors.VersionConflict: grpc.StatusCode.ABORTED,
    errors.RequestIdReused: grpc.StatusCode.ALREADY_EXISTS,
    errors.UnreadableHistory: grpc.StatusCode.DATA_LOSS,
    errors.OutOfRange: grpc.StatusCode.OUT_OF_RANGE,
    errors.Unavailable: grpc.StatusCode.UNAVAILABLE,
    errors.DeadlineExceeded: grpc.StatusCode.DEADLINE_EXCEEDED,
    errors.Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    errors.PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    errors.TooManyStreams: grpc.StatusCode.RESOURCE_EXHAUSTED,
}

# Driver errors that mean "the database cannot be reached now", not "this request is wrong".
UNREACHABLE = (psycopg.OperationalError, psycopg_pool.PoolTimeout)


def translate(exc: BaseException) -> errors.DomainError | None:
    """Returns the domain error a caller should see for `exc`, or None when it is a bug."""
    if isinstance(exc, errors.DomainError):
        return exc
    if isinstance(exc, UNREACHABLE):
        return errors.Unavailable("the database is unreachable; retry later")
    return None


def to_status(error: errors.DomainError) -> grpc.Status:
    """Builds a rich status: code, short message and an ErrorInfo with the stable reason."""
    code = STATUS_OF.get(type(error)) or next(
        (c for cls, c in STATUS_OF.items() if isinstance(error, cls)), grpc.StatusCode.UNKNOWN
    )
    info = error_details_pb2.ErrorInfo(reason=error.reason, domain=ERROR_DOMAIN, metadata=error.metadata)
    detail = any_pb2.Any()
    detail.Pack(info)
    status = status_pb2.Status(code=code.value[0], message=error.message, details=[detail])
    return rpc_status.to_status(status)


def _internal() -> grpc.Status:
    status = status_pb2.Status(code=code_pb2.INTERNAL, message="internal error; see the service log")
    return rpc_status.to_status(status)


def _status_for(exc: BaseException, method: str) -> grpc.Status:
    error = translate(exc)
    if error is None:
        log.exception("unexpected error in %s", method)
        return _internal()
    return to_status(error)


def grpc_errors(method: Callable[..., Any]) -> Callable[..., Any]:
    """Wraps a servicer method (sync, async, or async generator) so that errors become statuses."""
    name = method.__qualname__
    if inspect.isasyncgenfunction(method):

        @functools.wraps(method)
        async def stream_wrapper(self: Any, request: Any, context: Any) -> Any:
            try:
                async for item in method(self, request, context):
                    yield item
            except Exception as exc:
                if isinstance(exc, grpc.aio.AbortError):
                    raise
                status = _status_for(exc, name)
                await context.abort(status.code, status.details, status.trailing_metadata)

        return stream_wrapper
    if inspect.iscoroutinefunction(method):

        @functools.wraps(method)
        async def async_wrapper(self: Any, request: Any, context: Any) -> Any:
            try:
                return await method(self, request, context)
            except Exception as exc:
                if isinstance(exc, grpc.aio.AbortError):
                    raise
                status = _status_for(exc, name)
                await context.abort(status.code, status.details, status.trailing_metadata)

        return async_wrapper

    @functools.wraps(method)
    def wrapper(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return method(self, request, context)
        except Exception as exc:
            if isinstance(exc, grpc.RpcError) and context.code() is not None:
                raise
            context.abort_with_status(_status_for(exc, name))

    return wrapper
