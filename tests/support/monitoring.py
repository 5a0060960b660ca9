"""What the monitoring files (deploy/monitoring: dashboards and rules) ask of the services' metrics."""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from tests.support.processes import ROOT

MONITORING = ROOT / "deploy" / "monitoring"


def used_metric_names() -> set[tuple[str, str]]:
    """Returns (file and panel, metric name) for every metric a dashboard panel or an alert expression names."""
    used = set()
    for path in sorted(MONITORING.glob("grafana/*.json")):
        dashboard = json.loads(path.read_text())
        for panel in dashboard["panels"]:
            for target in panel.get("targets", []):
                used |= {(f"{path.name} {panel['title']!r}", n) for n in metric_names(target["expr"])}
    assert used, "no dashboard panels found"
    for group in rule_groups():
        for rule in group["rules"]:
            used |= {(f"rules {rule.get('alert') or rule.get('record')}", n) for n in metric_names(rule["expr"])}
    return used


def rule_groups() -> list[dict[str, Any]]:
    """Returns the rule groups of deploy/monitoring/rules.yaml."""
    return yaml.safe_load((MONITORING / "rules.yaml").read_text())["groups"]


def recorded_names() -> set[str]:
    """Returns the names the recording rules define."""
    return {rule["record"] for group in rule_groups() for rule in group["rules"] if "record" in rule}


def metric_names(expr: str) -> set[str]:
    """Returns the metric names in a PromQL expression: ours are `users_`/`grpc_server_` series and `users:` rules."""
    return set(re.findall(r"\b(?:users_[a-z0-9_]+|grpc_server_[a-z0-9_]+|users:[a-z0-9_:]+)", expr))
