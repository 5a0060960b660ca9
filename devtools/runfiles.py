"""What `make run` leaves for other terminals: `.run/env` (DSNs, ports, addresses) and one pid file per process."""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path

from devtools.processes import ROOT

SUPERVISOR = "make-run"  # the pid file of `make run` itself


def short_name(module: str) -> str:
    """Names a service as `make run-X` does: command_service -> command."""
    return module.removesuffix("_service")


@dataclass(frozen=True)
class RunFiles:
    """The folder (`.run/`, or LOCAL_RUN_DIR) where one `make run` writes what it uses."""

    folder: Path

    @classmethod
    def here(cls) -> RunFiles:
        """Returns this checkout's run folder (LOCAL_RUN_DIR overrides it, e.g. for two stacks in one checkout)."""
        return cls(Path(os.environ.get("LOCAL_RUN_DIR", str(ROOT / ".run"))).resolve())

    @property
    def env_file(self) -> Path:
        return self.folder / "env"

    def shown(self, path: Path) -> str:
        """Returns `path` as a reader would type it: relative to the project when inside it."""
        return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)

    def write_env(self, values: dict[str, str], supervisor_pid: int) -> None:
        """Writes the variables as `export K=V` lines, so that `source .run/env` works in any POSIX shell."""
        self.folder.mkdir(parents=True, exist_ok=True)
        lines = [
            f"# Written by `make run` (pid {supervisor_pid}): the stack it runs. `make run-X` reads it;",
            f"# `source {self.shown(self.env_file)}` sets the same in a shell (for `users`, `python -m projector_service status`).",
            *(f"export {key}={shlex.quote(value)}" for key, value in values.items()),
        ]
        temporary = self.env_file.with_suffix(".tmp")
        temporary.write_text("\n".join(lines) + "\n")
        temporary.replace(self.env_file)  # a reader never sees half a file

    def read_env(self) -> dict[str, str] | None:
        """Returns the variables `make run` wrote, or None when there is no file."""
        try:
            text = self.env_file.read_text()
        except FileNotFoundError:
            return None
        values: dict[str, str] = {}
        for line in text.splitlines():
            words = shlex.split(line, comments=True)
            if len(words) == 2 and words[0] == "export" and "=" in words[1]:
                key, value = words[1].split("=", 1)
                values[key] = value
        return values

    def pid_file(self, name: str) -> Path:
        return self.folder / f"{name}.pid"

    def write_pid(self, name: str, pid: int) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.pid_file(name).write_text(f"{pid}\n")

    def live_pid(self, name: str, command_part: str) -> int | None:
        """Returns the pid in `name`.pid if that process still runs and its command line has `command_part`.

        The command line check keeps a recycled pid (the machine reuses them) from being taken for ours.
        """
        try:
            pid = int(self.pid_file(name).read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError):
            return None
        return pid if command_part in cmdline else None

    def forget_pid(self, name: str, pid: int) -> None:
        """Removes `name`.pid if it still names `pid` (another process may have written its own since)."""
        try:
            if int(self.pid_file(name).read_text().strip()) == pid:
                self.pid_file(name).unlink()
        except (OSError, ValueError):
            pass

    def clear(self) -> None:
        """Removes the env file and every pid file (the stack is gone)."""
        for path in [self.env_file, *self.folder.glob("*.pid")]:
            path.unlink(missing_ok=True)
