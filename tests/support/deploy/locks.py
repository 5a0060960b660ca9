"""Reads the pip-compile lock files: each pinned distribution with its version and hashes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)")
_HASH = re.compile(r"--hash=(sha256:[0-9a-f]{64})")


@dataclass(frozen=True)
class Pin:
    """One locked distribution."""

    version: str
    hashes: tuple[str, ...]


def canonical(name: str) -> str:
    """Returns a distribution name as PEP 503 compares it (PyYAML, pyyaml and py_yaml are one)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path) -> dict[str, Pin]:
    """Returns {canonical name: Pin} for every requirement in a lock file."""
    found: dict[str, Pin] = {}
    name, version, hashes = "", "", []
    for line in path.read_text(encoding="utf-8").splitlines() + [""]:
        match = _PIN.match(line)
        if (match or not line.startswith(" ")) and name:
            found[name] = Pin(version, tuple(hashes))
            name = ""
        if match:
            name, version, hashes = canonical(match.group(1)), match.group(2), []
        hashes += _HASH.findall(line)
    return found


def requirement_pins(requirements: list[str]) -> dict[str, str]:
    """Returns {canonical name: version} for pyproject.toml requirements pinned with `==`."""
    pinned = {}
    for requirement in requirements:
        match = re.match(r"^([A-Za-z0-9._-]+)(?:\[[^\]]*\])?==([^\s;]+)", requirement)
        assert match, f"{requirement!r} is not pinned exactly"
        pinned[canonical(match.group(1))] = match.group(2)
    return pinned
