"""Prometheus metrics of every RPC on every server: calls by method and code, latency, in flight."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import grpc
from prometheus_client import Counter, Gauge, Histogram

# The names and labels of go-grpc-prometheus, so that existing dashboards and habits carry over.
HANDLED = Counter(
    "grpc_server_handled_total",
    "RPCs completed on the server, by method and status code.",
    ["grpc_service", "grpc_method", "grpc_code"],
)
HANDLING_SECONDS = Histogram(
    "grpc_server_handling_seconds",
    "Time from receiving a unary RPC to its answer (streams are not timed: they last as long as the client).",
    ["grpc_service", "grpc_method"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
IN_FLIGHT = Gauge("grpc_server_in_flight", "RPCs being handled now, by method.", ["grpc_service", "grpc_method"])


@dataclass(frozen=True)
class Method:
    """The metric children of one method, resolved once (label lookups cost more than the updates)."""

    service: str
    name: str
    seconds: Any
    in_flight: Any

    def handled(self, code: grpc.StatusCode) -> None:
        """Counts one finished call with its status code."""
        _handled(self.service, self.name, code.name).inc()


@functools.lru_cache(maxsize=256)
def _handled(service: str, method: str, code: str) -> Any:
    return HANDLED.labels(service, method, code)


@functools.lru_cache(maxsize=256)
def method(full_name: str) -> Method:
    """Returns the metrics of a method given as `/package.Service/Method`."""
    service, _, name = full_name.lstrip("/").partition("/")
    return Method(service, name, HANDLING_SECONDS.labels(service, name), IN_FLIGHT.labels(service, name))


def final_code(context: Any, raised: BaseException | None) -> grpc.StatusCode:
    """Returns the status a call ended with: the one set on its context, else OK, or UNKNOWN/CANCELLED when it raised."""
    code = context.code()
    if isinstance(code, grpc.StatusCode):
        return code
    if raised is None:
        return grpc.StatusCode.OK
    if isinstance(raised, GeneratorExit | StopAsyncIteration) or type(raised).__name__ == "CancelledError":
        return grpc.StatusCode.CANCELLED
    return grpc.StatusCode.UNKNOWN
