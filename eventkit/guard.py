"""Server interceptors that let a call through only with a valid bearer token of a sufficient role."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from eventkit import errors, handlers, status
from eventkit.auth import Authorizer

log = logging.getLogger(__name__)


def _refusal(handler: Any, error: errors.DomainError, asynchronous: bool) -> Any:
    # No deserializer: a refused request is never parsed, so its bytes cannot matter.
    refuse = handlers.aborting(status.to_status(error), asynchronous)
    return handlers.replace(handler, lambda _behavior, _kind: refuse, request_deserializer=None)


def _decide(authorizer: Authorizer, details: grpc.HandlerCallDetails) -> errors.DomainError | None:
    error = authorizer.check(details.method, details.invocation_metadata or ())
    if error is not None:
        log.info("call refused", extra={"method": details.method, "reason": error.reason})
    return error


class Guard(grpc.ServerInterceptor):
    """Refuses calls without a valid token (UNAUTHENTICATED) or with too weak a role (PERMISSION_DENIED)."""

    def __init__(self, authorizer: Authorizer) -> None:
        self._authorizer = authorizer

    def intercept_service(
        self, continuation: Callable[[grpc.HandlerCallDetails], Any], handler_call_details: grpc.HandlerCallDetails
    ) -> Any:
        handler = continuation(handler_call_details)
        error = _decide(self._authorizer, handler_call_details)
        return handler if error is None or handler is None else _refusal(handler, error, asynchronous=False)


class AsyncGuard(grpc.aio.ServerInterceptor):
    """The same rule for a grpc.aio server."""

    def __init__(self, authorizer: Authorizer) -> None:
        self._authorizer = authorizer

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        handler = await continuation(handler_call_details)
        error = _decide(self._authorizer, handler_call_details)
        return handler if error is None or handler is None else _refusal(handler, error, asynchronous=True)
