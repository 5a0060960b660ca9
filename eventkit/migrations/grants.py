"""Grants each service's role exactly what it needs on a migrated schema, and nothing to anyone else.

Least privilege, enforced by PostgreSQL rather than by the services' good behaviour:
- the command service's role may SELECT and INSERT events, nothing more;
- the projector's role may SELECT events and read and write the read model's rows;
- the query service's role may only SELECT the read model (LISTEN needs no privilege).
None of them owns a table, so none can ALTER one (DISABLE TRIGGER), DROP or TRUNCATE it, and
none is a superuser, so none can SET session_replication_role = replica, the switch that turns
the immutability triggers off. Only the owner that runs migrations can change the schema.
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from psycopg import sql

from eventkit.config import Roles

log = logging.getLogger(__name__)

# Per component: (role kind, privileges on every table but the read-only ones below).
_GRANTS: dict[str, list[tuple[str, str]]] = {
    "event_store": [("command", "SELECT, INSERT"), ("projector", "SELECT")],
    "read_model": [("projector", "SELECT, INSERT, UPDATE, DELETE"), ("query", "SELECT")],
    # Keys are made and destroyed (ForgetUser) by the command service, read by the projector.
    "key_store": [("command", "SELECT, INSERT, DELETE"), ("projector", "SELECT")],
}

# Caches a role rewrites on top of the component's grants: the command service keeps each user's
# stream head (a fold of its events, never the truth) beside the immutable events.
_MUTABLE_CACHES = {"event_store": {"stream_heads": ("command", "UPDATE")}}

# Roles that may create temporary tables in the database: the projector stages each batch in one
# (COPY into a session's temporary table, then one merge); they vanish with the session.
_TEMPORARY = {"read_model": ["projector"]}

# Tables every role may only read: the migration record (how a service checks the version) and the
# page-token key (the query service signs with it; nobody may swap it).
_READ_ONLY = {
    "event_store": ["event_store_migrations"],
    "read_model": ["read_model_migrations", "page_token_key"],
    "key_store": ["key_store_migrations"],
}


def existing(conn: psycopg.Connection[Any], names: list[str]) -> set[str]:
    """Returns which of the role names exist in the cluster."""
    rows = conn.execute("SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)", [names]).fetchall()
    return {row[0] for row in rows}


def grant(conn: psycopg.Connection[Any], component: str, schema: str, roles: Roles) -> list[str]:
    """Grants the component's roles their privileges on `schema`'s tables (idempotent); returns the roles granted.

    A role that does not exist is skipped with a warning: a deployment that runs every service as
    the owner (or a superuser) needs no roles, and one that creates them later runs this again.
    """
    wanted = [(getattr(roles, kind), privileges) for kind, privileges in _GRANTS[component]]
    schema_id = sql.Identifier(schema)
    granted = []
    with conn.transaction():
        # Concurrent GRANTs on one object fail ("tuple concurrently updated"): replicas starting
        # together, or both components in one database, take turns.
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('users-cqrs grants'))")
        present = existing(conn, [name for name, _ in wanted])
        for name, _ in wanted:
            if name not in present:
                log.warning("role does not exist; no privileges granted", extra={"role": name, "schema": schema})
        names = [
            row[0]
            for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY tablename", [schema]
            )
        ]
        tables = sql.SQL(", ").join([sql.Identifier(schema, n) for n in names if n not in _READ_ONLY[component]])
        read_only = sql.SQL(", ").join([sql.Identifier(schema, n) for n in names if n in _READ_ONLY[component]])
        temporary = [getattr(roles, kind) for kind in _TEMPORARY.get(component, [])]
        _close_database(conn, [name for name, _ in wanted if name in present], [t for t in temporary if t in present])
        for name, privileges in wanted:
            if name not in present:
                continue
            role = sql.Identifier(name)
            conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(schema_id, role))
            conn.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(read_only, role))
            conn.execute(sql.SQL("GRANT " + privileges + " ON {} TO {}").format(tables, role))
            granted.append(name)
        for table, (kind, privilege) in _MUTABLE_CACHES.get(component, {}).items():
            role_name = getattr(roles, kind)
            if table in names and role_name in present:
                target = sql.Identifier(schema, table)
                conn.execute(sql.SQL("GRANT " + privilege + " ON {} TO {}").format(target, sql.Identifier(role_name)))
    return granted


def _close_database(conn: psycopg.Connection[Any], allowed: list[str], temporary: list[str]) -> None:
    """Lets only the owner and `allowed` connect, and only `temporary` create temporary tables.

    PostgreSQL grants CONNECT and TEMPORARY on every database to PUBLIC: without this, the query
    service's role could connect to the event store. Needs the database's owner; a migrating
    role that is not the owner leaves the database as it is (and says so).
    """
    owner = conn.execute(
        "SELECT pg_has_role(current_user, datdba, 'USAGE') FROM pg_database WHERE datname = current_database()"
    ).fetchone()
    if not owner or not owner[0]:
        log.warning("not the database owner; CONNECT and TEMPORARY left as they are")
        return
    database = sql.Identifier(conn.info.dbname)
    conn.execute(sql.SQL("REVOKE CONNECT, TEMPORARY ON DATABASE {} FROM PUBLIC").format(database))
    # PostgreSQL 14 still lets everyone create tables in `public` (15 no longer does).
    public = conn.execute(
        "SELECT pg_has_role(current_user, nspowner, 'USAGE') FROM pg_namespace WHERE nspname = 'public'"
    ).fetchone()
    if public and public[0]:
        conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    for name in allowed:
        conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(database, sql.Identifier(name)))
    for name in temporary:
        conn.execute(sql.SQL("GRANT TEMPORARY ON DATABASE {} TO {}").format(database, sql.Identifier(name)))
