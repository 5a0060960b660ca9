"""`make run` as a reader runs it, on ports and folders of its own: free ports, a private data and run folder."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from devtools.processes import PORTS, free_port, port_taken
from tests.support.stack import Shell
from tests.support.waiting import wait_until

READY = "Ctrl-C here stops everything"  # the banner's last line: every service serves


@dataclass
class LocalStack:
    """Where one `make run` of a test keeps its data and run files, and the ports it is told to use."""

    folder: Path
    ports: dict[str, str]
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def run_dir(self) -> Path:
        return self.folder / "run"

    def env(self, base: dict[str, str]) -> dict[str, str]:
        """Returns `base` with every port overridden, the data and run folders set to this stack's, and `extra_env`."""
        folders = {"LOCAL_PG_DATA": str(self.folder / "pg"), "LOCAL_RUN_DIR": str(self.run_dir)}
        return base | self.ports | folders | self.extra_env

    def wait_banner(self, terminal: Shell, timeout: float = 180.0) -> None:
        """Waits until `make run` in `terminal` says that everything serves."""
        wait_until(
            lambda: READY in terminal.text() or terminal.process.poll() is not None,
            timeout,
            message="make run's banner",
        )
        assert READY in terminal.text(), terminal.text()

    def pid(self, name: str) -> int | None:
        """Returns the pid in run/<name>.pid, or None."""
        try:
            return int((self.run_dir / f"{name}.pid").read_text())
        except (OSError, ValueError):
            return None

    def postgres_listens(self) -> bool:
        return port_taken("127.0.0.1", int(self.ports["LOCAL_PG_PORT"]))


@contextlib.contextmanager
def local_stack() -> Iterator[LocalStack]:
    """Yields a LocalStack on fresh free ports in a folder the server's user can enter; removes the folder after."""
    folder = Path(tempfile.mkdtemp(prefix="users-cqrs-make-run-"))
    os.chmod(folder, 0o755)  # PostgreSQL runs as another user when the tests run as root
    ports = {"LOCAL_PG_PORT": str(free_port())} | {port.variable: str(free_port()) for port in PORTS.values()}
    try:
        yield LocalStack(folder, ports)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
