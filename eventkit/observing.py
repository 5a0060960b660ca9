"""Server interceptors that count, time and correlate every RPC, for the thread-pool and the asyncio server.

Why our own: the maintained options did not fit both servers. py-grpc-prometheus and its fork
(grpc-prometheus-metrics) intercept only the thread-pool server; OpenTelemetry's gRPC
instrumentation covers both but brings its SDK and a Prometheus bridge into every process as core
dependencies. This module is small, uses prometheus-client (already a dependency), and keeps
go-grpc-prometheus's metric names.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any

import grpc

from eventkit import correlation, handlers, rpc_metrics, tracing
from eventkit.errors import DomainError
from eventkit.status import to_status

_UNTRACED = contextlib.nullcontext()


class Correlate:
    """Which services' calls carry a correlation id, and whether a missing one is made (the command service)."""

    def __init__(self, services: Iterable[str], make_missing: bool) -> None:
        self.services = frozenset(services)
        self.make_missing = make_missing

    def applies(self, full_method: str) -> bool:
        return full_method.lstrip("/").partition("/")[0] in self.services

    def resolve(self, metadata: Any) -> str | None:
        """Returns the call's correlation id (raises InvalidArgument for a malformed one)."""
        given = correlation.from_metadata(metadata)
        if given is None and self.make_missing:
            return correlation.new()
        return given


class Interceptor(grpc.ServerInterceptor):
    """Observes the calls of a thread-pool server."""

    def __init__(self, correlate: Correlate | None = None) -> None:
        self._correlate = correlate

    def intercept_service(self, continuation: Callable[[Any], Any], details: grpc.HandlerCallDetails) -> Any:
        handler = continuation(details)
        if handler is None:
            return None
        name: str = details.method
        metrics = rpc_metrics.method(name)
        span_name = name.lstrip("/")
        correlate = self._correlate if self._correlate and self._correlate.applies(name) else None
        metadata = details.invocation_metadata

        def wrap(behaviour: Callable[..., Any], kind: str) -> Callable[..., Any]:
            def unary(request: Any, context: grpc.ServicerContext) -> Any:
                started, raised, token = time.perf_counter(), None, None
                metrics.in_flight.inc()
                try:
                    token = _bind(correlate, metadata, context)
                    with tracing.span(span_name, correlation.get()) if correlate else _UNTRACED:
                        return behaviour(request, context)
                except BaseException as exc:
                    raised = exc
                    raise
                finally:
                    _unbind(token)
                    metrics.in_flight.dec()
                    metrics.seconds.observe(time.perf_counter() - started)
                    metrics.handled(rpc_metrics.final_code(context, raised))

            def stream(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
                raised, token = None, None
                metrics.in_flight.inc()
                try:
                    token = _bind(correlate, metadata, context)
                    with tracing.span(span_name, correlation.get()) if correlate else _UNTRACED:
                        yield from behaviour(request, context)
                except BaseException as exc:
                    raised = exc
                    raise
                finally:
                    _unbind(token)
                    metrics.in_flight.dec()
                    metrics.handled(rpc_metrics.final_code(context, raised))

            return stream if kind.endswith("_stream") else unary

        return handlers.replace(handler, wrap)


def _bind(correlate: Correlate | None, metadata: Any, context: grpc.ServicerContext) -> Any:
    if correlate is None:
        return None
    try:
        found = correlate.resolve(metadata)
    except DomainError as error:
        context.abort_with_status(to_status(error))
    if found is None:
        return None
    context.send_initial_metadata(((correlation.HEADER, found),))
    return correlation.current.set(found)


def _unbind(token: Any) -> None:
    if token is not None:
        correlation.current.reset(token)


class AsyncInterceptor(grpc.aio.ServerInterceptor):
    """Observes the calls of an asyncio server (each call runs in its own task, so the context variable is its own)."""

    def __init__(self, correlate: Correlate | None = None) -> None:
        self._correlate = correlate

    async def intercept_service(self, continuation: Callable[[Any], Any], details: grpc.HandlerCallDetails) -> Any:
        handler = await continuation(details)
        if handler is None:
            return None
        name: str = details.method
        metrics = rpc_metrics.method(name)
        span_name = name.lstrip("/")
        correlate = self._correlate if self._correlate and self._correlate.applies(name) else None
        metadata = details.invocation_metadata

        async def bind(context: grpc.aio.ServicerContext) -> None:
            if correlate is None:
                return
            try:
                found = correlate.resolve(metadata)
            except DomainError as error:
                status = to_status(error)
                await context.abort(status.code, status.details, status.trailing_metadata)
            if found is not None:
                await context.send_initial_metadata(((correlation.HEADER, found),))
                correlation.current.set(found)

        def wrap(behaviour: Callable[..., Any], kind: str) -> Callable[..., Any]:
            if handlers.is_async_generator(behaviour):

                async def generator(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
                    raised = None
                    metrics.in_flight.inc()
                    try:
                        await bind(context)
                        with tracing.span(span_name, correlation.get()) if correlate else _UNTRACED:
                            async for item in behaviour(request, context):
                                yield item
                    except BaseException as exc:
                        raised = exc
                        raise
                    finally:
                        metrics.in_flight.dec()
                        metrics.handled(rpc_metrics.final_code(context, raised))

                return generator

            async def coroutine(request: Any, context: grpc.aio.ServicerContext) -> Any:
                started, raised = time.perf_counter(), None
                metrics.in_flight.inc()
                try:
                    await bind(context)
                    with tracing.span(span_name, correlation.get()) if correlate else _UNTRACED:
                        return await behaviour(request, context)
                except BaseException as exc:
                    raised = exc
                    raise
                finally:
                    metrics.in_flight.dec()
                    if not kind.endswith("_stream"):
                        metrics.seconds.observe(time.perf_counter() - started)
                    metrics.handled(rpc_metrics.final_code(context, raised))

            return coroutine

        return handlers.replace(handler, wrap)
