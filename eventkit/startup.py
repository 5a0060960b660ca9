"""Connections that bring their database's schema up to date the first time they succeed."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import psycopg

from eventkit import db, migrations
from eventkit.config import Database


def migrate(database: Database, component: str) -> list[str]:
    """Brings `database`'s schema up to date with `component`'s migrations on a connection of its own; returns what it applied.

    The one entry point for a service (or a test) that needs the tables before it starts work.
    """
    with db.connect(database) as conn:
        return migrations.apply(conn, component, database.schema)


def migrating_connector(database: Database, component: str) -> Callable[[], psycopg.Connection[Any]]:
    """Returns a connect() that applies `component`'s migrations once, on the first connection that works.

    So a service started before its database serves as soon as the database appears, and never
    runs a statement against tables that do not exist yet.
    """
    done = threading.Event()
    lock = threading.Lock()

    def connect() -> psycopg.Connection[Any]:
        conn = db.connect(database)
        if not done.is_set():
            with lock:
                if not done.is_set():
                    migrations.apply(conn, component, database.schema)
                    done.set()
        return conn

    return connect
