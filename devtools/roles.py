"""Creates the PostgreSQL roles the project runs as: an owner for migrations, one unprivileged login per service."""

from __future__ import annotations

from collections.abc import Mapping

import psycopg
from psycopg import sql

from eventkit.config import Roles

OWNER = "users_owner"


def service_roles(roles: Roles = Roles()) -> dict[str, str]:
    """Returns each service module's role name."""
    return {"command_service": roles.command, "projector_service": roles.projector, "query_service": roles.query}


def ensure_roles(admin_dsn: str, roles: Roles = Roles(), passwords: Mapping[str, str] | None = None) -> None:
    """Creates the owner and the three service roles unless they exist (as a superuser); sets any passwords given.

    None of them is a superuser or may create roles or databases; the owner may log in and own
    the databases, the service roles may only log in. What each may touch is granted by the
    migrations (eventkit/migrations/grants.py).
    """
    passwords = passwords or {}
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        for name in (OWNER, roles.command, roles.projector, roles.query):
            role = sql.Identifier(name)
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [name]).fetchone()
            if not exists:
                conn.execute(
                    sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION").format(role)
                )
            if name in passwords:
                conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(role, sql.Literal(passwords[name])))


def give_to_owner(admin_dsn: str, database: str) -> None:
    """Makes the owner role own `database`, so that migrations run as it can create schemas and close the database."""
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(database), sql.Identifier(OWNER)))
