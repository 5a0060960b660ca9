"""Fixtures shared by every test: one throwaway PostgreSQL cluster per run, fresh databases per test."""

from __future__ import annotations

import os

# Before anything imports grpc: this process runs gRPC clients and servers while it forks service
# processes (subprocess with preexec_fn). With gRPC's fork handlers on, a child can abort between
# fork and exec with "epoll_wait: Bad file descriptor" (grpc/grpc#43055, grpcio >= 1.81), which
# looked like a service dying at start. The children exec at once, so they need no fork support.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devtools.pgcluster import Cluster, free_port
from devtools.roles import ensure_roles
from eventkit.config import Database
from tests.support.processes import ServiceProcess
from tests.support.roles import least_privilege


class ClusterWithRoles(Cluster):
    """A cluster whose start also creates the service roles, as every test cluster has them."""

    def start(self, timeout: float = 60.0) -> None:
        super().start(timeout)
        ensure_roles(self.dsn())  # idempotent: a restart finds them there


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    """A private, non-durable PostgreSQL cluster for the whole run, removed afterwards."""
    base = Path(tempfile.mkdtemp(prefix="users-cqrs-test-"))
    os.chmod(base, 0o755)  # the server may run as another user (tests run as root in CI)
    os.environ.setdefault("TEST_LOG_DIR", str(base))
    running = Cluster(base / "data", free_port(), durable=False)
    running.init()
    running.start()
    ensure_roles(running.dsn())  # migrations grant to them; service processes run as them (tests/support/roles.py)
    yield running
    running.stop(fast=False)
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def own_cluster() -> Iterator[Cluster]:
    """A cluster of the test's own, created but not started, so the test controls outages."""
    base = Path(tempfile.mkdtemp(prefix="users-cqrs-outage-"))
    os.chmod(base, 0o755)
    own = ClusterWithRoles(base / "data", free_port(), durable=False)
    own.init()
    yield own
    own.stop(fast=False)
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def new_database(cluster: Cluster) -> Iterator[Callable[[str], str]]:
    """Creates databases with unique names for one test and drops them after; returns their DSNs."""
    created: list[str] = []

    def create(prefix: str = "db") -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        cluster.create_database(name)
        created.append(name)
        return cluster.dsn(name)

    yield create
    for name in created:
        cluster.drop_database(name)


@pytest.fixture
def event_store(new_database: Callable[[str], str]) -> Database:
    """A fresh, empty event-store database (migrated with the same superuser DSN)."""
    dsn = new_database("es")
    return Database(dsn=dsn, schema="event_store", pool_size=4, migration_dsn=dsn)


@pytest.fixture
def read_model(new_database: Callable[[str], str]) -> Database:
    """A fresh, empty read-model database (migrated with the same superuser DSN)."""
    dsn = new_database("rm")
    return Database(dsn=dsn, schema="read_model", pool_size=4, migration_dsn=dsn)


@pytest.fixture
def services() -> Iterator[Callable[..., ServiceProcess]]:
    """Starts service processes for one test and stops them (SIGTERM, then SIGKILL) afterwards."""
    started: list[ServiceProcess] = []

    def start(module: str, env: dict[str, str], *args: str, port: int = 0) -> ServiceProcess:
        # Each service as its own unprivileged role, as in production (tests/support/roles.py).
        process = ServiceProcess(module, least_privilege(module, env), list(args), port).start()
        started.append(process)
        return process

    yield start
    for process in started:
        try:
            process.terminate(timeout=15)
        except Exception:
            process.kill()
