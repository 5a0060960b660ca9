"""The Kubernetes manifests, rendered as kustomize would, checked against the code and the image."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from psycopg.conninfo import conninfo_to_dict

from tests.support.deploy import code, kustomize
from tests.support.deploy.image import parse
from tests.support.deploy.kustomize import K8S, RENDERED
from tests.support.deploy.pods import containers, module_of
from tests.support.processes import PORT_VARIABLE

ROOT = Path(__file__).resolve().parents[2]
PROBES = ("startupProbe", "readinessProbe", "livenessProbe")
IMAGE_USER = parse(ROOT / "deploy" / "Dockerfile").stages[-1].all("USER")[-1].args


@pytest.fixture(params=list(RENDERED), scope="module")
def build(request: pytest.FixtureRequest) -> kustomize.Build:
    return kustomize.build(RENDERED[request.param])


def labels_match(selector: dict[str, str], labels: dict[str, str]) -> bool:
    """Whether a matchLabels selector selects these labels."""
    return all(labels.get(key) == value for key, value in selector.items())


def test_every_manifest_parses_and_says_what_it_is() -> None:
    files = sorted(K8S.rglob("*.yaml"))
    assert files
    for file in files:
        for document in kustomize.documents(file):
            if isinstance(document, list):  # a JSON 6902 patch
                assert all({"op", "path"} <= set(operation) for operation in document), file
            else:
                assert document.get("kind") and document.get("apiVersion"), file
                assert document["kind"] == "Kustomization" or document["metadata"]["name"], file


def test_every_kustomization_renders_with_kubectl_and_uses_every_file_beside_it() -> None:
    used: set[Path] = set()
    for file in K8S.rglob("kustomization.yaml"):
        assert kustomize.build(file.parent).resources, f"{file} renders nothing"
        spec = yaml.safe_load(file.read_text(encoding="utf-8"))
        used |= {(file.parent / e).resolve() for e in spec.get("resources", [])}
        used |= {(file.parent / p["path"]).resolve() for p in spec.get("patches", []) if "path" in p}
        used.add(file.resolve())
    orphans = {f for f in K8S.rglob("*.yaml") if f.resolve() not in used}
    assert orphans == set(), "files no kustomization applies"


def test_every_rendered_resource_is_valid_for_the_kubernetes_api(build) -> None:
    assert kustomize.schema_problems(build) == []
    # Only CloudNativePG's Clusters go unchecked (no schema in kubernetes-validate), nothing else.
    assert {r["kind"] for r in build.resources if kustomize.is_custom(r)} <= {"Cluster"}


def test_a_manifest_the_api_would_refuse_fails_the_validation(build) -> None:
    deployment = copy.deepcopy(build.of_kind("Deployment")[0])
    deployment["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = ["Always"]
    assert kustomize.schema_problems(kustomize.Build([deployment]))


def test_each_container_runs_a_command_the_code_has(build) -> None:
    modules = []
    for container in containers(build):
        module, args = module_of(container)
        assert module in PORT_VARIABLE and code.has_main(module)
        assert code.accepts(module, args), f"`python -m {module} --help` does not list {args[0]!r}"
        modules.append(module)
    assert sorted(modules) == sorted(PORT_VARIABLE), "one Deployment per service"


def test_each_container_gets_only_what_its_code_reads_and_everything_it_requires(build) -> None:
    for container in containers(build):
        assert container.problems == []
        module, _ = module_of(container)
        code.read_settings(module, container.env)  # a missing required variable or a bad value raises
        assert code.unread(module, container.env) == set(), f"{container.name} gets variables it never reads"
        assert all(
            v.endswith(("_DSN", "_PASSWORD")) or v == "PAGE_TOKEN_SECRET" for v in container.from_secrets.values()
        )
        credentials = {v for v in container.env if v.endswith(("_DSN", "_PASSWORD"))}
        # Except a replica's DSN, laid over the primary's: a host in a ConfigMap, never a password.
        plain = {v for v in credentials - set(container.from_secrets.values()) if v == "READ_MODEL_REPLICA_DSN"}
        assert all("password" not in conninfo_to_dict(container.env[v]) for v in plain)
        credentials -= plain
        assert credentials <= set(container.from_secrets.values()), "DSNs and passwords come from Secrets only"
        for dsn in [v for v in credentials if v.endswith("_DSN")]:
            # The password from the same Secret as the DSN it goes with.
            (secret,) = {s for (s, _), v in container.from_secrets.items() if v == dsn}
            assert container.from_secrets[(secret, "password")] == dsn.removesuffix("_DSN") + "_PASSWORD"


def test_probes_ask_the_grpc_health_service_on_the_port_the_service_listens_on(build) -> None:
    for container in containers(build):
        module, _ = module_of(container)
        port = code.ports(module, container.env)["grpc"]
        for probe in PROBES:
            grpc = container.spec[probe]["grpc"]
            assert grpc["port"] == port and grpc.get("service", "") == "", f"{container.name} {probe}"


def test_declared_ports_are_the_ports_the_service_opens(build) -> None:
    for container in containers(build):
        module, _ = module_of(container)
        declared = {p["containerPort"] for p in container.spec["ports"]}
        assert declared == set(code.ports(module, container.env).values()), container.name
        annotations = container.deployment["spec"]["template"]["metadata"].get("annotations", {})
        if "prometheus.io/port" in annotations:
            assert int(annotations["prometheus.io/port"]) == code.ports(module, container.env)["metrics"]


def test_services_route_to_a_declared_port_of_the_pods_they_select(build) -> None:
    deployments = build.of_kind("Deployment")
    for service in build.of_kind("Service"):
        selected = [
            d
            for d in deployments
            if labels_match(service["spec"]["selector"], d["spec"]["template"]["metadata"]["labels"])
        ]
        assert len(selected) == 1, f"Service {service['metadata']['name']} selects {len(selected)} Deployments"
        ports = selected[0]["spec"]["template"]["spec"]["containers"][0]["ports"]
        for entry in service["spec"]["ports"]:
            target = next(p for p in ports if entry["targetPort"] in (p.get("name"), p["containerPort"]))
            assert target["containerPort"] == entry["port"], "the Service port is the one clients know"


def test_pods_run_locked_down_as_the_images_user_with_requests_and_limits(build) -> None:
    uid, gid = (int(x) for x in IMAGE_USER.split(":"))
    for container in containers(build):
        pod = container.deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["automountServiceAccountToken"] is False
        assert (pod["securityContext"]["runAsUser"], pod["securityContext"]["runAsGroup"]) == (uid, gid)
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        context = container.spec["securityContext"]
        assert context["readOnlyRootFilesystem"] is True and context["allowPrivilegeEscalation"] is False
        assert context["capabilities"]["drop"] == ["ALL"]
        resources = container.spec["resources"]
        assert {"cpu", "memory"} <= set(resources["requests"]) and {"cpu", "memory"} <= set(resources["limits"])


def test_pods_get_longer_to_stop_than_the_services_own_shutdown_grace(build) -> None:
    for container in containers(build):
        module, _ = module_of(container)
        grace = code.read_settings(module, container.env)[0].common.shutdown_grace
        assert container.deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > grace


def _autoscaler(build: kustomize.Build, name: str) -> dict[str, Any] | None:
    return next(
        (h for h in build.of_kind("HorizontalPodAutoscaler") if h["spec"]["scaleTargetRef"]["name"] == name), None
    )


def test_command_and_query_scale_out_and_the_projector_runs_one_standby(build) -> None:
    for container in containers(build):
        module, _ = module_of(container)
        deployment = container.deployment
        autoscaler = _autoscaler(build, deployment["metadata"]["name"])
        if module == "projector_service":
            assert deployment["spec"]["replicas"] == 2 and autoscaler is None, "one leader, one standby"
        else:
            assert autoscaler is not None and autoscaler["spec"]["scaleTargetRef"]["kind"] == "Deployment"
            assert 2 <= autoscaler["spec"]["minReplicas"] <= autoscaler["spec"]["maxReplicas"]
            # The autoscaler owns the count: a `replicas` here would reset it on every apply.
            assert "replicas" not in deployment["spec"], deployment["metadata"]["name"]


def millicores(quantity: str | int | float) -> float:
    """Converts a Kubernetes CPU quantity ("250m", "1", 0.5) to millicores."""
    text = str(quantity)
    return float(text[:-1]) if text.endswith("m") else float(text) * 1000


def test_autoscalers_scale_out_on_real_load_not_at_idle(build) -> None:
    for container in containers(build):
        autoscaler = _autoscaler(build, container.deployment["metadata"]["name"])
        if autoscaler is None:
            continue
        (metric,) = autoscaler["spec"]["metrics"]
        assert metric["resource"]["name"] == "cpu"
        target, resources = metric["resource"]["target"], container.spec["resources"]
        if target["type"] == "Utilization":
            threshold = target["averageUtilization"] / 100 * millicores(resources["requests"]["cpu"])
        else:
            threshold = millicores(target["averageValue"])
        # Above a tenth of a core a pod (an idle service uses a few millicores), below what a pod may use.
        assert 100 <= threshold < millicores(resources["limits"]["cpu"]), f"{container.name} scales at {threshold}m"


def test_every_deployment_has_a_disruption_budget_that_still_lets_a_node_drain(build) -> None:
    budgets = build.of_kind("PodDisruptionBudget")
    for deployment in build.of_kind("Deployment"):
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        mine = [b for b in budgets if labels_match(b["spec"]["selector"]["matchLabels"], labels)]
        assert len(mine) == 1, deployment["metadata"]["name"]
        autoscaler = _autoscaler(build, deployment["metadata"]["name"])
        fewest = autoscaler["spec"]["minReplicas"] if autoscaler else deployment["spec"]["replicas"]
        spec = mine[0]["spec"]
        assert spec.get("maxUnavailable", 0) >= 1 or spec["minAvailable"] < fewest


def test_every_deployment_runs_the_one_image(build) -> None:
    assert len({c.spec["image"] for c in containers(build)}) == 1
