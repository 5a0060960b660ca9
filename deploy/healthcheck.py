#!/usr/bin/env python3
"""Container health check: exits 0 when the named service answers SERVING on its gRPC health service."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from eventkit import config, transport_settings
from users_client.errors import UsersError
from users_client.transport import Security, open_channel

TIMEOUT_SECONDS = 3.0
# A wildcard listen address is not something to dial; the service is reachable on loopback then.
WILDCARDS = {"", "[::]", "::", "0.0.0.0"}
USAGE = "usage: healthcheck command_service|projector_service|query_service"


def settings_reader(module: str) -> Callable[[Mapping[str, str]], Any]:
    """Returns the function that reads `module`'s settings (command_service -> config.command_settings)."""
    reader = getattr(config, f"{module.removesuffix('_service')}_settings", None)
    if not module.endswith("_service") or reader is None:
        raise ValueError(f"unknown service {module!r}")
    return reader


def grpc_port(settings: Any) -> int:
    """Returns the port a service's gRPC server (and so its health service) listens on."""
    port = getattr(settings, "port", None)
    return int(port if port is not None else settings.health_port)


def address(module: str, env: Mapping[str, str]) -> str:
    """Returns host:port of `module`'s health service, read from the same variables the service reads."""
    settings = settings_reader(module)(env)
    host = settings.common.listen_host
    return f"{'localhost' if host in WILDCARDS else host}:{grpc_port(settings)}"


def probe_channel(module: str, env: Mapping[str, str]) -> tuple[str, grpc.Channel]:
    """Returns the address of `module`'s health service and a channel to it, over TLS when the service uses TLS."""
    target = address(module, env)
    probe = transport_settings.probe(env)
    security = Security(
        tls=probe.tls,
        ca_file=probe.ca_file,
        cert_file=probe.cert_file,
        key_file=probe.key_file,
        server_name=probe.server_name,
    )
    return target, open_channel(target, security)


def main(argv: list[str]) -> int:
    """Checks the service named in argv[1]; prints the status and returns the exit code."""
    if len(argv) != 2:
        print(USAGE, file=sys.stderr)
        return 2
    try:
        target, channel = probe_channel(argv[1], os.environ)
    except (ValueError, config.ConfigError, UsersError) as exc:
        print(f"healthcheck: {exc}", file=sys.stderr)
        return 2
    try:
        request = health_pb2.HealthCheckRequest(service="")
        status = health_pb2_grpc.HealthStub(channel).Check(request, timeout=TIMEOUT_SECONDS).status
    except grpc.RpcError as error:
        print(f"{argv[1]} {target}: {error.code().name}")
        return 1
    finally:
        channel.close()
    print(f"{argv[1]} {target}: {health_pb2.HealthCheckResponse.ServingStatus.Name(status)}")
    return 0 if status == health_pb2.HealthCheckResponse.SERVING else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
