"""The six service processes of a scaled-out deployment: two of each, over one event store and one read model."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path

from eventkit import db
from eventkit.config import Database
from projector_service import leadership, status_sql
from tests.support.processes import ServiceProcess
from tests.support.projector import projector_env
from tests.support.system import QUERY_TEST_ENV

MODULES = {"command": "command_service", "projector": "projector_service", "query": "query_service"}
REPLICAS = 2
# A short grace keeps SIGTERM faults quick; the lifecycle contract (drain, then exit 0) is the same.
SERVICE_ENV = {"SHUTDOWN_GRACE_SECONDS": "3", **QUERY_TEST_ENV}
EXIT_WAIT_SECONDS = 30.0


@dataclass
class Fleet:
    """Starts, signals and restarts the service processes; remembers how SIGTERMed ones ended."""

    event_store: Database
    read_model: Database
    log_dir: Path
    processes: dict[str, ServiceProcess] = field(default_factory=dict)
    exit_codes: list[tuple[str, int | None]] = field(default_factory=list)  # (service, code); None: had to be killed

    def names(self, role: str | None = None) -> list[str]:
        """Returns the services' names (command-1, projector-2 ...), of one role if given."""
        roles = [role] if role else list(MODULES)
        return [f"{r}-{i}" for r in roles for i in range(1, REPLICAS + 1)]

    def addresses(self, role: str) -> list[str]:
        """Returns the gRPC addresses of the services of `role`."""
        return [self.processes[name].address for name in self.names(role)]

    def _env(self) -> dict[str, str]:
        return {**projector_env(self.event_store, self.read_model), **SERVICE_ENV}

    def _launch(self, name: str, port: int = 0) -> ServiceProcess:
        module = MODULES[name.split("-")[0]]
        process = ServiceProcess(module, self._env(), [], port, log_path=self.log_dir / f"{name}.log")
        self.processes[name] = process.start()
        return process

    def start(self) -> None:
        """Starts every service (the command services first: they create the event store) until SERVING."""
        for name in self.names("command"):
            self._launch(name).wait_serving(90)
        for name in self.names("projector") + self.names("query"):
            self._launch(name)
        for name in self.names("projector") + self.names("query"):
            self.processes[name].wait_serving(90)

    def pid(self, name: str) -> int:
        """Returns the pid of service `name`."""
        process = self.processes[name].process
        assert process is not None
        return process.pid

    def kill(self, name: str) -> None:
        """SIGKILLs service `name` and starts it again on its port."""
        self.processes[name].kill()
        self.restart(name)

    def terminate(self, name: str) -> None:
        """SIGTERMs service `name`, waits for its exit (SIGKILL after a bound), and starts it again."""
        service = self.processes[name]
        try:
            self.exit_codes.append((name, service.terminate(EXIT_WAIT_SECONDS)))
        except subprocess.TimeoutExpired:
            self.exit_codes.append((name, None))
            service.kill()
        self.restart(name)

    def restart(self, name: str) -> None:
        """Starts service `name` again on the port it had, and waits until it is SERVING."""
        self._launch(name, self.processes[name].port).wait_serving(90)

    def pause(self, name: str, seconds: float, halt: threading.Event) -> None:
        """Stops service `name` (SIGSTOP) for `seconds`, or until `halt` is set, then continues it."""
        pid = self.pid(name)
        os.kill(pid, signal.SIGSTOP)
        try:
            halt.wait(seconds)  # the fault itself: a process that is frozen this long
        finally:
            os.kill(pid, signal.SIGCONT)

    def leader(self) -> str | None:
        """Returns the name of the projector that holds the leader lock, or None while none does."""
        key = leadership.leader_key(self.read_model.schema, "users")
        with db.connect(self.read_model, autocommit=True) as conn:
            holder = status_sql.lock_holder(conn, key)
        if not holder:
            return None
        pid = int(holder.rsplit(":", 1)[1])
        return next((name for name in self.names("projector") if self.pid(name) == pid), None)

    def stop(self) -> None:
        """Stops every service: SIGTERM, then SIGKILL for any that does not exit."""
        for service in self.processes.values():
            try:
                service.terminate(EXIT_WAIT_SECONDS)
            except Exception:
                service.kill()
