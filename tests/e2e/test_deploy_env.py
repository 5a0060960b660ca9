"""The services as separate processes, configured only with what the deployment files give each container.

The test rewrites only what must differ on one shared test machine: each DSN (to a fresh database
of the test cluster, one per database the file names) and each listening port (to a free one, as
separate containers would not collide). Everything else, including the commands, comes from the files.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from devtools.pgcluster import Cluster
from devtools.processes import free_port
from devtools.roles import give_to_owner
from tests.support.deploy import kustomize
from tests.support.deploy.code import module_command
from tests.support.deploy.compose import (
    AWKWARD_PASSWORD,
    PASSWORD_VARIABLES,
    command,
    depends_on,
    environment,
    load,
    ours,
    start_order,
    steps,
)
from tests.support.deploy.pods import Container, containers, job_containers
from tests.support.deployed import DeployedProcess, assert_serving_and_healthy, round_trip, run_step
from tests.support.processes import PORT_VARIABLE, ROOT

DEPLOY = ROOT / "deploy"
COMPOSE_FILES = sorted(DEPLOY.glob("compose*.yaml"))


@pytest.fixture
def deployed() -> Iterator[Callable[[list[str], dict[str, str]], DeployedProcess]]:
    started: list[DeployedProcess] = []

    def start(argv: list[str], env: dict[str, str]) -> DeployedProcess:
        module, args = module_command(argv)
        if "METRICS_PORT" in env:
            # Each container has its own network namespace (the files give all 9464); here, one host.
            env = {**env, "METRICS_PORT": str(free_port())}
        process = DeployedProcess(module, env, args).start()
        started.append(process)
        return process

    yield start
    for process in started:
        try:
            process.terminate(timeout=20)
        except Exception:
            process.kill()


@pytest.mark.parametrize("compose_file", COMPOSE_FILES, ids=[f.name for f in COMPOSE_FILES])
def test_the_services_reach_serving_configured_only_by_the_compose_environment(
    compose_file, cluster, new_database, deployed
) -> None:
    services = load(compose_file)["services"]
    mine = ours(services)
    databases: dict[tuple[str, str], str] = {}

    def here(value: str) -> str:
        # One test database per database the file names, owned by the owner role as the roles
        # script makes it; the user (each service's own role) stays as the file gives it.
        where = conninfo_to_dict(value)
        key = (where["host"], where["dbname"])
        if key not in databases:
            databases[key] = new_database(key[1][:4])
            give_to_owner(cluster.dsn(), conninfo_to_dict(databases[key])["dbname"])
        return make_conninfo(databases[key], user=where["user"])

    def rewritten(name: str) -> dict[str, str]:
        env = environment(services[name])
        return {k: here(v) if k.endswith("_DSN") else v for k, v in env.items()}

    for name, step in steps(services).items():  # compose runs it before anything that waits for it
        run_step(command(step), rewritten(name))
    running: dict[str, DeployedProcess] = {}
    waiting = [n for n in start_order(services) if n in mine]
    while waiting:
        # Like docker compose: start at once everything whose dependencies are healthy, then wait.
        ready = [n for n in waiting if all(d in running or d not in mine for d in depends_on(services[n]))]
        assert ready, f"nothing can start: {waiting}"
        for name in ready:
            running[name] = deployed(command(services[name]), rewritten(name))
        for name in ready:
            assert_serving_and_healthy(running[name])
            waiting.remove(name)
    assert set(running) == set(PORT_VARIABLE)
    round_trip(running["command_service"].address, running["query_service"].address)


def test_the_dev_overlay_replicas_reach_serving_when_all_start_at_once(cluster, new_database, deployed) -> None:
    build = kustomize.build(DEPLOY / "k8s" / "overlays" / "dev")
    databases: dict[str, str] = {}

    def resolve_secrets(container: Container) -> dict[str, str]:
        # One test database per CloudNativePG Cluster (`<cluster>-app`, `<cluster>-<role>` Secrets),
        # owned by the owner role as the Cluster's initdb makes it; each DSN keeps its role.
        env = dict(container.env)
        for (secret, key), variable in container.from_secrets.items():
            if key == "password":  # the test cluster trusts loopback: any password does
                env[variable] = "unused-by-trust"
            elif key == "uri":
                database = secret.rsplit("-", 1)[0]
                if database not in databases:
                    databases[database] = new_database(database[:5])
                    give_to_owner(cluster.dsn(), conninfo_to_dict(databases[database])["dbname"])
                user = "users_owner" if secret.endswith("-app") else conninfo_to_dict(env[variable])["user"]
                env[variable] = make_conninfo(databases[database], user=user)
        if "READ_MODEL_REPLICA_DSN" in env:
            # read-model-r: every instance of the dev overlay's one-instance Cluster, its primary. Laid
            # over READ_MODEL_DSN as there, so the query service takes its replica path to the same server.
            assert env["READ_MODEL_REPLICA_DSN"] == "host=read-model-r"
            env["READ_MODEL_REPLICA_DSN"] = "host=127.0.0.1"
        return env

    for job in job_containers(build):  # the migrate Job, before the pods it lets become ready
        run_step(job.spec["command"], resolve_secrets(job))
    running: dict[str, list[DeployedProcess]] = {}
    for container in containers(build):
        autoscaler = next(
            (
                h
                for h in build.of_kind("HorizontalPodAutoscaler")
                if h["spec"]["scaleTargetRef"]["name"] == container.deployment["metadata"]["name"]
            ),
            None,
        )
        replicas = autoscaler["spec"]["minReplicas"] if autoscaler else container.deployment["spec"]["replicas"]
        for _ in range(min(replicas, 2)):
            process = deployed(container.spec["command"], resolve_secrets(container))
            running.setdefault(process.module, []).append(process)
    assert set(running) == set(PORT_VARIABLE)
    for processes in running.values():
        for process in processes:
            assert_serving_and_healthy(process)  # the projector's standby too: readiness gates rollouts
            if "METRICS_PORT" in process.env:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{process.env['METRICS_PORT']}/metrics", timeout=10
                ) as answer:
                    assert answer.status == 200
    round_trip(running["command_service"][-1].address, running["query_service"][-1].address)


@pytest.fixture
def password_cluster() -> Iterator[Cluster]:
    """A cluster of its own that checks passwords (SCRAM) for every role but its superuser."""
    base = Path(tempfile.mkdtemp(prefix="users-cqrs-scram-"))
    os.chmod(base, 0o755)  # the server may run as another user (tests run as root in CI)
    cluster = Cluster(base / "data", free_port(), durable=False)
    cluster.init()
    hba = cluster.datadir / "pg_hba.conf"
    # First match wins: the test's superuser keeps trust, every other role must give its password.
    rules = "host all postgres 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256\n"
    hba.write_text(rules + hba.read_text(encoding="utf-8"), encoding="utf-8")
    cluster.start()
    yield cluster
    cluster.stop(fast=False)
    shutil.rmtree(base, ignore_errors=True)


def test_a_password_with_uri_and_keyword_metacharacters_works_as_compose_passes_it(password_cluster, deployed) -> None:
    chosen = dict.fromkeys(PASSWORD_VARIABLES, AWKWARD_PASSWORD)
    services = load(DEPLOY / "compose.yaml", chosen)["services"]
    for server in ("write_model", "read_model"):
        # What the postgres image does on a fresh volume: create POSTGRES_DB, then run the roles script.
        env = environment(services[server])
        password_cluster.create_database(env["POSTGRES_DB"])
        script = subprocess.run(
            ["sh", str(DEPLOY / "postgres" / "roles.sh")],
            env={
                **env,
                "PATH": f"{password_cluster.bindir}:{os.environ['PATH']}",
                "PGHOST": "127.0.0.1",
                "PGPORT": str(password_cluster.port),
            },
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert script.returncode == 0, script.stderr
    # The cluster does check passwords, and the pasted-URI form of the same credentials cannot log in.
    where = {"host": "127.0.0.1", "port": password_cluster.port, "dbname": "event_store", "user": "users_command"}
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(make_conninfo(**where), password="wrong", connect_timeout=5).close()
    with pytest.raises(psycopg.Error):
        pasted = f"postgresql://users_command:{AWKWARD_PASSWORD}@127.0.0.1:{password_cluster.port}/event_store"
        psycopg.connect(pasted, connect_timeout=5).close()

    def here(name: str) -> dict[str, str]:
        env = environment(services[name])  # only where the server is: the credentials stay as the file gives them
        return {
            k: make_conninfo(v, host="127.0.0.1", port=password_cluster.port) if k.endswith("_DSN") else v
            for k, v in env.items()
        }

    for name, step in steps(services).items():
        run_step(command(step), here(name))
    running: dict[str, DeployedProcess] = {}
    for name in [n for n in start_order(services) if n in ours(services)]:
        running[name] = deployed(command(services[name]), here(name))
        assert_serving_and_healthy(running[name])
    round_trip(running["command_service"].address, running["query_service"].address)
    with psycopg.connect(password_cluster.dsn("event_store")) as conn:  # and each as its own role
        users = conn.execute("SELECT DISTINCT usename FROM pg_stat_activity WHERE datname = 'event_store'").fetchall()
    assert {u for (u,) in users} >= {"users_command", "users_projector"} and "users_query" not in {u for (u,) in users}
