"""Builds a kustomization as `kustomize build` does for the features we use, and lists what does not resolve.

Supported: resources (files and directories), patches (strategic merge or JSON 6902, by path or
inline, with or without a target), namespace, images, replicas. Any other field is reported, so a
feature this checker does not understand can never pass unchecked.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from deploy.checks.merge import apply_json6902, strategic_merge

SUPPORTED = {"apiVersion", "kind", "resources", "patches", "namespace", "images", "replicas"}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "StorageClass"}
NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


@dataclass
class Build:
    """The resources a kustomization renders, and every reference in it that does not resolve."""

    resources: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def find(self, kind: str, name: str) -> dict[str, Any] | None:
        """Returns the rendered resource of this kind and name, if any."""
        return next((r for r in self.resources if r["kind"] == kind and r["metadata"]["name"] == name), None)

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        """Returns every rendered resource of one kind."""
        return [r for r in self.resources if r["kind"] == kind]


def documents(path: Path) -> list[Any]:
    """Parses every YAML document in a file, skipping empty ones."""
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc is not None]


def kustomization_file(directory: Path) -> Path | None:
    """Returns the kustomization file of a directory, if it has one."""
    return next((directory / n for n in NAMES if (directory / n).is_file()), None)


def _matches(resource: dict[str, Any], target: dict[str, Any]) -> bool:
    group, _, version = resource["apiVersion"].rpartition("/")
    wanted = {"kind": resource["kind"], "name": resource["metadata"]["name"], "group": group, "version": version}
    return all(wanted.get(key) == value for key, value in target.items() if key in wanted)


def _patch(build: Build, entry: dict[str, Any], where: Path) -> None:
    if "path" in entry:
        if not (where / entry["path"]).is_file():
            build.problems.append(f"{where}: patch {entry['path']} does not exist")
            return
        bodies = documents(where / entry["path"])
    else:
        bodies = [yaml.safe_load(entry["patch"])]
    for body in bodies:
        target = entry.get("target")
        if target is None and isinstance(body, dict):
            target = {"kind": body.get("kind"), "name": (body.get("metadata") or {}).get("name")}
        if target is None:
            build.problems.append(f"{where}: a JSON 6902 patch needs a target: {entry}")
            continue
        chosen = [r for r in build.resources if _matches(r, target)]
        if not chosen:
            build.problems.append(
                f"{where}: patch {entry.get('path', '(inline)')} targets {target}, absent from its resources"
            )
        for index, resource in enumerate(build.resources):
            if any(resource is c for c in chosen):
                if isinstance(body, list):
                    try:
                        build.resources[index] = apply_json6902(resource, body)
                    except (KeyError, IndexError, ValueError) as exc:
                        build.problems.append(f"{where}: patch {entry.get('path', '(inline)')} does not apply: {exc!r}")
                else:
                    patched = strategic_merge(resource, body)
                    patched["metadata"]["name"] = resource["metadata"]["name"]  # a targeted patch keeps names
                    build.resources[index] = patched


def _containers(resource: dict[str, Any]) -> list[dict[str, Any]]:
    pod = resource.get("spec", {}).get("template", {}).get("spec", {})
    return pod.get("containers", []) + pod.get("initContainers", [])


def _images(build: Build, images: list[dict[str, Any]], where: Path) -> None:
    for image in images:
        hits = 0
        for resource in build.resources:
            for container in _containers(resource):
                name, _, tag = container["image"].partition(":")
                if name != image["name"]:
                    continue
                hits += 1
                tag = image.get("newTag", tag)
                container["image"] = image.get("newName", name) + (f":{tag}" if tag else "")
        if not hits:
            build.problems.append(f"{where}: images entry {image['name']!r} matches no container")


def build(directory: Path) -> Build:
    """Renders the kustomization in `directory` (recursively through its resources)."""
    result = Build()
    file = kustomization_file(directory)
    if file is None:
        result.problems.append(f"{directory}: no kustomization file")
        return result
    spec = documents(file)[0]
    result.problems += [f"{file}: unsupported field {key!r}" for key in sorted(set(spec) - SUPPORTED)]
    for entry in spec.get("resources", []):
        path = directory / entry
        if path.is_dir():
            nested = build(path)
            result.resources += nested.resources
            result.problems += nested.problems
        elif path.is_file():
            result.resources += [copy.deepcopy(doc) for doc in documents(path)]
        else:
            result.problems.append(f"{file}: resource {entry} does not exist")
    for entry in spec.get("patches", []):
        _patch(result, entry, directory)
    _images(result, spec.get("images", []), directory)
    for replicas in spec.get("replicas", []):
        found = result.find("Deployment", replicas["name"]) or result.find("StatefulSet", replicas["name"])
        if found is None:
            result.problems.append(f"{file}: replicas names {replicas['name']!r}, which is not a workload here")
        else:
            found["spec"]["replicas"] = replicas["count"]
    if "namespace" in spec:
        for resource in result.resources:
            if resource["kind"] not in CLUSTER_SCOPED:
                resource["metadata"]["namespace"] = spec["namespace"]
    seen: set[tuple[str, str]] = set()
    for resource in result.resources:
        key = (resource["kind"], resource["metadata"]["name"])
        if key in seen:
            result.problems.append(f"{file}: {key[0]} {key[1]} is defined twice")
        seen.add(key)
    return result
