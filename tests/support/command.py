"""An in-process CommandService on a free port, backed by a real event store, wired as `__main__` wires it."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator

import grpc

from command_service.aio_app import AsyncApp
from command_service.app import App
from eventkit import config
from eventkit.config import Database
from users.v1 import command_service_pb2_grpc


def command_settings(database: Database, **env: str) -> config.CommandSettings:
    """Returns the settings the service would read from an environment naming `database` (plus `env`)."""
    base = {
        "EVENT_STORE_DSN": database.dsn,
        "EVENT_STORE_SCHEMA": database.schema,
        "LISTEN_HOST": "127.0.0.1",
        "COMMAND_SERVICE_PORT": "0",
        "GRPC_MAX_WORKERS": "64",
    }
    if database.migration_dsn:
        base["EVENT_STORE_MIGRATION_DSN"] = database.migration_dsn
    merged = {**base, **env}
    if "KEY_STORE_DSN" in merged:  # a key store of its own: migrated, like the rest, as the test superuser
        merged.setdefault("KEY_STORE_MIGRATION_DSN", merged["KEY_STORE_DSN"])
    return config.command_settings(merged)


@contextlib.contextmanager
def command_app(database: Database, **env: str) -> Iterator[App]:
    """Runs the command service on 127.0.0.1:<free port> until the block ends, then stops it as SIGTERM does."""
    app = App(command_settings(database, **env))
    app.connect().close()  # the schema exists before the first test query, whatever the test sends
    app.start()
    try:
        yield app
    finally:
        app.stop()


@contextlib.contextmanager
def async_command_app(database: Database, **env: str) -> Iterator[AsyncApp]:
    """Runs the command service's asyncio stack (its loop in a thread) until the block ends, then stops it."""
    app = AsyncApp(command_settings(database, COMMAND_SERVER_STACK="asyncio", **env))
    app.connect().close()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="command-loop", daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(app.start(), loop).result(timeout=60)
    try:
        yield app
    finally:
        asyncio.run_coroutine_threadsafe(app.stop(), loop).result(timeout=60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()


@contextlib.contextmanager
def command_server(
    database: Database, stack: str = "sync", **env: str
) -> Iterator[command_service_pb2_grpc.CommandServiceStub]:
    """Serves CommandService (on the `sync` or `asyncio` stack) on 127.0.0.1:<free port>; yields a stub connected to it."""
    running = async_command_app(database, **env) if stack == "asyncio" else command_app(database, **env)
    with running as app, grpc.insecure_channel(f"127.0.0.1:{app.port}") as channel:
        yield command_service_pb2_grpc.CommandServiceStub(channel)


def key_store_of(event_store: Database) -> Database:
    """Returns where the command service keeps keys by default: the event store's database, schema user_keys."""
    return Database(dsn=event_store.dsn, schema="user_keys", pool_size=event_store.pool_size)
