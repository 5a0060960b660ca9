"""Least privilege in PostgreSQL: each service's role is refused what it must not do, the replica-mode trick included."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest

from devtools.pgcluster import Cluster
from devtools.roles import OWNER, give_to_owner
from eventkit import startup
from eventkit.config import Database, Roles
from tests.support.roles import as_role

ROLES = Roles()
INSERT_EVENT = (
    "INSERT INTO event_store.events (stream_id, version, type, data) VALUES (gen_random_uuid(), 1, 'UserAdded', '{}')"
)


@dataclass
class Databases:
    """An event store and a read model owned by the owner role and migrated by it, as in production."""

    event_store: str
    read_model: str


@pytest.fixture(scope="module")
def databases(cluster: Cluster) -> Iterator[Databases]:
    # One pair for the module: every statement these tests run is refused or rolled back.
    names = [f"es_{uuid.uuid4().hex[:12]}", f"rm_{uuid.uuid4().hex[:12]}"]
    for name in names:
        cluster.create_database(name)
        give_to_owner(cluster.dsn(), name)
    es, rm = (cluster.dsn(name) for name in names)
    for dsn, schema in ((es, "event_store"), (rm, "read_model")):
        startup.prepare(Database(dsn, schema, 1, migration_dsn=as_role(dsn, OWNER)), schema)
    with psycopg.connect(es, autocommit=True) as conn:
        conn.execute(INSERT_EVENT)
    with psycopg.connect(rm, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO read_model.users (id, name, name_key, version, create_time, update_time, position)"
            " VALUES (gen_random_uuid(), 'Ada', 'ada', 1, now(), now(), 1)"
            "; INSERT INTO read_model.projection_checkpoint (name) VALUES ('users')"
        )
    yield Databases(es, rm)
    for name in names:
        cluster.drop_database(name)


class RolledBack(Exception):
    """Raised to undo statements that were allowed: the databases are shared by the module."""


def refused(dsn: str, *statements: str) -> type[psycopg.Error] | None:
    """Runs the statements in one transaction as the DSN's user, then rolls back; returns the error class, None if all ran."""
    try:
        with psycopg.connect(dsn) as conn, conn.transaction():
            for statement in statements:
                conn.execute(statement)
            raise RolledBack
    except psycopg.Error as exc:
        return type(exc)
    except RolledBack:
        return None


REPLICA_TRICK = ("SET LOCAL session_replication_role = replica", "UPDATE event_store.events SET type = 'Forged'")
EVENT_STORE_FORBIDDEN_TO_ALL = [
    ("UPDATE event_store.events SET type = 'Forged'",),
    ("DELETE FROM event_store.events",),
    ("TRUNCATE event_store.events",),
    REPLICA_TRICK,
    ("SET session_replication_role = replica",),
    ("ALTER TABLE event_store.events DISABLE TRIGGER events_immutable",),
    ("ALTER TABLE event_store.events DISABLE TRIGGER ALL",),
    ("DROP TABLE event_store.events",),
    ("DROP TRIGGER events_immutable ON event_store.events",),
    ("CREATE OR REPLACE FUNCTION event_store.reject_change() RETURNS trigger LANGUAGE sql AS 'SELECT NULL'",),
    ("CREATE TABLE event_store.mine (x int)",),
    ("CREATE TABLE public.mine (x int)",),
    ("CREATE TEMP TABLE mine (x int)",),
    ("INSERT INTO event_store.event_store_migrations VALUES (99, 'forged')",),
    ("CREATE SCHEMA mine",),
]


def test_the_replica_mode_trick_works_for_a_superuser_which_is_why_no_service_may_be_one(databases) -> None:
    # The finding: with the superuser every service used, the immutability triggers could be skipped.
    assert refused(databases.event_store, *REPLICA_TRICK) is None


@pytest.mark.parametrize("statements", EVENT_STORE_FORBIDDEN_TO_ALL, ids=lambda s: s[-1][:48])
@pytest.mark.parametrize("role", [ROLES.command, ROLES.projector])
def test_no_service_role_can_change_remove_or_unprotect_an_event(databases, role: str, statements) -> None:
    assert refused(as_role(databases.event_store, role), *statements) is psycopg.errors.InsufficientPrivilege


def test_the_command_role_may_only_append_and_read_events(databases) -> None:
    dsn = as_role(databases.event_store, ROLES.command)
    assert refused(dsn, INSERT_EVENT, "SELECT * FROM event_store.events") is None
    assert refused(dsn, "SELECT version FROM event_store.event_store_migrations") is None  # the version check
    # Its stream heads are a cache it rewrites (never the truth): UPDATE there, and only there.
    assert refused(dsn, "UPDATE event_store.stream_heads SET checksum = 'x'") is None
    assert refused(dsn, "DELETE FROM event_store.stream_heads") is psycopg.errors.InsufficientPrivilege
    assert refused(as_role(databases.read_model, ROLES.command), "SELECT 1") is psycopg.OperationalError  # no CONNECT


def test_the_projector_role_reads_events_and_writes_only_the_read_model_rows(databases) -> None:
    es, rm = as_role(databases.event_store, ROLES.projector), as_role(databases.read_model, ROLES.projector)
    assert refused(es, "SELECT * FROM event_store.events") is None
    assert refused(es, INSERT_EVENT) is psycopg.errors.InsufficientPrivilege
    assert refused(rm, "UPDATE read_model.users SET name = 'Ada King'", "DELETE FROM read_model.event_log") is None
    assert refused(rm, "UPDATE read_model.projection_checkpoint SET position = 1", "NOTIFY users_v1_projected") is None
    assert refused(rm, "CREATE TEMPORARY TABLE staged (x int)") is None  # its batches are staged in one
    for forbidden in (
        "TRUNCATE read_model.users",
        "DROP TABLE read_model.users",
        "ALTER TABLE read_model.users ADD COLUMN x int",
        "CREATE TABLE read_model.mine (x int)",
        "DELETE FROM read_model.read_model_migrations",
        "UPDATE read_model.page_token_key SET key = 'mine'",
    ):
        assert refused(rm, forbidden) is psycopg.errors.InsufficientPrivilege, forbidden


def test_the_query_role_only_reads_the_read_model_and_cannot_reach_the_event_store(databases) -> None:
    rm = as_role(databases.read_model, ROLES.query)
    assert refused(rm, "SELECT * FROM read_model.users", "SELECT * FROM read_model.projector_status") is None
    assert refused(rm, "LISTEN users_v1_projected") is None
    for forbidden in (
        "INSERT INTO read_model.users (id, name, name_key, version, create_time, update_time, position)"
        " VALUES (gen_random_uuid(), 'Eve', 'eve', 1, now(), now(), 1)",
        "UPDATE read_model.users SET name = 'Eve'",
        "DELETE FROM read_model.users",
        "UPDATE read_model.projection_checkpoint SET position = 0",
        "TRUNCATE read_model.event_log",
        "CREATE TEMP TABLE mine (x int)",
    ):
        assert refused(rm, forbidden) is psycopg.errors.InsufficientPrivilege, forbidden
    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        psycopg.connect(as_role(databases.event_store, ROLES.query)).close()


def test_the_service_roles_are_not_superusers_and_own_nothing(databases) -> None:
    for dsn in (databases.event_store, databases.read_model):
        with psycopg.connect(dsn) as conn:
            for role in (ROLES.command, ROLES.projector, ROLES.query):
                flags = conn.execute(
                    "SELECT rolsuper, rolcreaterole, rolcreatedb, rolbypassrls FROM pg_roles WHERE rolname = %s",
                    [role],
                ).fetchone()
                assert flags == (False, False, False, False), role
                owned = conn.execute(
                    "SELECT (SELECT count(*) FROM pg_class WHERE relowner = r.oid)"
                    " + (SELECT count(*) FROM pg_namespace WHERE nspowner = r.oid)"
                    " + (SELECT count(*) FROM pg_proc WHERE proowner = r.oid)"
                    " + (SELECT count(*) FROM pg_database WHERE datdba = r.oid)"
                    " FROM pg_roles r WHERE rolname = %s",
                    [role],
                ).fetchone()
                assert owned == (0,), role


def test_a_service_without_the_owners_dsn_checks_the_version_and_never_migrates(
    cluster: Cluster, new_database: Callable[[str], str]
) -> None:
    dsn = new_database("es")
    runtime = Database(as_role(dsn, ROLES.command), "event_store", 1)
    with pytest.raises(startup.SchemaNotReady, match="EVENT_STORE_MIGRATION_DSN"):
        startup.prepare(runtime, "event_store")
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT to_regclass('event_store.events')").fetchone() == (None,)
    startup.prepare(Database(dsn, "event_store", 1, migration_dsn=dsn), "event_store")
    startup.prepare(runtime, "event_store")  # now at the version this code needs


def test_grants_reach_tables_a_later_migration_adds(databases) -> None:
    # A new table (as a future migration would add it), then the grant step that every migrate runs.
    owner = as_role(databases.read_model, OWNER)
    with psycopg.connect(owner, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS read_model.later (id uuid PRIMARY KEY)")
    startup.prepare(Database(databases.read_model, "read_model", 1, migration_dsn=owner), "read_model")
    user_id: Any = str(uuid.uuid4())
    insert = f"INSERT INTO read_model.later VALUES ('{user_id}')"
    assert refused(as_role(databases.read_model, ROLES.projector), insert) is None
    assert refused(as_role(databases.read_model, ROLES.query), insert) is psycopg.errors.InsufficientPrivilege
    assert refused(as_role(databases.read_model, ROLES.query), "SELECT * FROM read_model.later") is None


def test_make_runs_owner_adopts_a_database_the_superuser_migrated_before_roles_existed(
    cluster: Cluster, new_database: Callable[[str], str]
) -> None:
    dsn = new_database("es")
    startup.prepare(Database(dsn, "event_store", 1, migration_dsn=dsn), "event_store")  # as before: all superuser
    give_to_owner(cluster.dsn(), dsn.rsplit("/", 1)[1])
    startup.prepare(Database(dsn, "event_store", 1, migration_dsn=as_role(dsn, OWNER)), "event_store")
    assert refused(as_role(dsn, ROLES.command), INSERT_EVENT) is None
    with psycopg.connect(dsn) as conn:
        owners = conn.execute(
            "SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class WHERE relnamespace = 'event_store'::regnamespace"
        ).fetchall()
    assert owners == [(OWNER,)]
