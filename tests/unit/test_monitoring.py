"""The monitoring files: alert rules unit-tested with promtool, Prometheus's config, and how Compose and Kubernetes wire it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from devtools import promtool
from tests.support.deploy.compose import environment, load
from tests.support.monitoring import MONITORING, rule_groups

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SERVICES = ("command_service", "projector_service", "query_service")


@pytest.fixture(scope="module")
def promtool_path() -> str:
    return promtool.ensure()


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), cwd=MONITORING, capture_output=True, text=True, timeout=120)


def test_the_alert_rules_pass_their_promtool_unit_tests(promtool_path: str) -> None:
    done = run(promtool_path, "test", "rules", "rules.test.yaml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_every_alert_the_rules_define_has_a_unit_test() -> None:
    alerts = {r["alert"] for g in rule_groups() for r in g["rules"] if "alert" in r}
    tested = {
        case["alertname"]
        for test in yaml.safe_load((MONITORING / "rules.test.yaml").read_text())["tests"]
        for case in test.get("alert_rule_test", [])
        if case["exp_alerts"]
    }
    assert alerts == tested, "each alert is shown firing at least once"


def test_the_prometheus_config_and_its_rules_are_valid(promtool_path: str) -> None:
    done = run(promtool_path, "check", "config", "prometheus.yml")
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("file", sorted(DEPLOY.glob("compose*.yaml")), ids=lambda f: f.name)
def test_compose_runs_prometheus_only_with_the_monitoring_profile_scraping_each_services_metrics_port(
    file: Path,
) -> None:
    assert "prometheus" not in load(file)["services"], "not started without the profile"
    services = load(file, {"COMPOSE_PROFILES": "monitoring"})["services"]
    prometheus = services["prometheus"]
    assert prometheus["profiles"] == ["monitoring"]
    mounts = {volume["target"]: volume["source"] for volume in prometheus["volumes"]}
    for name in ("prometheus.yml", "rules.yaml"):
        assert Path(mounts[f"/etc/prometheus/{name}"]) == MONITORING / name
    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text())
    targets = {job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]}
    assert targets == {name: [f"{name}:{environment(services[name])['METRICS_PORT']}"] for name in SERVICES}


def test_kubernetes_pods_are_annotated_for_scraping_on_their_metrics_port() -> None:
    documents = [
        d for f in sorted((DEPLOY / "k8s" / "base").glob("*.yaml")) for d in yaml.safe_load_all(f.read_text()) if d
    ]
    common = next(d for d in documents if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "users-cqrs-common")
    port = common["data"]["METRICS_PORT"]
    deployments = [d for d in documents if d["kind"] == "Deployment"]
    assert len(deployments) == 3
    for deployment in deployments:
        template = deployment["spec"]["template"]
        annotations = template["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true" and annotations["prometheus.io/port"] == port
        assert annotations["prometheus.io/path"] == "/metrics"
        ports = {p["name"]: p["containerPort"] for p in template["spec"]["containers"][0]["ports"]}
        assert str(ports["metrics"]) == port


def test_every_dashboard_panel_has_a_query_and_a_title() -> None:
    dashboards = sorted(MONITORING.glob("grafana/*.json"))
    assert dashboards
    for path in dashboards:
        panels = [p for p in json.loads(path.read_text())["panels"] if p["type"] != "row"]
        assert panels and all(p["title"] and p["targets"] and all(t["expr"] for t in p["targets"]) for p in panels)
