"""What a psycopg connection sends PostgreSQL, read from libpq's trace: how many round trips a piece of code takes."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import pq


def frontend_messages(conn: psycopg.Connection[Any], action: Callable[[], Any]) -> list[str]:
    """Returns the protocol messages this side sent to the server while `action` ran (libpq's trace)."""
    with tempfile.TemporaryFile("w+") as trace:
        conn.pgconn.trace(trace.fileno())
        conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
        try:
            action()
        finally:
            conn.pgconn.untrace()
        trace.seek(0)
        messages: list[str] = []
        for line in trace:  # a message starts with its direction; a query's own newlines continue it
            if line.startswith(("F\t", "B\t")):
                messages.append(line)
            elif messages:
                messages[-1] += line
        return [message.split("\t", 1)[1] for message in messages if message.startswith("F\t")]


def round_trips(messages: list[str]) -> list[list[str]]:
    """Groups the statements sent (their first word) by the Flush or Sync that asked for their answers."""
    trips: list[list[str]] = [[]]
    for message in messages:
        kind = message.split()[1]
        if kind in ("Flush", "Sync"):
            if trips[-1]:
                trips.append([])
        elif kind in ("Parse", "Query"):
            text = message.split('"', 3)[3] if kind == "Parse" else message.split('"', 1)[1]
            trips[-1].append(text.split()[0].rstrip('"'))
    return [trip for trip in trips if trip]
