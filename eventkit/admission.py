"""Server interceptors that pass every call (but health checks) through a Gate, for both server kinds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import grpc

from eventkit import handlers
from eventkit.errors import ShuttingDown
from eventkit.gate import EXPIRED, REJECTION, AsyncGate, Gate
from eventkit.status import to_status

# Health checks must keep answering while the server drains: they say NOT_SERVING, which is how
# balancers and probes learn to stop sending calls here.
_EXEMPT = ("/grpc.health.v1.Health/",)


def _streams_out(kind: str) -> bool:
    return kind in ("unary_stream", "stream_stream")


class GateInterceptor(grpc.ServerInterceptor):
    """Admits calls through `gate` on a thread-pool server; refused calls answer UNAVAILABLE."""

    def __init__(self, gate: Gate) -> None:
        self._gate = gate
        self._refused = to_status(REJECTION)

    def intercept_service(
        self, continuation: Callable[[grpc.HandlerCallDetails], Any], details: grpc.HandlerCallDetails
    ) -> Any:
        handler = continuation(details)
        if handler is None or details.method.startswith(_EXEMPT):
            return handler
        return handlers.replace(
            handler,
            lambda behaviour, kind: self._streaming(behaviour) if _streams_out(kind) else self._unary(behaviour),
        )

    def _unary(self, behaviour: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
        def admitted(request: Any, context: grpc.ServicerContext) -> Any:
            if not self._gate.enter():
                context.abort_with_status(self._refused)
            try:
                return behaviour(request, context)
            finally:
                self._gate.leave()

        return admitted

    def _streaming(self, behaviour: Callable[[Any, Any], Iterator[Any]]) -> Callable[[Any, Any], Iterator[Any]]:
        def admitted(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            if not self._gate.enter():
                context.abort_with_status(self._refused)
            try:
                yield from behaviour(request, context)
            finally:
                self._gate.leave()

        return admitted


class AsyncGateInterceptor(grpc.aio.ServerInterceptor):
    """Admits calls through `gate` on an asyncio server; refused and expired calls answer UNAVAILABLE."""

    def __init__(self, gate: AsyncGate) -> None:
        self._gate = gate

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None or details.method.startswith(_EXEMPT):
            return handler
        # Streams written with `yield` are wrapped as streams; a coroutine (one that calls
        # context.write, or answers once) is awaited.
        return handlers.replace(
            handler,
            lambda behaviour, _kind: (
                self._streaming(behaviour) if handlers.is_async_generator(behaviour) else self._unary(behaviour)
            ),
        )

    async def _refuse(self, context: grpc.aio.ServicerContext, error: ShuttingDown) -> None:
        status = to_status(error)
        await context.abort(status.code, status.details, status.trailing_metadata)

    def _unary(self, behaviour: Callable[[Any, Any], Awaitable[Any]]) -> Callable[[Any, Any], Awaitable[Any]]:
        async def admitted(request: Any, context: grpc.aio.ServicerContext) -> Any:
            if not self._gate.enter():
                await self._refuse(context, REJECTION)
            try:
                return await behaviour(request, context)
            except asyncio.CancelledError:
                if not self._ended_by_gate():
                    raise
            finally:
                self._gate.leave()
            await self._refuse(context, EXPIRED)

        return admitted

    def _streaming(self, behaviour: Callable[[Any, Any], AsyncIterator[Any]]) -> Callable[[Any, Any], Any]:
        async def admitted(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            if not self._gate.enter():
                await self._refuse(context, REJECTION)
            try:
                async for message in behaviour(request, context):
                    yield message
                return
            except asyncio.CancelledError:
                if not self._ended_by_gate():
                    raise
            finally:
                self._gate.leave()
            await self._refuse(context, EXPIRED)

        return admitted

    def _ended_by_gate(self) -> bool:
        # Only a cancellation the gate sent becomes UNAVAILABLE; the caller going away stays a cancellation.
        task = asyncio.current_task()
        if self._gate.expired and task is not None:
            task.uncancel()
            return True
        return False
