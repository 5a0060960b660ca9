"""Applies versioned SQL migrations, safely when several replicas start at once."""

from __future__ import annotations

import logging
from collections.abc import Callable
from importlib import resources
from typing import Any

import psycopg
from psycopg import sql

from eventkit.migrations import name_keys

log = logging.getLogger(__name__)

COMPONENTS = ("event_store", "read_model", "key_store")

# Steps that SQL cannot express, run right after the script of the same version, in its transaction.
AFTER_SCRIPT: dict[tuple[str, int], Callable[[psycopg.Connection[Any]], None]] = {
    ("read_model", 3): name_keys.fill,
}


def _scripts(component: str) -> list[tuple[int, str, str]]:
    """Lists (version, name, sql) of a component's migrations, ordered by version."""
    folder = resources.files(__package__).joinpath(component)
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            found.append((version, entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


def expected_version(component: str) -> int:
    """Returns the version a schema reaches with every migration of `component` shipped with this code."""
    return max(version for version, _, _ in _scripts(component))


def current_version(conn: psycopg.Connection[Any], component: str, schema: str) -> int:
    """Returns the version `schema` is at (0 when it has never been migrated); its own transaction."""
    table = sql.Identifier(schema, f"{component}_migrations")
    with conn.transaction():
        exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", [f"{schema}.{component}_migrations"]).fetchone()
        if not exists or not exists[0]:
            return 0
        row = conn.execute(sql.SQL("SELECT coalesce(max(version), 0) FROM {}").format(table)).fetchone()
    return int(row[0]) if row else 0


def apply(conn: psycopg.Connection[Any], component: str, schema: str, upto: int | None = None) -> list[str]:
    """Brings `schema` up to date with `component`'s migrations (or up to version `upto`); returns the names it applied."""
    if component not in COMPONENTS:
        raise ValueError(f"unknown migration component {component!r}")
    table = sql.Identifier(f"{component}_migrations")
    applied_now: list[str] = []
    with conn.transaction():
        # Replicas starting together queue on this lock; each then sees what the first applied.
        # (CREATE SCHEMA IF NOT EXISTS alone still races into a unique violation without it.)
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"{schema}.{component}.migrations"])
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        conn.execute(sql.SQL("SET LOCAL search_path TO {}").format(sql.Identifier(schema)))
        conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (version int PRIMARY KEY, name text NOT NULL,"
                " applied_time timestamptz NOT NULL DEFAULT now())"
            ).format(table)
        )
        done = {row[0] for row in conn.execute(sql.SQL("SELECT version FROM {}").format(table))}
        for version, name, script in _scripts(component):
            if version in done or (upto is not None and version > upto):
                continue
            conn.execute(script)  # trusted files shipped with the code
            step = AFTER_SCRIPT.get((component, version))
            if step is not None:
                step(conn)
            conn.execute(sql.SQL("INSERT INTO {} (version, name) VALUES (%s, %s)").format(table), [version, name])
            applied_now.append(name)
    for name in applied_now:
        log.info("applied migration %s to schema %s", name, schema, extra={"migration": name, "schema": schema})
    return applied_now
