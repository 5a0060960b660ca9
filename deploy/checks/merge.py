"""The two patch kinds kustomize applies: strategic merge (lists merged by key) and JSON 6902 operations."""

from __future__ import annotations

import copy
from typing import Any

# Kubernetes' patchMergeKey per list field; a list not named here is replaced whole, as in kustomize.
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "imagePullSecrets": "name",
}
PORT_KEYS = ("containerPort", "port")  # container ports merge by containerPort, Service ports by port


def _merge_key(field: str, items: list[Any]) -> str | None:
    if field == "ports":
        return next((k for k in PORT_KEYS if items and all(isinstance(i, dict) and k in i for i in items)), None)
    return MERGE_KEYS.get(field)


def _merge_list(field: str, base: list[Any], patch: list[Any]) -> list[Any]:
    key = _merge_key(field, patch)
    if key is None:
        return copy.deepcopy(patch)
    merged = copy.deepcopy(base)
    for item in patch:
        match = next(
            (i for i, old in enumerate(merged) if isinstance(old, dict) and old.get(key) == item.get(key)), None
        )
        if isinstance(item, dict) and item.get("$patch") == "delete":
            if match is not None:
                merged.pop(match)
        elif match is None:
            merged.append(copy.deepcopy(item))
        else:
            merged[match] = strategic_merge(merged[match], item)
    return merged


def strategic_merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Returns `base` with `patch` merged in: maps recursively, keyed lists by key, null deletes."""
    merged = copy.deepcopy(base)
    for field, value in patch.items():
        if value is None:
            merged.pop(field, None)
        elif isinstance(value, dict) and isinstance(merged.get(field), dict):
            merged[field] = strategic_merge(merged[field], value)
        elif isinstance(value, list) and isinstance(merged.get(field), list):
            merged[field] = _merge_list(field, merged[field], value)
        else:
            merged[field] = copy.deepcopy(value)
    return merged


def _walk(document: Any, pointer: str) -> tuple[Any, str]:
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.lstrip("/").split("/")]
    node = document
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node, parts[-1]


def apply_json6902(resource: dict[str, Any], operations: list[dict[str, Any]]) -> dict[str, Any]:
    """Returns `resource` with JSON patch operations (add, replace, remove) applied; KeyError if a path is absent."""
    patched = copy.deepcopy(resource)
    for operation in operations:
        parent, last = _walk(patched, operation["path"])
        kind = operation["op"]
        if isinstance(parent, list):
            index = len(parent) if last == "-" else int(last)
            if kind == "add":
                parent.insert(index, copy.deepcopy(operation["value"]))
            elif kind == "replace":
                parent[index] = copy.deepcopy(operation["value"])
            elif kind == "remove":
                parent.pop(index)
            else:
                raise ValueError(f"unsupported JSON patch op {kind!r}")
        elif kind in ("add", "replace"):
            if kind == "replace" and last not in parent:
                raise KeyError(f"replace of absent path {operation['path']}")
            parent[last] = copy.deepcopy(operation["value"])
        elif kind == "remove":
            del parent[last]
        else:
            raise ValueError(f"unsupported JSON patch op {kind!r}")
    return patched
