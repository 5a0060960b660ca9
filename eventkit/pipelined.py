"""A transaction in psycopg's pipeline mode whose BEGIN and COMMIT travel with its statements."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import psycopg


@contextlib.contextmanager
def pipelined(conn: psycopg.Connection[Any]) -> Iterator[None]:
    """Runs the block as one transaction in a pipeline, BEGIN and COMMIT travelling with its statements.

    Why not psycopg's `conn.transaction()`: in a pipeline it waits for BEGIN's answer, a round trip
    of its own, and its COMMIT can only follow the block's last result read. Here BEGIN goes with
    the first statements and COMMIT with the last ones (a result read after the block returns). The
    connection must be in autocommit mode. When the block or any statement fails, the transaction
    is rolled back before the error goes on.
    """
    try:
        with conn.pipeline():
            conn.execute("BEGIN")
            yield
            conn.execute("COMMIT")
    except BaseException:
        if not conn.closed and conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            with contextlib.suppress(psycopg.Error):  # a broken connection has nothing left to roll back
                conn.execute("ROLLBACK")
        raise
