"""Creates the PostgreSQL roles the project runs as: an owner for migrations, one unprivileged login per service."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from eventkit import config, startup
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
    """Makes the owner role own `database` and what earlier runs created in it as another role.

    So migrations run as the owner can create schemas and close the database, also on a data
    folder from before the roles existed (where the superuser owned everything).
    """
    owner = sql.Identifier(OWNER)
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(database), owner))
    with psycopg.connect(as_database(admin_dsn, database), autocommit=True) as conn:
        schemas = conn.execute(
            "SELECT nspname FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner"
            " WHERE nspname IN ('event_store', 'read_model') AND rolname <> %s",
            [OWNER],
        ).fetchall()
        for (schema,) in schemas:
            conn.execute(sql.SQL("ALTER SCHEMA {} OWNER TO {}").format(sql.Identifier(schema), owner))
            for kind, query in _OWNED_IN_SCHEMA:
                for (name,) in conn.execute(query, [schema]).fetchall():
                    target = sql.SQL(name)  # regclass/regprocedure text: already quoted and qualified
                    conn.execute(sql.SQL("ALTER {} {} OWNER TO {}").format(sql.SQL(kind), target, owner))


_OWNED_IN_SCHEMA = [
    (
        "TABLE",
        "SELECT c.oid::regclass::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relkind IN ('r', 'p')",
    ),
    (
        "FUNCTION",
        "SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
        " WHERE n.nspname = %s",
    ),
]


def as_database(dsn: str, database: str) -> str:
    """Returns a libpq URI for another database on the same server."""
    return urlunsplit(urlsplit(dsn)._replace(path=f"/{database}"))


def prepare_local(cluster_dsn: Callable[[str], str], env: Mapping[str, str]) -> list[str]:
    """Sets up `make run`'s cluster as production runs: roles, databases the owner owns, migrations as the owner.

    Returns one line per migration applied. `env` may name other schemas or role names.
    """
    roles = config.roles(env)
    ensure_roles(cluster_dsn("postgres"), roles)
    applied: list[str] = []
    for name, read in (("event_store", config.event_store), ("read_model", config.read_model)):
        with psycopg.connect(cluster_dsn("postgres"), autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        give_to_owner(cluster_dsn("postgres"), name)
        owned = {**env, f"{name.upper()}_MIGRATION_DSN": as_user(cluster_dsn(name), OWNER)}
        targets = [(read(owned, dsn_required=False), name)]
        if name == "event_store":  # the users' data keys live beside the events
            targets.append((config.key_store(owned, dsn_required=False), "key_store"))
        for database, component in targets:
            applied += [
                f"applied migration {m} to schema {database.schema}" for m in startup.migrate(database, component)
            ]
    return applied


def local_service_env(env: Mapping[str, str], module: str, port: int) -> dict[str, str]:
    """Returns `env` with the DSNs of `make run`'s own cluster (port `port`) turned into `module`'s own role.

    DSNs that point elsewhere (set by hand) are left as given.
    """
    role = service_roles(config.roles(env))[module]
    changed = dict(env)
    for variable in ("EVENT_STORE_DSN", "READ_MODEL_DSN"):
        dsn = env.get(variable, "")
        if dsn.startswith(f"postgresql://postgres@127.0.0.1:{port}/"):
            changed[variable] = as_user(dsn, role)
    return changed


def as_user(dsn: str, user: str) -> str:
    """Returns a libpq URI with `user` in place of the one it names."""
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(netloc=f"{user}@{parts.netloc.rsplit('@', 1)[-1]}"))
