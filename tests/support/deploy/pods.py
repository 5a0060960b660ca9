"""Resolves what a rendered Deployment's container sees: its environment from ConfigMaps and Secrets."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from tests.support.deploy import code
from tests.support.deploy.kustomize import Build

# The keys of the `<cluster>-app` Secret a CloudNativePG Cluster creates (its "Connecting from an
# application" page); `uri` is a libpq connection URI to the primary's -rw Service.
CNPG_APP_KEYS = {
    "username",
    "password",
    "host",
    "port",
    "dbname",
    "pgpass",
    "uri",
    "jdbc-uri",
    "fqdn-uri",
    "fqdn-jdbc-uri",
}


@dataclass
class Container:
    """One container of a Deployment and the environment it would get."""

    deployment: dict[str, Any]
    spec: dict[str, Any]
    env: dict[str, str] = field(default_factory=dict)
    # (secret, key) -> variable, for values that only exist in the cluster (generated or made by hand).
    from_secrets: dict[tuple[str, str], str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    external: set[str] = field(default_factory=set)

    @property
    def name(self) -> str:
        """Returns `deployment/container`."""
        return f"{self.deployment['metadata']['name']}/{self.spec['name']}"


def module_of(container: Container) -> tuple[str, list[str]]:
    """The module and arguments a container runs."""
    return code.module_command(container.spec["command"])


def _secret(build: Build, container: Container, variable: str, name: str, key: str, optional: bool) -> None:
    secret = build.find("Secret", name)
    if secret is not None:
        values = dict(secret.get("stringData") or {})
        values.update({k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()})
        if key in values:
            container.env[variable] = values[key]
            container.from_secrets[(name, key)] = variable  # from a Secret all the same
        elif not optional:
            container.problems.append(f"{container.name}: Secret {name} has no key {key!r}")
        return
    cluster = build.find("Cluster", name.removesuffix("-app")) if name.endswith("-app") else None
    if cluster is None:
        container.external.add(name)  # made by hand, e.g. for a managed database
    elif key not in CNPG_APP_KEYS:
        container.problems.append(f"{container.name}: a CloudNativePG app Secret has no key {key!r}")
        return
    if not optional:
        # The value exists only in the cluster: a stand-in that says where it comes from, a URI where
        # it stands for one (settings that build on a DSN, such as READ_MODEL_REPLICA_DSN, parse it).
        uri = key.endswith("uri") and "jdbc" not in key
        container.env[variable] = f"postgresql://{name}.secret/{key}" if uri else f"secret:{name}/{key}"
        container.from_secrets[(name, key)] = variable


def _config_map(build: Build, container: Container, name: str, optional: bool) -> dict[str, str] | None:
    found = build.find("ConfigMap", name)
    if found is None and not optional:
        container.problems.append(f"{container.name}: ConfigMap {name} is not defined")
    return None if found is None else {k: str(v) for k, v in (found.get("data") or {}).items()}


def resolve(build: Build, deployment: dict[str, Any], spec: dict[str, Any]) -> Container:
    """Resolves one container's environment: envFrom in order, then env, later names winning as in Kubernetes."""
    container = Container(deployment, spec)
    for source in spec.get("envFrom", []):
        if "configMapRef" in source:
            ref = source["configMapRef"]
            container.env.update(_config_map(build, container, ref["name"], ref.get("optional", False)) or {})
        else:
            container.problems.append(f"{container.name}: envFrom {source} is not a configMapRef (DSNs go in env)")
    for entry in spec.get("env", []):
        name, value_from = entry["name"], entry.get("valueFrom")
        if value_from is None:
            container.env[name] = str(entry.get("value", ""))
        elif "secretKeyRef" in value_from:
            ref = value_from["secretKeyRef"]
            _secret(build, container, name, ref["name"], ref["key"], ref.get("optional", False))
        elif "configMapKeyRef" in value_from:
            ref = value_from["configMapKeyRef"]
            data = _config_map(build, container, ref["name"], ref.get("optional", False)) or {}
            if ref["key"] in data:
                container.env[name] = data[ref["key"]]
        else:
            container.problems.append(
                f"{container.name}: {name} comes from {value_from}, which this check cannot resolve"
            )
    return container


def containers(build: Build) -> list[Container]:
    """Resolves every container of every Deployment in a rendered build."""
    return [
        resolve(build, deployment, spec)
        for deployment in build.of_kind("Deployment")
        for spec in deployment["spec"]["template"]["spec"]["containers"]
    ]


def job_containers(build: Build) -> list[Container]:
    """Resolves every container of every Job (the migrate step) in a rendered build."""
    return [
        resolve(build, job, spec)
        for job in build.of_kind("Job")
        for spec in job["spec"]["template"]["spec"]["containers"]
    ]
