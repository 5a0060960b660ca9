"""Prints the pinned requirements the image build installs, read from pyproject.toml, the one place pins live."""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path
from typing import Any

# Generating the stubs needs grpcio-tools; protobuf is pinned with it so the stubs match the runtime.
TOOLS = ("grpcio-tools", "protobuf")


def _name(requirement: str) -> str:
    return re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0].lower()


def runtime(project: dict[str, Any]) -> list[str]:
    """Returns what the services need at run time: the project's own dependencies."""
    return list(project["project"]["dependencies"])


def tools(project: dict[str, Any]) -> list[str]:
    """Returns the stub generator's pins: grpcio-tools from the dev extra, protobuf from the dependencies."""
    everything = project["project"]["optional-dependencies"]["dev"] + runtime(project)
    chosen = {_name(r): r for r in everything if _name(r) in TOOLS}
    missing = [name for name in TOOLS if name not in chosen]
    if missing:
        raise ValueError(f"pyproject.toml pins no {', '.join(missing)}")
    return [chosen[name] for name in TOOLS]


def main(argv: list[str]) -> int:
    """`python pins.py runtime|tools [pyproject.toml]` prints one requirement a line."""
    if len(argv) not in (2, 3) or argv[1] not in ("runtime", "tools"):
        print("usage: pins.py runtime|tools [pyproject.toml]", file=sys.stderr)
        return 2
    path = Path(argv[2] if len(argv) == 3 else "pyproject.toml")
    project = tomllib.loads(path.read_text(encoding="utf-8"))
    print("\n".join(runtime(project) if argv[1] == "runtime" else tools(project)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
