"""Opens connection pools and single connections with the schema of a logical database on the search path."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from eventkit.config import Database

CONNECT_TIMEOUT_SECONDS = 5


def connect_kwargs(db: Database) -> dict[str, Any]:
    """Returns the connection options every connection to `db` uses."""
    # The search path travels in the startup packet, so it costs no round trip per connection.
    kwargs: dict[str, Any] = {
        "options": f"-c search_path={db.schema}",
        "connect_timeout": CONNECT_TIMEOUT_SECONDS,
        "application_name": "users-cqrs",
    }
    if db.password is not None:
        # A keyword argument reaches libpq as one value: no escaping, and it wins over the DSN's.
        kwargs["password"] = db.password
    return kwargs


def connect(db: Database, autocommit: bool = False) -> psycopg.Connection[Any]:
    """Opens one connection to `db` (for LISTEN and for long single-owner work)."""
    return psycopg.connect(db.dsn, autocommit=autocommit, **connect_kwargs(db))


async def connect_async(db: Database, autocommit: bool = False) -> psycopg.AsyncConnection[Any]:
    """Opens one asyncio connection to `db`."""
    return await psycopg.AsyncConnection.connect(db.dsn, autocommit=autocommit, **connect_kwargs(db))


def pool(db: Database, name: str, timeout: float = 5.0) -> ConnectionPool:
    """Creates a pool for `db`, opened without waiting, so a service starts while its database is down."""
    created = ConnectionPool(
        db.dsn,
        kwargs=connect_kwargs(db),
        min_size=1,
        max_size=db.pool_size,
        name=name,
        timeout=timeout,
        reconnect_timeout=0,  # keep trying for ever: the database may come back at any time
        open=False,
        check=ConnectionPool.check_connection,
    )
    created.open(wait=False)
    return created


async def pool_async(db: Database, name: str, timeout: float = 5.0) -> AsyncConnectionPool:
    """Creates an asyncio pool for `db`, opened without waiting."""
    created = AsyncConnectionPool(
        db.dsn,
        kwargs=connect_kwargs(db),
        min_size=1,
        max_size=db.pool_size,
        name=name,
        timeout=timeout,
        reconnect_timeout=0,
        open=False,
        check=AsyncConnectionPool.check_connection,
    )
    await created.open(wait=False)
    return created
