"""Rewriting gRPC method handlers: the one place that knows their four kinds and sync/async behaviours."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import grpc

KINDS = ("unary_unary", "unary_stream", "stream_unary", "stream_stream")

Behavior = Callable[..., Any]


def replace(handler: Any, wrap: Callable[[Behavior, str], Behavior], **fields: Any) -> Any:
    """Returns `handler` with its behaviour passed through `wrap(behavior, kind)` and `fields` replaced."""
    for kind in KINDS:
        behavior = getattr(handler, kind)
        if behavior is not None:
            fields[kind] = wrap(behavior, kind)
    return handler._replace(**fields)


def is_coroutine(behavior: Behavior) -> bool:
    """True for `async def` behaviours (the grpc.aio server awaits them)."""
    return inspect.iscoroutinefunction(behavior)


def is_async_generator(behavior: Behavior) -> bool:
    """True for `async def ... yield` behaviours (grpc.aio streams their items)."""
    return inspect.isasyncgenfunction(behavior)


def aborting(status: grpc.Status, asynchronous: bool) -> Behavior:
    """Returns a behaviour that answers every call with `status`, for a sync or a grpc.aio server."""
    if asynchronous:

        async def abort_async(_request: Any, context: Any) -> None:
            await context.abort(status.code, status.details, status.trailing_metadata)

        return abort_async

    def abort(_request: Any, context: grpc.ServicerContext) -> None:
        context.abort_with_status(status)

    return abort


class Generic(grpc.GenericRpcHandler):
    """A generic handler whose handlers pass through `rewrite` (None stays None: "not mine")."""

    def __init__(self, inner: grpc.GenericRpcHandler, rewrite: Callable[[Any], Any]) -> None:
        self._inner = inner
        self._rewrite = rewrite

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> Any:
        handler = self._inner.service(handler_call_details)
        return None if handler is None else self._rewrite(handler)
