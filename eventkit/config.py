"""Reads every environment variable the services use, with defaults and fail-fast checks.

Database locations and roles are read in database_settings.py, transport ones in transport_settings.py;
this module gathers them into each process's settings.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

# Re-exported: callers read every setting through this module.
from eventkit.database_settings import Database as Database
from eventkit.database_settings import Roles as Roles
from eventkit.database_settings import _schema
from eventkit.database_settings import event_store as event_store
from eventkit.database_settings import key_store as key_store
from eventkit.database_settings import read_model as read_model
from eventkit.database_settings import read_model_replica as read_model_replica
from eventkit.database_settings import roles as roles
from eventkit.envparse import ConfigError
from eventkit.envparse import integer as _int
from eventkit.transport_settings import Transport, transport

S = TypeVar("S")


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{name} must be > 0, got {value}")
    return value


@dataclass(frozen=True)
class Common:
    """Settings every process shares."""

    listen_host: str
    log_level: str
    log_format: str
    metrics_port: int
    shutdown_grace: float
    transport: Transport = field(default_factory=Transport)
    tracing: bool = False  # OpenTelemetry spans to the OTLP exporter (TRACING=otlp)


@dataclass(frozen=True)
class CommandSettings:
    """Settings of the command service."""

    common: Common
    event_store: Database
    key_store: Database
    port: int
    max_workers: int
    batch_max: int
    append_lock_timeout: float
    append_statement_timeout: float
    server_stack: str = "sync"  # "sync" (a thread-pool server) or "asyncio" (grpc.aio)
    # Processes serving the port together (SO_REUSEPORT), each with its own appender.
    workers: int = 1


@dataclass(frozen=True)
class ProjectorSettings:
    """Settings of the projector."""

    common: Common
    event_store: Database
    key_store: Database
    read_model: Database
    health_port: int
    batch_size: int
    rebuild_batch_size: int
    poll_interval: float
    leader_retry_interval: float
    projection_name: str
    retry_max: float
    heartbeat_interval: float


@dataclass(frozen=True)
class QuerySettings:
    """Settings of the query service."""

    common: Common
    read_model: Database
    port: int
    subscriber_buffer: int
    heartbeat_interval: float
    projector_stale_after: float
    projection_name: str
    poll_interval: float
    page_token_secret: bytes | None  # None: the read model's own random key
    # A streaming replica of the read model to read from; None reads the primary (`read_model`).
    replica: Database | None = None
    # Processes serving the port together (SO_REUSEPORT), each with its own pool and LISTEN.
    workers: int = 1
    max_streams: int = 1000
    max_streams_per_connection: int = 256
    max_wait: float = 30.0


def load(read: Callable[[], S], program: str) -> S:
    """Returns `read()`'s settings, or stops the program with the variable's name and exit code 2."""
    try:
        return read()
    except ConfigError as exc:
        print(f"{program}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def common(env: Mapping[str, str] = os.environ) -> Common:
    """Reads the settings every process shares."""
    log_format = env.get("LOG_FORMAT", "json").strip() or "json"
    if log_format not in ("json", "text"):
        raise ConfigError(f"LOG_FORMAT must be json or text, got {log_format!r}")
    return Common(
        listen_host=env.get("LISTEN_HOST", "").strip() or "[::]",
        log_level=(env.get("LOG_LEVEL", "").strip() or "INFO").upper(),
        log_format=log_format,
        metrics_port=_int(env, "METRICS_PORT", 0),
        shutdown_grace=_float(env, "SHUTDOWN_GRACE_SECONDS", 10.0),
        transport=transport(env),
        tracing=_tracing(env),
    )


def _tracing(env: Mapping[str, str]) -> bool:
    value = env.get("TRACING", "").strip().lower() or "off"
    if value not in ("off", "otlp"):
        raise ConfigError(f"TRACING must be off or otlp, got {value!r}")
    return value == "otlp"


def command_settings(env: Mapping[str, str] = os.environ) -> CommandSettings:
    """Reads the command service's settings."""
    return CommandSettings(
        common=common(env),
        event_store=event_store(env),
        key_store=key_store(env),
        port=_int(env, "COMMAND_SERVICE_PORT", 50051),
        max_workers=_int(env, "GRPC_MAX_WORKERS", 32, minimum=1),
        batch_max=_int(env, "COMMAND_BATCH_MAX", 256, minimum=1),
        append_lock_timeout=_float(env, "APPEND_LOCK_TIMEOUT_SECONDS", 5.0),
        append_statement_timeout=_float(env, "APPEND_STATEMENT_TIMEOUT_SECONDS", 10.0),
        server_stack=_server_stack(env),
        workers=_workers(env, "COMMAND_WORKERS", "COMMAND_SERVICE_PORT", 50051),
    )


def _server_stack(env: Mapping[str, str]) -> str:
    stack = env.get("COMMAND_SERVER_STACK", "sync").strip() or "sync"
    if stack not in ("sync", "asyncio"):
        raise ConfigError(f"COMMAND_SERVER_STACK must be sync or asyncio, got {stack!r}")
    return stack


def projector_settings(env: Mapping[str, str] = os.environ) -> ProjectorSettings:
    """Reads the projector's settings."""
    return ProjectorSettings(
        common=common(env),
        event_store=event_store(env),
        key_store=key_store(env),
        read_model=read_model(env),
        health_port=_int(env, "PROJECTOR_HEALTH_PORT", 50053),
        batch_size=_int(env, "PROJECTOR_BATCH_SIZE", 10000, minimum=1),
        rebuild_batch_size=_int(env, "PROJECTOR_REBUILD_BATCH_SIZE", 10000, minimum=1),
        poll_interval=_float(env, "PROJECTOR_POLL_INTERVAL_SECONDS", 1.0),
        leader_retry_interval=_float(env, "PROJECTOR_LEADER_RETRY_SECONDS", 1.0),
        projection_name=_schema(env, "PROJECTION_NAME", "users"),
        retry_max=_float(env, "PROJECTOR_RETRY_MAX_SECONDS", 30.0),
        heartbeat_interval=_float(env, "PROJECTOR_HEARTBEAT_SECONDS", 2.0),
    )


def _page_token_secret(env: Mapping[str, str]) -> bytes | None:
    # Replicas must agree on the key without coordination: unset, they all read the random key the
    # read model's migrations made (page_token_key), never one derived from public names.
    given = env.get("PAGE_TOKEN_SECRET", "").strip()
    return given.encode() if given else None


def query_settings(env: Mapping[str, str] = os.environ) -> QuerySettings:
    """Reads the query service's settings."""
    database = read_model(env)
    projection_name = _schema(env, "PROJECTION_NAME", "users")
    return QuerySettings(
        common=common(env),
        read_model=database,
        port=_int(env, "QUERY_SERVICE_PORT", 50052),
        subscriber_buffer=_int(env, "STREAM_SUBSCRIBER_BUFFER", 1024, minimum=1),
        heartbeat_interval=_float(env, "STREAM_HEARTBEAT_SECONDS", 5.0),
        projector_stale_after=_float(env, "PROJECTOR_STALE_AFTER_SECONDS", 15.0),
        projection_name=projection_name,
        poll_interval=_float(env, "QUERY_POLL_INTERVAL_SECONDS", 1.0),
        page_token_secret=_page_token_secret(env),
        replica=read_model_replica(env, database),
        workers=_workers(env, "QUERY_WORKERS", "QUERY_SERVICE_PORT", 50052),
        max_streams=_int(env, "STREAM_MAX_PER_PROCESS", 1000, minimum=1),
        max_streams_per_connection=_int(env, "STREAM_MAX_PER_CONNECTION", 256, minimum=1),
        max_wait=_float(env, "READ_MAX_WAIT_SECONDS", 30.0),
    )


def _workers(env: Mapping[str, str], name: str, port_name: str, default_port: int) -> int:
    workers = _int(env, name, 1, minimum=1)
    if workers > 1 and _int(env, port_name, default_port) == 0:
        # Each worker would bind a port of its own: clients could reach only one of them.
        raise ConfigError(f"{name} above 1 needs a fixed {port_name}, not 0")
    return workers
