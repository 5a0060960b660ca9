"""Connections that make sure their database's schema is ready the first time they succeed."""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from typing import Any

import psycopg

from eventkit import db, migrations
from eventkit.config import Database
from eventkit.migrations import grants

log = logging.getLogger(__name__)

_warned: set[tuple[str, str]] = set()
MIGRATION_VARIABLES = {
    "event_store": "EVENT_STORE_MIGRATION_DSN",
    "read_model": "READ_MODEL_MIGRATION_DSN",
    "key_store": "KEY_STORE_MIGRATION_DSN (EVENT_STORE_MIGRATION_DSN when the keys live beside the events)",
}


class SchemaNotReady(psycopg.OperationalError):
    """The schema is older than this code and this process may not migrate it: wait for `migrate`.

    An OperationalError, so every caller treats it as "the database is not there yet": health
    stays NOT_SERVING, calls get UNAVAILABLE, and the next connection checks again.
    """


def owner(database: Database) -> Database:
    """Returns `database` as its owner reaches it (the migration DSN, else its own), for migrations and rebuilds."""
    if not database.migration_dsn:
        return database
    return dataclasses.replace(database, dsn=database.migration_dsn, password=database.migration_password)


def migrate(database: Database, component: str) -> list[str]:
    """Brings `database`'s schema up to date as its owner and grants the service roles; returns what it applied.

    The one entry point for a process (or a test) that may change the schema.
    """
    with db.connect(owner(database)) as conn:
        applied = migrations.apply(conn, component, database.schema)
        grants.grant(conn, component, database.schema, database.roles)
    return applied


def prepare(database: Database, component: str) -> None:
    """Migrates `database` with the owner's DSN when one is given; otherwise checks it is migrated far enough."""
    if database.migration_dsn:
        migrate(database, component)
        return
    with db.connect(database) as conn:
        try:
            check(conn, database, component)
        except SchemaNotReady as exc:
            if (database.dsn, component) not in _warned:  # once: callers retry every second or so
                _warned.add((database.dsn, component))
                log.warning("%s; waiting for it", exc, extra={"schema": database.schema})
            raise


def check(conn: psycopg.Connection[Any], database: Database, component: str) -> None:
    """Raises SchemaNotReady unless `database`'s schema is at least at the version this code needs."""
    needed = migrations.expected_version(component)
    try:
        found = migrations.current_version(conn, component, database.schema)
    except psycopg.errors.InsufficientPrivilege as exc:
        raise SchemaNotReady(
            f"cannot read the version of schema {database.schema} ({str(exc).strip()}): migrate it first"
            f" (`python -m eventkit.migrations` with {MIGRATION_VARIABLES[component]})"
        ) from None
    if found < needed:
        raise SchemaNotReady(
            f"schema {database.schema} is at version {found}, this code needs {needed}: migrate it first"
            f" (`python -m eventkit.migrations` with {MIGRATION_VARIABLES[component]}, or give this"
            " service that variable)"
        )


def migrating_connector(database: Database, component: str) -> Callable[[], psycopg.Connection[Any]]:
    """Returns a connect() that prepares `component`'s schema once, on the first connection that works.

    So a service started before its database (or before its migrations) serves as soon as both are
    there, and never runs a statement against tables that do not exist yet.
    """
    done = threading.Event()
    lock = threading.Lock()

    def connect() -> psycopg.Connection[Any]:
        if not done.is_set():
            with lock:
                if not done.is_set():
                    prepare(database, component)
                    done.set()
        return db.connect(database)

    return connect
