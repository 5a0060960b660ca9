"""Defers the rebuild's secondary indexes until its tables are loaded: one sort each instead of an update per row."""

from __future__ import annotations

from psycopg import sql

from projector_service import store

# The tables the rebuild fills. `users` keeps its primary key throughout: every batch's merge
# (ON CONFLICT) and its reads of earlier users go through it.
LOADED_TABLES = ("users", "event_log")


def defer(conn: store.Conn, schema: str) -> list[sql.Composed | sql.SQL]:
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


def build(conn: store.Conn, ddl: list[sql.Composed | sql.SQL]) -> None:
    """Builds the deferred indexes and constraints again, on the loaded tables."""
    for statement in ddl:
        conn.execute(statement)
