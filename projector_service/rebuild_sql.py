"""All SQL of the rebuild: the scratch schema, its indexes deferred until the load is done, and the swap."""

from __future__ import annotations

from datetime import datetime

from psycopg import sql

from projector_service.batch_sql import notify_projected
from projector_service.store import Conn

# The tables the rebuild fills. `users` keeps its primary key throughout: every batch's merge
# (ON CONFLICT), its reads of earlier users and the uniqueness its new users' COPY relies on go through it.
LOADED_TABLES = ("users", "event_log")


def defer_indexes(conn: Conn, schema: str) -> list[sql.Composed | sql.SQL]:
    """Drops the loaded tables' indexes and constraints that no batch needs; returns the DDL that rebuilds them.

    The definitions are read from the catalogue of the freshly migrated schema, so the migrations stay
    the one place where indexes are declared, and whatever a later migration adds is deferred too.
    """
    constraints = conn.execute(
        "SELECT t.relname, c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint c"
        " JOIN pg_class t ON t.oid = c.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace"
        " WHERE n.nspname = %s AND t.relname = ANY(%s) AND c.contype IN ('p', 'u')"
        " AND NOT (t.relname = 'users' AND c.contype = 'p')",
        [schema, list(LOADED_TABLES)],
    ).fetchall()
    indexes = conn.execute(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = %s AND i.tablename = ANY(%s)"
        " AND NOT EXISTS (SELECT FROM pg_constraint c WHERE c.conindid = format('%%I.%%I', i.schemaname,"
        " i.indexname)::regclass)",
        [schema, list(LOADED_TABLES)],
    ).fetchall()
    rebuild: list[sql.Composed | sql.SQL] = []
    for table, name, definition in constraints:
        target = sql.Identifier(schema, table)
        conn.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(target, sql.Identifier(name)))
        rebuild.append(
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(target, sql.Identifier(name), sql.SQL(definition))
        )
    for name, definition in indexes:
        conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(schema, name)))
        rebuild.append(sql.SQL(definition))  # pg_indexes gives it schema-qualified
    return rebuild


def build_indexes(conn: Conn, ddl: list[sql.Composed | sql.SQL]) -> None:
    """Builds the deferred indexes and constraints again, on the loaded tables."""
    for statement in ddl:
        conn.execute(statement)


def drop_schema(conn: Conn, schema: str) -> None:
    """Drops a schema and everything in it (the rebuild's scratch schema)."""
    conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def lock_live(conn: Conn, live: str, name: str, lock_timeout_ms: int) -> int:
    """Locks the live checkpoint row, then users and event_log (each wait at most `lock_timeout_ms`); returns the position."""
    conn.execute("SELECT set_config('lock_timeout', %s, true)", [f"{lock_timeout_ms}ms"])
    query = sql.SQL("SELECT position FROM {}.projection_checkpoint WHERE name = %s FOR UPDATE")
    row = conn.execute(query.format(sql.Identifier(live)), [name]).fetchone()
    conn.execute(sql.SQL("LOCK TABLE {0}.users, {0}.event_log IN ACCESS EXCLUSIVE MODE").format(sql.Identifier(live)))
    return int(row[0]) if row else 0


def swap_tables(
    conn: Conn, live: str, scratch: str, name: str, position: int, event_time: datetime | None, skipped_unknown: int
) -> None:
    """Puts the rebuilt users and event_log in place of the live ones and sets the live checkpoint (caller's transaction)."""
    live_id, scratch_id = sql.Identifier(live), sql.Identifier(scratch)
    conn.execute(sql.SQL("DROP TABLE {0}.users, {0}.event_log").format(live_id))
    for table in ("users", "event_log"):
        conn.execute(sql.SQL("ALTER TABLE {}.{} SET SCHEMA {}").format(scratch_id, sql.Identifier(table), live_id))
    conn.execute(
        sql.SQL(
            "UPDATE {}.projection_checkpoint SET position = %s, event_time = coalesce(%s, event_time),"
            " updated_time = now(), skipped_unknown = %s WHERE name = %s"
        ).format(live_id),
        [position, event_time, skipped_unknown, name],
    )
    notify_projected(conn, position)


def event_time(conn: Conn, name: str) -> datetime | None:
    """Returns the record time of the last event the projection covers."""
    row = conn.execute("SELECT event_time FROM projection_checkpoint WHERE name = %s", [name]).fetchone()
    return row[0] if row else None
