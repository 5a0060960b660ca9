"""The Compose files, checked against the code: commands, variables, ports, health checks and dependencies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from psycopg.conninfo import conninfo_to_dict

from eventkit import config as settings_of
from eventkit import startup
from tests.support.deploy import code
from tests.support.deploy.compose import (
    AWKWARD_PASSWORD,
    PASSWORD_VARIABLES,
    command,
    config,
    container_ports,
    depends_on,
    duration_seconds,
    environment,
    load,
    ours,
    start_order,
    steps,
)
from tests.support.deploy.image import parse
from tests.support.processes import PORT_VARIABLE

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
FILES = sorted(DEPLOY.glob("compose*.yaml"))
DOCKERFILE = parse(DEPLOY / "Dockerfile")
SERVICE_ROLES = {
    "command_service": "users_command",
    "projector_service": "users_projector",
    "query_service": "users_query",
}


def role_password_variable(role: str) -> str:
    """The database server's variable that gives `role` its password (USERS_COMMAND_PASSWORD for users_command)."""
    return f"{role.upper()}_PASSWORD"


def module_of(service: dict[str, Any]) -> tuple[str, list[str]]:
    """The module and arguments a service runs (its command, or the image's CMD)."""
    argv = command(service) or DOCKERFILE.stages[-1].all("CMD")[-1].exec_form()
    return code.module_command(argv)


def by_default(services: dict[str, Any]) -> dict[str, Any]:
    """The services `up` starts without a profile (Prometheus is behind `--profile monitoring`)."""
    return {name: service for name, service in services.items() if not service.get("profiles")}


@pytest.fixture(params=FILES, ids=[f.name for f in FILES])
def services(request: pytest.FixtureRequest) -> dict[str, Any]:
    return load(request.param)["services"]


def test_there_are_the_two_server_file_and_the_one_server_variant() -> None:
    assert {f.name for f in FILES} == {"compose.yaml", "compose.one-server.yaml"}


def test_every_variable_has_a_default_so_the_one_liner_needs_no_setup() -> None:
    for file in FILES:
        resolved = config(file)
        assert resolved.returncode == 0 and "is not set" not in resolved.stderr, resolved.stderr
        chosen = str(load(file, {"POSTGRES_PASSWORD": "chosen-by-the-user"}))
        assert "chosen-by-the-user" in chosen, "the password can be set without editing the file"


def test_published_host_ports_can_be_moved_without_editing_the_file() -> None:
    for file in FILES:
        services = load(file, {"COMMAND_PORT": "60051", "QUERY_PORT": "60052"})["services"]
        published = {
            name: [(p["host_ip"], p["published"], p["target"]) for p in services[name]["ports"]]
            for name in ("command_service", "query_service")
        }
        assert published == {
            "command_service": [("127.0.0.1", "60051", 50051)],
            "query_service": [("127.0.0.1", "60052", 50052)],
        }


def test_the_password_reaches_each_service_whole_and_never_inside_a_dsn() -> None:
    for file in FILES:
        chosen = load(file, dict.fromkeys(PASSWORD_VARIABLES, AWKWARD_PASSWORD))["services"]
        for name, service in {**ours(chosen), **steps(chosen)}.items():
            env = environment(service)
            dsns = {variable: value for variable, value in env.items() if variable.endswith("_DSN")}
            assert dsns, name
            for variable, dsn in dsns.items():
                assert "password" not in conninfo_to_dict(dsn) and "@" not in dsn, f"{name} {variable}"
                password_variable = variable.removesuffix("_DSN") + "_PASSWORD"
                assert env[password_variable] == AWKWARD_PASSWORD
                if name in steps(chosen):
                    read = settings_of.event_store if variable.startswith("EVENT_STORE") else settings_of.read_model
                    assert read(env, dsn_required=False).migration_password == AWKWARD_PASSWORD
                    continue
                settings = code.read_settings(module_of(service)[0], env)[0]
                database = settings.event_store if variable.startswith("EVENT_STORE") else settings.read_model
                assert database.password == AWKWARD_PASSWORD, "read whole, spaces and quotes included"


def test_each_service_logs_in_as_its_own_role_and_only_the_migrate_step_as_the_owner(services) -> None:
    for name, service in ours(services).items():
        users = {conninfo_to_dict(v)["user"] for k, v in environment(service).items() if k.endswith("_DSN")}
        assert users == {SERVICE_ROLES[name]}, name
    (migrate,) = steps(services).values()
    assert command(migrate) == ["python", "-m", "eventkit.migrations"]
    env = environment(migrate)
    assert {conninfo_to_dict(v)["user"] for k, v in env.items() if k.endswith("_DSN")} == {"users_owner"}
    assert {k for k in env if k.endswith("_DSN")} == {"EVENT_STORE_MIGRATION_DSN", "READ_MODEL_MIGRATION_DSN"}
    for name, service in ours(services).items():
        assert depends_on(service).get("migrate") == "service_completed_successfully", f"{name} may start unmigrated"


def test_each_service_runs_a_command_the_code_has(services) -> None:
    assert set(ours(services)) == set(PORT_VARIABLE), "one container per service, named after its module"
    for name, service in ours(services).items():
        module, args = module_of(service)
        assert module == name and code.has_main(module)
        assert code.accepts(module, args), f"`python -m {module} --help` does not list {args[0]!r}"


def test_each_service_sets_only_what_its_code_reads_and_everything_it_requires(services) -> None:
    for name, service in ours(services).items():
        module, _ = module_of(service)
        env = environment(service)
        code.read_settings(module, env)  # a missing required variable or a bad value raises ConfigError
        assert code.unread(module, env) == set(), f"{name} sets variables its code never reads"


def test_services_sharing_a_database_agree_on_where_it_is(services) -> None:
    def settings(module: str) -> Any:
        return code.read_settings(module, environment(services[module]))[0]

    def where(database: Any) -> tuple[str, str, str, str]:
        found = conninfo_to_dict(database.dsn)  # each service its own role: the same server, database, schema
        return found["host"], found["port"], found["dbname"], database.schema

    command_side, projector, query = (settings(m) for m in ("command_service", "projector_service", "query_service"))
    migrate = environment(next(iter(steps(services).values())))
    assert where(projector.event_store) == where(command_side.event_store)
    assert where(projector.event_store) == where(startup.owner(settings_of.event_store(migrate, dsn_required=False)))
    assert where(projector.read_model) == where(query.read_model)
    assert where(projector.read_model) == where(startup.owner(settings_of.read_model(migrate, dsn_required=False)))
    assert projector.projection_name == query.projection_name
    if where(projector.event_store)[:3] == where(projector.read_model)[:3]:
        assert projector.event_store.schema != projector.read_model.schema, "one database, two schemas"


def test_each_dsn_names_a_healthy_dependency_with_its_credentials(services) -> None:
    for name, service in {**ours(services), **steps(services)}.items():
        env = environment(service)
        for variable, value in env.items():
            if not variable.endswith("_DSN"):
                continue
            dsn = conninfo_to_dict(value)
            assert dsn["port"] == "5432"
            assert depends_on(service).get(dsn["host"]) == "service_healthy", f"{name} may start before {dsn['host']}"
            database = environment(services[dsn["host"]])
            # The server creates the role with the password the service logs in with (deploy/postgres/roles.sh).
            assert (env[variable.removesuffix("_DSN") + "_PASSWORD"], dsn["dbname"]) == (
                database[role_password_variable(dsn["user"])],
                database["POSTGRES_DB"],
            ), f"{name} {variable}"


def test_what_a_service_waits_for_has_a_healthcheck_and_the_order_has_no_cycle(services) -> None:
    order = start_order(services)
    for name, service in services.items():
        for dependency, condition in depends_on(service).items():
            assert order.index(dependency) < order.index(name)
            if dependency in steps(services):  # a one-shot step is waited for until it has succeeded
                assert condition == "service_completed_successfully", f"{name} waits for {dependency} only to start"
                continue
            assert condition == "service_healthy", f"{name} waits for {dependency} only to start"
            assert "healthcheck" in services[dependency]


def test_service_healthchecks_ask_the_health_service_of_their_own_module(services) -> None:
    runtime = DOCKERFILE.stages[-1]
    assert runtime.env()["PATH"].startswith("/opt/venv/bin:")
    installs = " ".join(r.args for s in DOCKERFILE.stages for r in s.all("RUN"))
    assert "deploy/healthcheck.py /opt/venv/bin/healthcheck" in installs, "the image puts `healthcheck` on PATH"
    for service in ours(services).values():
        module, _ = module_of(service)
        assert service["healthcheck"]["test"] == ["CMD", "healthcheck", module]
    for name, service in by_default(services).items():
        if name not in ours(services) and name not in steps(services):
            assert "pg_isready" in " ".join(service["healthcheck"]["test"])


def test_only_the_two_apis_are_published_each_on_its_own_port(services) -> None:
    published = {name for name, service in by_default(services).items() if service.get("ports")}
    assert published == {"command_service", "query_service"}, "databases and the projector stay private"
    for name in published:
        module, _ = module_of(services[name])
        assert container_ports(services[name]) == [code.ports(module, environment(services[name]))["grpc"]]


def test_one_service_builds_the_one_image_and_the_others_run_it(services) -> None:
    images = {service["image"] for service in ours(services).values()}
    assert len(images) == 1, "one image, three entry points"
    builders = [service for service in ours(services).values() if "build" in service]
    assert len(builders) == 1, "`up --build` builds the image once, not once per service"
    context = (DEPLOY / builders[0]["build"]["context"]).resolve()
    assert context == ROOT and (context / builders[0]["build"]["dockerfile"]).is_file()
    assert builders[0]["pull_policy"] == "build", "never pulled: a registry image of that name is not ours"
    for service in ours(services).values():
        assert service is builders[0] or service["pull_policy"] == "never"


def test_containers_are_locked_down_and_stop_after_the_services_own_grace(services) -> None:
    for name, service in ours(services).items():
        assert service["read_only"] is True and service["cap_drop"] == ["ALL"]
        assert "no-new-privileges:true" in service["security_opt"]
        module, _ = module_of(service)
        grace = code.read_settings(module, environment(service))[0].common.shutdown_grace
        assert duration_seconds(service["stop_grace_period"]) > grace, f"{name} is killed while draining"


def test_databases_keep_their_data_in_declared_named_volumes() -> None:
    for file in FILES:
        compose = load(file)
        for name, service in by_default(compose["services"]).items():
            if name in ours(compose["services"]) or name in steps(compose["services"]):
                assert not service.get("volumes"), "the services keep no state"
                continue
            # Data in named volumes; besides them only read-only files of deploy/ (the roles script).
            data = [v["source"] for v in service["volumes"] if v["type"] == "volume"]
            assert data and all(source in compose["volumes"] for source in data)
            files = [v for v in service["volumes"] if v["type"] != "volume"]
            assert all(v["type"] == "bind" and v.get("read_only") for v in files), "no writable host folders"
            assert all(Path(v["source"]).is_file() and DEPLOY in Path(v["source"]).parents for v in files), files
