"""What the code itself says a deployment must match: the variables each service reads, its ports, its commands."""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from deploy.healthcheck import grpc_port, settings_reader

ROOT = Path(__file__).resolve().parents[3]
PYTHONS = ("python", "python3")


class RecordingEnv(Mapping[str, str]):
    """A read-only environment that remembers every variable the code asks for."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = dict(values)
        self.asked: set[str] = set()

    def __getitem__(self, name: str) -> str:
        self.asked.add(name)
        return self._values[name]

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        self.asked.add(name)
        return self._values.get(name, default)

    def __contains__(self, name: object) -> bool:
        self.asked.add(str(name))
        return name in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


def read_settings(module: str, env: Mapping[str, str]) -> tuple[Any, set[str]]:
    """Reads `module`'s settings from `env` exactly as the service does; returns them and the names it asked for.

    Raises eventkit.config.ConfigError when a required variable is missing or a value is unusable.
    """
    recording = RecordingEnv(env)
    settings = settings_reader(module)(recording)
    return settings, recording.asked


def unread(module: str, env: Mapping[str, str]) -> set[str]:
    """Returns the variables in `env` that `module` never reads (typos, or settings of another service)."""
    _, asked = read_settings(module, env)
    return set(env) - asked


def ports(module: str, env: Mapping[str, str]) -> dict[str, int]:
    """Returns the ports `module` opens with `env`: its gRPC server's and, when enabled, the metrics endpoint's."""
    settings, _ = read_settings(module, env)
    opened = {"grpc": grpc_port(settings)}
    if settings.common.metrics_port:
        opened["metrics"] = settings.common.metrics_port
    return opened


def module_command(argv: list[str]) -> tuple[str, list[str]]:
    """Splits `python -m MODULE ARGS...` into (MODULE, ARGS); anything else is a ValueError."""
    if len(argv) < 3 or argv[0] not in PYTHONS or argv[1] != "-m":
        raise ValueError(f"not a `python -m <module>` command: {argv}")
    return argv[2], argv[3:]


def has_main(module: str) -> bool:
    """Says whether `python -m module` can start: the package exists and has a __main__."""
    try:
        return importlib.util.find_spec(f"{module}.__main__") is not None
    except ModuleNotFoundError:
        return False


@functools.cache
def help_text(module: str) -> str:
    """Returns `python -m module --help` (which must exit 0): what the module says it accepts."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-m", module, "--help"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    if done.returncode != 0:
        raise RuntimeError(f"python -m {module} --help exited {done.returncode}: {done.stderr[-2000:]}")
    return done.stdout


def accepts(module: str, args: list[str]) -> bool:
    """Says whether `module`'s --help lists the subcommand `args[0]` (no arguments is always accepted)."""
    if not args:
        return True
    return re.search(rf"(?<![\w-]){re.escape(args[0])}(?![\w-])", help_text(module)) is not None
