"""Production's way to run: `python -m eventkit.migrations` as the owner, then three services as three unprivileged roles."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator

import grpc
import psycopg
import pytest
from grpc_health.v1 import health_pb2

from devtools.pgcluster import Cluster
from devtools.roles import OWNER, give_to_owner
from eventkit.config import Roles
from tests.support.processes import ROOT, ServiceProcess
from tests.support.roles import as_role
from tests.support.waiting import wait_until
from users.v1 import command_service_pb2 as cpb
from users.v1 import command_service_pb2_grpc, query_service_pb2_grpc
from users.v1 import query_service_pb2 as qpb

ROLES = Roles()


@pytest.fixture
def owned(cluster: Cluster) -> Iterator[tuple[str, str]]:
    """An event store and a read model that the owner role owns, unmigrated."""
    names = [f"es_{uuid.uuid4().hex[:12]}", f"rm_{uuid.uuid4().hex[:12]}"]
    for name in names:
        cluster.create_database(name)
        give_to_owner(cluster.dsn(), name)
    yield cluster.dsn(names[0]), cluster.dsn(names[1])
    for name in names:
        cluster.drop_database(name)


def migrate(es: str, rm: str) -> subprocess.CompletedProcess[str]:
    env = dict(
        os.environ,
        PYTHONPATH=str(ROOT),
        EVENT_STORE_MIGRATION_DSN=as_role(es, OWNER),
        READ_MODEL_MIGRATION_DSN=as_role(rm, OWNER),
    )
    return subprocess.run(
        [sys.executable, "-m", "eventkit.migrations"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )


def connected_users(dsn: str) -> set[str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT DISTINCT usename FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return {row[0] for row in rows}


def test_services_wait_for_the_migrate_step_then_run_as_their_own_roles(
    owned: tuple[str, str], services: Callable[..., ServiceProcess]
) -> None:
    es, rm = owned
    command = services("command_service", {"EVENT_STORE_DSN": as_role(es, ROLES.command)})
    wait_until(lambda: command.health() == health_pb2.HealthCheckResponse.NOT_SERVING, timeout=30)
    stub = command_service_pb2_grpc.CommandServiceStub(grpc.insecure_channel(command.address))
    with pytest.raises(grpc.RpcError) as raised:
        stub.AddUser(cpb.AddUserRequest(name="too early"), timeout=10)
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "migrate" in command.output()

    done = migrate(es, rm)
    assert done.returncode == 0, done.stderr
    assert "event_store (event_store) is at version" in done.stdout

    command.wait_serving(60)
    env = {"EVENT_STORE_DSN": as_role(es, ROLES.projector), "READ_MODEL_DSN": as_role(rm, ROLES.projector)}
    services("projector_service", {**env, "PROJECTOR_POLL_INTERVAL_SECONDS": "0.5"}).wait_serving(60)
    query = services("query_service", {"READ_MODEL_DSN": as_role(rm, ROLES.query)}).wait_serving(60)

    added = stub.AddUser(cpb.AddUserRequest(name="Ada Lovelace"), timeout=10)
    reader = query_service_pb2_grpc.QueryServiceStub(grpc.insecure_channel(query.address))
    got = reader.GetUser(qpb.GetUserRequest(id=added.user.id, min_position=added.position), timeout=20)
    assert got.user.name == "Ada Lovelace"

    assert connected_users(es) == {ROLES.command, ROLES.projector}
    assert connected_users(rm) == {ROLES.projector, ROLES.query}
    assert migrate(es, rm).returncode == 0  # running it again changes nothing and fails nothing


def test_the_migrate_step_without_a_dsn_says_which_variables_it_needs() -> None:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_MIGRATION_DSN")}
    done = subprocess.run(
        [sys.executable, "-m", "eventkit.migrations"],
        env={**env, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "EVENT_STORE_MIGRATION_DSN" in done.stderr
