"""The one gRPC server skeleton: health and reflection on every server, TLS, tokens and limits, graceful stop on SIGTERM."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterable
from concurrent import futures
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from eventkit import decoding, reflection, tls
from eventkit.auth import Authorizer
from eventkit.guard import AsyncGuard, Guard
from eventkit.transport_settings import Transport

log = logging.getLogger(__name__)

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


@dataclass
class Service:
    """One service to host: its full name and the generated `add_XServicer_to_server` with its servicer."""

    name: str
    register: Callable[[Any, Any], None]
    servicer: Any
    # With bearer tokens on, every method of a service that writes needs a `write` token.
    writes: bool = False


class Health:
    """Sets one health status for the whole server and each of its services."""

    def __init__(self, servicer: Any, names: Iterable[str]) -> None:
        self._servicer = servicer
        self._names = ["", *names]

    def set(self, serving: bool) -> None:
        status = SERVING if serving else NOT_SERVING
        for name in self._names:
            self._servicer.set(name, status)

    def shutdown(self) -> None:
        """Marks every service NOT_SERVING for good, so balancers stop routing here."""
        self._servicer.enter_graceful_shutdown()


@dataclass
class Running:
    """A started server, the port it bound, and its health switch."""

    server: grpc.Server
    port: int
    health: Health


def _options(transport: Transport) -> list[tuple[str, Any]]:
    # Explicit limits: a larger message gets RESOURCE_EXHAUSTED and the server goes on serving others.
    return [
        ("grpc.so_reuseport", 0),
        ("grpc.max_receive_message_length", transport.max_receive_bytes),
        ("grpc.max_send_message_length", transport.max_send_bytes),
    ]


def _authorizer(services: list[Service], transport: Transport) -> Authorizer | None:
    if not transport.tokens:
        return None
    return Authorizer(transport.tokens, [s.name for s in services if s.writes])


def _register(server: Any, services: list[Service], health_servicer: Any, transport: Transport) -> list[str]:
    registrar = decoding.Registrar(server)
    for service in services:
        service.register(service.servicer, registrar)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, registrar)
    names = [s.name for s in services]
    if transport.reflection:
        reflection.enable(server, names + [health.SERVICE_NAME], registrar)
    return names


def start(
    services: list[Service], host: str, port: int, max_workers: int = 16, transport: Transport = Transport()
) -> Running:
    """Starts a thread-pool server on host:port (port 0 picks a free one); health starts NOT_SERVING."""
    authorizer = _authorizer(services, transport)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="grpc"),
        interceptors=[Guard(authorizer)] if authorizer else None,
        options=_options(transport),
    )
    health_servicer = health.HealthServicer(
        experimental_non_blocking=True,
        experimental_thread_pool=futures.ThreadPoolExecutor(max_workers=1),
    )
    state = Health(health_servicer, _register(server, services, health_servicer, transport))
    bound = tls.bind(server, host, port, transport.tls)
    state.set(False)
    server.start()
    return Running(server, bound, state)


@dataclass
class RunningAsync:
    """A started asyncio server, the port it bound, and its health switch."""

    server: grpc.aio.Server
    port: int
    health: AsyncHealth


class AsyncHealth:
    """Sets one health status for an asyncio server and each of its services, from its event loop."""

    def __init__(self, servicer: Any, names: Iterable[str]) -> None:
        self._servicer = servicer
        self._names = ["", *names]
        self._serving: bool | None = None

    async def set(self, serving: bool) -> None:
        """Sets every service SERVING or NOT_SERVING; repeating the current status costs nothing."""
        if serving == self._serving:
            return
        self._serving = serving
        status = SERVING if serving else NOT_SERVING
        for name in self._names:
            await self._servicer.set(name, status)

    async def shutdown(self) -> None:
        """Marks every service NOT_SERVING for good, so balancers stop routing here."""
        self._serving = False
        await self._servicer.enter_graceful_shutdown()


async def start_async(
    services: list[Service], host: str, port: int, transport: Transport = Transport()
) -> RunningAsync:
    """Starts an asyncio server on host:port (port 0 picks a free one); health starts NOT_SERVING."""
    authorizer = _authorizer(services, transport)
    server = grpc.aio.server(interceptors=[AsyncGuard(authorizer)] if authorizer else None, options=_options(transport))
    health_servicer = health.aio.HealthServicer()
    state = AsyncHealth(health_servicer, _register(server, services, health_servicer, transport))
    await state.set(False)
    bound = tls.bind(server, host, port, transport.tls)
    await server.start()
    return RunningAsync(server, bound, state)


def stop_on_signals(stop: Callable[[], None]) -> threading.Event:
    """Calls `stop` once on SIGTERM or SIGINT; returns an event set when a signal arrived."""
    requested = threading.Event()

    def handler(signum: int, _frame: Any) -> None:
        if requested.is_set():
            return
        requested.set()
        log.info("stopping", extra={"signal": signal.Signals(signum).name})
        threading.Thread(target=stop, name="stop", daemon=True).start()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return requested
