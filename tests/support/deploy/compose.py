"""Reads a Compose file as `docker compose` does: YAML with merge keys, `${VAR:-default}` interpolation, start order."""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

# $$, ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}, $NAME
_VARIABLE = re.compile(r"\$(?:(\$)|\{([A-Za-z_]\w*)(?:(:?[-?])([^}$]*))?\}|([A-Za-z_]\w*))")


def interpolate(text: str, variables: Mapping[str, str]) -> str:
    """Substitutes Compose variables in one string, as `docker compose` does with the shell's environment."""

    def replace(match: re.Match[str]) -> str:
        if match.group(1):
            return "$"
        name = match.group(2) or match.group(5)
        operator, argument = match.group(3), match.group(4) or ""
        value = variables.get(name)
        missing = value is None or (operator is not None and operator.startswith(":") and value == "")
        if operator in (":-", "-") and missing:
            return argument
        if operator in (":?", "?") and missing:
            raise ValueError(f"{name} must be set: {argument}")
        return value or ""

    return _VARIABLE.sub(replace, text)


def _walk(node: Any, change: Callable[[str], str]) -> Any:
    if isinstance(node, dict):
        return {key: _walk(value, change) for key, value in node.items()}
    if isinstance(node, list):
        return [_walk(item, change) for item in node]
    return change(node) if isinstance(node, str) else node


def load(path: Path, variables: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Parses and interpolates a Compose file; `variables` plays the shell environment (default: nothing set)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return _walk(data, lambda text: interpolate(text, variables or {}))


def environment(service: Mapping[str, Any]) -> dict[str, str]:
    """Returns a service's `environment` as a mapping, whichever of Compose's two forms it uses."""
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        raw = dict(item.split("=", 1) if "=" in item else (item, None) for item in raw)
    # A name without a value passes the shell's value through; with nothing set it is unset.
    return {name: str(value) for name, value in raw.items() if value is not None}


def command(service: Mapping[str, Any]) -> list[str] | None:
    """Returns a service's `command` as argv (None when it keeps the image's CMD)."""
    raw = service.get("command")
    if raw is None:
        return None
    return shlex.split(raw) if isinstance(raw, str) else [str(word) for word in raw]


def depends_on(service: Mapping[str, Any]) -> dict[str, str]:
    """Returns {dependency: condition} in either of Compose's forms (the short form means service_started)."""
    raw = service.get("depends_on") or {}
    if isinstance(raw, list):
        return {name: "service_started" for name in raw}
    return {name: (spec or {}).get("condition", "service_started") for name, spec in raw.items()}


def start_order(services: Mapping[str, Any]) -> list[str]:
    """Orders services so that each comes after everything it depends on, as `docker compose up` starts them."""
    ordered: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in ordered:
            return
        if name in visiting:
            raise ValueError(f"depends_on cycle through {name}")
        if name not in services:
            raise ValueError(f"depends_on names an unknown service {name!r}")
        visiting.add(name)
        for dependency in depends_on(services[name]):
            visit(dependency)
        visiting.discard(name)
        ordered.append(name)

    for name in services:
        visit(name)
    return ordered


def container_ports(service: Mapping[str, Any]) -> list[int]:
    """Returns the container side of every published port ("127.0.0.1:50051:50051" -> 50051)."""
    found = []
    for entry in service.get("ports") or []:
        target = entry.get("target") if isinstance(entry, dict) else str(entry).split("/")[0].rsplit(":", 1)[-1]
        found.append(int(target))
    return found


def duration_seconds(text: str) -> float:
    """Converts a Compose duration ("1m30s", "10s", "500ms") to seconds."""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|ms|us|m|s)", text)
    if not parts or "".join(a + b for a, b in parts) != text:
        raise ValueError(f"not a Compose duration: {text!r}")
    return sum(float(amount) * units[unit] for amount, unit in parts)


def ours(services: Mapping[str, Any]) -> dict[str, Any]:
    """Returns the services that run this repository's image: the one that builds it, and those that share its tag."""
    built = {service["image"] for service in services.values() if "build" in service}
    return {name: service for name, service in services.items() if service.get("image") in built}
