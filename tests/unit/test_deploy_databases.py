"""The Kubernetes manifests' databases: one login per service, the owner's only in the migrate job, CloudNativePG's DSNs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from psycopg.conninfo import conninfo_to_dict

from tests.support.deploy import code, kustomize
from tests.support.deploy.kustomize import K8S, RENDERED
from tests.support.deploy.pods import Container, containers, job_containers, module_of

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=list(RENDERED), scope="module")
def build(request: pytest.FixtureRequest) -> kustomize.Build:
    return kustomize.build(RENDERED[request.param])


def database_of(container: Container, variable: str) -> str:
    """The database a DSN variable names: its Secret is `<database>-app` (the owner) or `<database>-<role>`."""
    ((secret, _),) = [ref for ref, v in container.from_secrets.items() if v == variable]
    return secret.rsplit("-", 1)[0]


def test_services_sharing_a_database_reach_the_same_one_each_with_its_own_secret(build) -> None:
    def settings(module: str) -> tuple[Any, Container]:
        container = next(c for c in containers(build) if module_of(c)[0] == module)
        return code.read_settings(module, container.env)[0], container

    (command_side, c), (projector, p), (query, q) = (
        settings(m) for m in ("command_service", "projector_service", "query_service")
    )
    (migrate,) = job_containers(build)
    assert database_of(c, "EVENT_STORE_DSN") == database_of(p, "EVENT_STORE_DSN")
    assert database_of(c, "EVENT_STORE_DSN") == database_of(migrate, "EVENT_STORE_MIGRATION_DSN")
    assert database_of(p, "READ_MODEL_DSN") == database_of(q, "READ_MODEL_DSN")
    assert database_of(q, "READ_MODEL_DSN") == database_of(migrate, "READ_MODEL_MIGRATION_DSN")
    secrets = [{s for s, _ in x.from_secrets} for x in (c, p, q)]
    assert not (secrets[0] & secrets[1]) and not (secrets[1] & secrets[2]), "one login per service"
    assert projector.event_store.schema == command_side.event_store.schema == migrate.env["EVENT_STORE_SCHEMA"]
    assert projector.read_model.schema == query.read_model.schema == migrate.env["READ_MODEL_SCHEMA"]
    assert projector.projection_name == query.projection_name
    # The query service calls the projector dead after this long without a heartbeat.
    assert query.projector_stale_after > 2 * projector.heartbeat_interval


def test_only_the_migrate_job_has_the_owners_credentials_and_runs_the_migrations(build) -> None:
    (migrate,) = job_containers(build)
    assert migrate.problems == []
    assert migrate.spec["command"] == ["python", "-m", "eventkit.migrations"]
    assert {s for s, _ in migrate.from_secrets} == {"write-model-app", "read-model-app"}
    assert set(migrate.from_secrets.values()) == {
        f"{db}_MIGRATION_{part}" for db in ("EVENT_STORE", "READ_MODEL") for part in ("DSN", "PASSWORD")
    }
    for container in containers(build):
        assert not any(secret.endswith("-app") for secret, _ in container.from_secrets), container.name
        assert not any("MIGRATION" in variable for variable in container.env), container.name
    pod = next(j for j in build.of_kind("Job"))["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["automountServiceAccountToken"] is False
    assert migrate.spec["securityContext"]["readOnlyRootFilesystem"] is True


def test_the_dev_overlay_gets_its_dsns_from_its_cloudnativepg_clusters() -> None:
    build = kustomize.build(RENDERED["dev"])
    clusters = {c["metadata"]["name"]: c for c in build.of_kind("Cluster")}
    assert set(clusters) == {"write-model", "read-model"}
    for container in containers(build) + job_containers(build):
        assert container.external <= {"users-cqrs-page-token"}, "every DSN Secret comes from a Cluster or this overlay"
        for (secret, key), variable in container.from_secrets.items():
            if variable == "PAGE_TOKEN_SECRET":
                continue
            cluster = clusters[secret.rsplit("-", 1)[0]]
            if secret.endswith("-app"):
                assert cluster["spec"]["bootstrap"]["initdb"]["owner"] == "users_owner"
                continue
            # A managed role of that Cluster takes its password from this Secret, and the DSN logs in as it.
            (role,) = [r for r in cluster["spec"]["managed"]["roles"] if r["passwordSecret"]["name"] == secret]
            assert role["login"] and not role["superuser"] and not role["createrole"] and not role["createdb"]
            if key == "uri":
                assert conninfo_to_dict(container.env[variable])["user"] == role["name"]
                assert conninfo_to_dict(container.env[variable])["host"] == f"{cluster['metadata']['name']}-rw"


def test_every_secret_the_base_needs_from_outside_is_documented() -> None:
    readme = (ROOT / "deploy" / "README.md").read_text(encoding="utf-8")
    needed = {name for c in containers(kustomize.build(RENDERED["base"])) for name in c.external}
    assert needed
    for name in needed:
        assert f"`{name}`" in readme, f"deploy/README.md does not say how to create Secret {name}"


def test_with_cloudnativepg_the_query_service_reads_its_standbys_and_keeps_the_primary_for_listen() -> None:
    databases = kustomize.build(K8S / "databases" / "cloudnativepg")
    (read_model,) = [c for c in databases.of_kind("Cluster") if c["metadata"]["name"] == "read-model"]
    assert read_model["spec"]["instances"] >= 3, "two standbys behind -ro, one left after a failover"
    replicas = databases.find("ConfigMap", "users-cqrs-read-replicas")
    assert replicas is not None and replicas["data"] == {"READ_MODEL_REPLICA_DSN": "host=read-model-ro"}
    for overlay, host in (("base", None), ("dev", "read-model-r")):  # dev: one instance, -ro has none
        (query,) = [c for c in containers(kustomize.build(RENDERED[overlay])) if module_of(c)[0] == "query_service"]
        settings = code.read_settings("query_service", query.env)[0]
        # The primary through the query service's own login (the read-model-query Secret).
        assert query.from_secrets[("read-model-query", "uri")] == "READ_MODEL_DSN"
        if host is None:
            assert settings.replica is None
        else:
            assert conninfo_to_dict(settings.replica.dsn)["host"] == host
            assert settings.replica.password == settings.read_model.password
