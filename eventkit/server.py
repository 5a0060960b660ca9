"""The one gRPC server skeleton: health and reflection on every server, TLS, tokens and limits, a gate for
new calls, graceful stop on SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent import futures
from dataclasses import dataclass
from typing import Any, NoReturn

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from eventkit import decoding, observing, reflection, tls
from eventkit.admission import AsyncGateInterceptor, GateInterceptor
from eventkit.auth import Authorizer
from eventkit.gate import AsyncGate, Gate
from eventkit.guard import AsyncGuard, Guard
from eventkit.transport_settings import Transport

log = logging.getLogger(__name__)

# How long the calls ended at the end of the grace (and the refusals being sent) get to answer
# UNAVAILABLE before the server cancels whatever is left.
AFTER_GRACE_SECONDS = 2.0

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
    """A started server, the port it bound, its health switch and its gate."""

    server: grpc.Server
    port: int
    health: Health
    gate: Gate

    def stop(self, grace: float, on_overrun: Callable[[], None] | None = None, stop_server: bool = True) -> None:
        """Stops in order: health NOT_SERVING, new calls UNAVAILABLE, calls in flight drain for up to `grace`.

        `on_overrun` makes the calls still running after the grace answer (UNAVAILABLE) on their own.
        A process about to exit passes `stop_server=False` and calls `exit_process()` (see there).
        """
        self.health.shutdown()
        self.gate.close()
        if not self.gate.drain(grace):
            log.warning("calls still running after the shutdown grace", extra={"grace": grace})
            if on_overrun is not None:
                on_overrun()
            self.gate.drain(AFTER_GRACE_SECONDS)
        if stop_server:
            self.server.stop(AFTER_GRACE_SECONDS).wait()


def _options(transport: Transport, reuse_port: bool = False) -> list[tuple[str, Any]]:
    # Explicit limits: a larger message gets RESOURCE_EXHAUSTED and the server goes on serving others.
    # SO_REUSEPORT only for workers sharing a port on purpose: otherwise a port already taken is an error.
    return [
        ("grpc.so_reuseport", int(reuse_port)),
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
    services: list[Service],
    host: str,
    port: int,
    max_workers: int = 16,
    transport: Transport = Transport(),
    interceptors: Sequence[Any] = (),
    correlate: observing.Correlate | None = None,
    reuse_port: bool = False,
) -> Running:
    """Starts a thread-pool server on host:port (port 0 picks a free one); health starts NOT_SERVING.

    Every call is counted and timed, and correlated where `correlate` says, before anything else.
    With `reuse_port` other processes may serve the same port (the kernel spreads connections).
    """
    authorizer = _authorizer(services, transport)
    gate = Gate()
    guards = [Guard(authorizer)] if authorizer else []
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="grpc"),
        # Observing is outermost (every call is counted, refusals too); the gate is innermost: it
        # counts only calls that will run a handler.
        interceptors=[observing.Interceptor(correlate), *interceptors, *guards, GateInterceptor(gate)],
        options=_options(transport, reuse_port),
    )
    health_servicer = health.HealthServicer(
        experimental_non_blocking=True,
        experimental_thread_pool=futures.ThreadPoolExecutor(max_workers=1),
    )
    state = Health(health_servicer, _register(server, services, health_servicer, transport))
    bound = tls.bind(server, host, port, transport.tls)
    state.set(False)
    server.start()
    return Running(server, bound, state, gate)


@dataclass
class RunningAsync:
    """A started asyncio server, the port it bound, its health switch and its gate."""

    server: grpc.aio.Server
    port: int
    health: AsyncHealth
    gate: AsyncGate

    async def stop(
        self,
        grace: float,
        closing: Callable[[], None] | None = None,
        stop_server: bool = True,
        on_overrun: Callable[[], None] | None = None,
    ) -> None:
        """Stops as `Running.stop` does; `closing` ends long waits (streams) once new calls are refused.

        Calls still running after the grace are first given `on_overrun` (run in a thread, as
        `Running.stop` runs it: it makes them answer on their own), then cancelled by the gate and
        answered UNAVAILABLE.
        """
        await self.health.shutdown()
        self.gate.close()
        if closing is not None:
            closing()
        if not await self.gate.drain(grace):
            log.warning("calls still running after the shutdown grace", extra={"grace": grace})
            if on_overrun is not None:
                await asyncio.to_thread(on_overrun)
            if on_overrun is None or not await self.gate.drain(AFTER_GRACE_SECONDS):
                self.gate.expire()
                await self.gate.drain(AFTER_GRACE_SECONDS)
        if stop_server:
            await self.server.stop(AFTER_GRACE_SECONDS)


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
    services: list[Service],
    host: str,
    port: int,
    transport: Transport = Transport(),
    interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
    correlate: observing.Correlate | None = None,
    reuse_port: bool = False,
) -> RunningAsync:
    """Starts an asyncio server on host:port (port 0 picks a free one); health starts NOT_SERVING.

    Every call is counted and timed, and correlated where `correlate` says, before anything else.
    With `reuse_port` other processes may serve the same port (the kernel spreads connections).
    """
    authorizer = _authorizer(services, transport)
    gate = AsyncGate()
    guards = [AsyncGuard(authorizer)] if authorizer else []
    server = grpc.aio.server(
        interceptors=[observing.AsyncInterceptor(correlate), *interceptors, *guards, AsyncGateInterceptor(gate)],
        options=_options(transport, reuse_port),
    )
    health_servicer = health.aio.HealthServicer()
    state = AsyncHealth(health_servicer, _register(server, services, health_servicer, transport))
    await state.set(False)
    bound = tls.bind(server, host, port, transport.tls)
    await server.start()
    return RunningAsync(server, bound, state, gate)


def exit_process(code: int = 0) -> NoReturn:
    """Ends a drained server's process at once, without stopping the gRPC server first.

    Why: stopping a gRPC server (grpc core's shutdown) cancels the calls it has received but not yet
    handed to a handler, and their callers see CANCELLED, which clients do not retry. After the
    gate has drained there is no work left to finish, so the process ends instead: the kernel
    closes its sockets, and every call still on the wire fails on the caller's side as
    UNAVAILABLE, which clients retry. Also skips the interpreter's teardown, which would stop the
    server the same way.
    """
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


# CPython runs a Python signal handler only in the main thread, between bytecodes. The kernel may hand
# SIGTERM to any thread that does not block it (a gRPC or database thread); a main thread asleep in
# an untimed lock wait then never looks, and the signal is as good as lost (seen under load: a command
# service that ignored SIGTERM for 30 s). A main thread that waits wakes this often to look.
SIGNAL_CHECK_SECONDS = 0.1


def wait_in_main_thread(done: threading.Event) -> None:
    """Blocks the main thread until `done` is set, running pending signal handlers as it waits."""
    while not done.wait(SIGNAL_CHECK_SECONDS):
        pass


async def until_stop_signal() -> None:
    """Returns when SIGTERM or SIGINT arrives (asyncio stacks: the loop's own signal handling)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()


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
