"""Reads where the databases live and who may use them: DSNs, schemas, passwords, migration owners, roles."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from eventkit.envparse import ConfigError
from eventkit.envparse import integer as _int

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name} must be set (see README: Configuration)")
    return value


def _schema(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name, "").strip() or default
    if not _IDENTIFIER.match(value):
        raise ConfigError(f"{name} must be a lower-case SQL identifier, got {value!r}")
    return value


@dataclass(frozen=True)
class Roles:
    """The PostgreSQL roles the services run as; migrations grant each only what its service needs."""

    command: str = "users_command"
    projector: str = "users_projector"
    query: str = "users_query"


@dataclass(frozen=True)
class Database:
    """Where one logical database lives: a libpq connection string, the schema inside it, and who migrates it.

    `migration_dsn` is the owner's connection string: given, the process applies migrations (and
    grants `roles` their privileges) with it; absent, the process only checks the schema version.
    """

    dsn: str
    schema: str
    pool_size: int
    # Given apart from the DSN, so that no character of it needs URI or keyword escaping.
    password: str | None = None
    # The owner's (migrations, rebuilds), given apart from its DSN like `password`.
    migration_dsn: str | None = None
    migration_password: str | None = None
    roles: Roles = Roles()


def key_store(env: Mapping[str, str] = os.environ, dsn_required: bool = True) -> Database:
    """Reads where the users' data keys live: by default the event store's database, in a schema of their own."""
    own = env.get("KEY_STORE_DSN", "").strip()
    # Beside the event store (the default), its owner migrates the key table too.
    migration = (
        env.get("KEY_STORE_MIGRATION_DSN", "").strip() if own else env.get("EVENT_STORE_MIGRATION_DSN", "").strip()
    )
    migration_password = env.get("KEY_STORE_MIGRATION_PASSWORD" if own else "EVENT_STORE_MIGRATION_PASSWORD")
    return Database(
        dsn=own or (_required(env, "EVENT_STORE_DSN") if dsn_required else env.get("EVENT_STORE_DSN", "").strip()),
        schema=_schema(env, "KEY_STORE_SCHEMA", "user_keys"),
        pool_size=_int(env, "DB_POOL_SIZE", 8, minimum=1),
        password=None if own else env.get("EVENT_STORE_PASSWORD") or None,  # beside the events, the same login
        migration_dsn=migration or None,
        migration_password=migration_password or None,
        roles=roles(env),
    )


def _role(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(name, "").strip() or default
    if not _IDENTIFIER.match(value):
        raise ConfigError(f"{name} must be a lower-case PostgreSQL role name, got {value!r}")
    return value


def roles(env: Mapping[str, str] = os.environ) -> Roles:
    """Reads the names of the roles migrations grant privileges to."""
    return Roles(
        command=_role(env, "DB_ROLE_COMMAND", Roles.command),
        projector=_role(env, "DB_ROLE_PROJECTOR", Roles.projector),
        query=_role(env, "DB_ROLE_QUERY", Roles.query),
    )


@dataclass(frozen=True)
class _Variables:
    """The environment variables that place one database and name its owner."""

    dsn: str
    schema: str
    password: str
    migration_dsn: str
    migration_password: str


EVENT_STORE_VARIABLES = _Variables(
    "EVENT_STORE_DSN",
    "EVENT_STORE_SCHEMA",
    "EVENT_STORE_PASSWORD",
    "EVENT_STORE_MIGRATION_DSN",
    "EVENT_STORE_MIGRATION_PASSWORD",
)
READ_MODEL_VARIABLES = _Variables(
    "READ_MODEL_DSN",
    "READ_MODEL_SCHEMA",
    "READ_MODEL_PASSWORD",
    "READ_MODEL_MIGRATION_DSN",
    "READ_MODEL_MIGRATION_PASSWORD",
)


def _database(env: Mapping[str, str], names: _Variables, default_schema: str, dsn_required: bool) -> Database:
    return Database(
        dsn=_required(env, names.dsn) if dsn_required else env.get(names.dsn, "").strip(),
        schema=_schema(env, names.schema, default_schema),
        pool_size=_int(env, "DB_POOL_SIZE", 8, minimum=1),
        password=env.get(names.password) or None,
        migration_dsn=env.get(names.migration_dsn, "").strip() or None,
        migration_password=env.get(names.migration_password) or None,
        roles=roles(env),
    )


def event_store(env: Mapping[str, str] = os.environ, dsn_required: bool = True) -> Database:
    """Reads where the event store lives (and, when given, the owner's DSN that migrates it)."""
    return _database(env, EVENT_STORE_VARIABLES, "event_store", dsn_required)


def read_model(env: Mapping[str, str] = os.environ, dsn_required: bool = True) -> Database:
    """Reads where the read model lives (and, when given, the owner's DSN that migrates it)."""
    return _database(env, READ_MODEL_VARIABLES, "read_model", dsn_required)


def read_model_replica(env: Mapping[str, str], primary: Database) -> Database | None:
    """Reads where a streaming replica of the read model is, or None when reads go to the primary.

    READ_MODEL_REPLICA_DSN is laid over READ_MODEL_DSN: what it leaves out (user, database, TLS
    options, a password) is the primary's, so `host=read-model-ro` is a whole setting and carries
    no credential. A physical replica has the primary's schema and roles.
    """
    given = env.get("READ_MODEL_REPLICA_DSN", "").strip()
    if not given:
        return None
    try:
        dsn = make_conninfo(primary.dsn, **conninfo_to_dict(given))
    except psycopg.ProgrammingError as exc:
        raise ConfigError(
            f"READ_MODEL_REPLICA_DSN (over READ_MODEL_DSN) is not a libpq connection string: {exc}"
        ) from None
    return Database(dsn=dsn, schema=primary.schema, pool_size=primary.pool_size, password=primary.password)
