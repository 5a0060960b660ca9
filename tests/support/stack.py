"""The three services as separate processes over one event store and one read model, and the `users` CLI and shells run against them."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from devtools.pgcluster import Cluster
from eventkit.config import Database
from tests.support.processes import ROOT, ServiceProcess, as_in_a_terminal
from tests.support.roles import least_privilege
from tests.support.waiting import wait_until

StartService = Callable[..., ServiceProcess]


@dataclass
class Stack:
    """Command service, projector and query service started through the `services` fixture."""

    start_service: StartService
    event_store: Database
    read_model: Database
    extra_env: dict[str, str] = field(default_factory=dict)
    command: ServiceProcess | None = None
    projector: ServiceProcess | None = None
    query: ServiceProcess | None = None

    def env(self) -> dict[str, str]:
        """Returns the environment every service of this stack is started with."""
        return {
            "EVENT_STORE_DSN": self.event_store.dsn,
            "EVENT_STORE_SCHEMA": self.event_store.schema,
            "READ_MODEL_DSN": self.read_model.dsn,
            "READ_MODEL_SCHEMA": self.read_model.schema,
            **self.extra_env,
        }

    def start_command(self) -> ServiceProcess:
        self.command = self.start_service("command_service", self.env()).wait_serving(60)
        return self.command

    def start_projector(self) -> ServiceProcess:
        self.projector = self.start_service("projector_service", self.env()).wait_serving(60)
        return self.projector

    def start_query(self) -> ServiceProcess:
        self.query = self.start_service("query_service", self.env()).wait_serving(60)
        return self.query

    def restart_query(self) -> ServiceProcess:
        """Stops the query service (SIGTERM) and starts it again on the same port."""
        assert self.query is not None
        port = self.query.port
        self.query.terminate()
        self.query = self.start_service("query_service", self.env(), port=port).wait_serving(60)
        return self.query

    def start_all(self) -> Stack:
        """Starts the command service, then the projector, then the query service, each until SERVING."""
        self.start_command()
        self.start_projector()
        self.start_query()
        return self

    def client_env(self) -> dict[str, str]:
        """Returns the environment that points the `users` CLI at this stack."""
        env: dict[str, str] = {}
        if self.command is not None:
            env["USERS_COMMAND_ADDR"] = self.command.address
        if self.query is not None:
            env["USERS_QUERY_ADDR"] = self.query.address
        return env


@contextlib.contextmanager
def running_stack(
    cluster: Cluster, which: Sequence[str] = ("command", "projector", "query"), extra_env: dict[str, str] | None = None
) -> Iterator[Stack]:
    """Yields a Stack on two fresh databases with the services in `which` SERVING; stops and drops everything after.

    For module-scoped fixtures, where the function-scoped `services` fixture cannot be used.
    """
    started: list[ServiceProcess] = []

    def start(module: str, env: dict[str, str], *args: str, port: int = 0) -> ServiceProcess:
        # Each service as its own unprivileged role, as in production (tests/support/roles.py).
        process = ServiceProcess(module, least_privilege(module, env), list(args), port).start()
        started.append(process)
        return process

    suffix = uuid.uuid4().hex[:12]
    names = [f"es_{suffix}", f"rm_{suffix}"]
    for name in names:
        cluster.create_database(name)
    stack = Stack(
        start,
        Database(cluster.dsn(names[0]), "event_store", 4, migration_dsn=cluster.dsn(names[0])),
        Database(cluster.dsn(names[1]), "read_model", 4, migration_dsn=cluster.dsn(names[1])),
        dict(extra_env or {}),
    )
    try:
        for name in which:
            getattr(stack, f"start_{name}")()
        yield stack
    finally:
        for process in started:
            try:
                process.terminate(timeout=15)
            except Exception:
                process.kill()
        for name in names:
            cluster.drop_database(name)


@dataclass(frozen=True)
class Result:
    """What one run of the CLI left: exit code, stdout and stderr."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        """Returns stdout parsed as one JSON document."""
        return json.loads(self.out)


def cli_env(env: dict[str, str]) -> dict[str, str]:
    """Returns the process environment for a CLI run: the caller's addresses, the source tree importable."""
    merged = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1")
    merged.pop("USERS_COMMAND_ADDR", None)
    merged.pop("USERS_QUERY_ADDR", None)
    merged.update(env)
    return merged


def run_cli(*args: str, env: dict[str, str], timeout: float = 60.0) -> Result:
    """Runs `python -m users_client ARGS` (what the `users` script runs) and returns its Result."""
    done = subprocess.run(
        [sys.executable, "-m", "users_client", *args],
        cwd=ROOT,
        env=cli_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Result(done.returncode, done.stdout, done.stderr)


class Watcher:
    """A CLI run in the background (`users watch`), its output collected line by line as it arrives."""

    def __init__(self, *args: str, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "users_client", *args],
            cwd=ROOT,
            env=cli_env(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
            preexec_fn=as_in_a_terminal,
        )
        self._out: list[str] = []
        self._err: list[str] = []
        self._readers = [
            threading.Thread(target=self._collect, args=(self.process.stdout, self._out), daemon=True),
            threading.Thread(target=self._collect, args=(self.process.stderr, self._err), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _collect(stream: Any, into: list[str]) -> None:
        for line in iter(stream.readline, ""):
            into.append(line.rstrip("\n"))

    def lines(self) -> list[str]:
        """Returns the stdout lines printed so far."""
        return list(self._out)

    def errors(self) -> list[str]:
        """Returns the stderr lines printed so far."""
        return list(self._err)

    def interrupt(self, timeout: float = 30.0) -> int:
        """Sends SIGINT (Ctrl-C), waits for the exit and the last output, and returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        code = self.process.wait(timeout)
        for reader in self._readers:
            reader.join(timeout)
        return code

    def kill(self) -> None:
        """Kills the process if it still runs (cleanup after a failed test)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


class Shell:
    """One bash process, like a terminal: blocks run one after another and keep their variables."""

    def __init__(self, env: dict[str, str], script: str | None = None) -> None:
        command = ["bash", "-c", script] if script is not None else ["bash"]
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            text=True,
            bufsize=1,
            start_new_session=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            preexec_fn=as_in_a_terminal,
        )
        self.lines: list[str] = []
        threading.Thread(target=self._collect, daemon=True).start()

    def _collect(self) -> None:
        assert self.process.stdout is not None
        for line in iter(self.process.stdout.readline, ""):
            self.lines.append(line.rstrip("\n"))

    def run(self, script: str, timeout: float = 90.0) -> str:
        """Runs `script` in this shell and returns what it printed (stdout and stderr)."""
        assert self.process.stdin is not None
        marker = f"--- block {uuid.uuid4().hex} done ---"
        start = len(self.lines)
        self.process.stdin.write(f"{script}\necho '{marker}'\n")
        self.process.stdin.flush()

        def finished() -> bool:
            return marker in self.lines[start:] or self.process.poll() is not None

        wait_until(finished, timeout, message=f"the block to finish:\n{script}")
        if marker not in self.lines[start:]:
            output = "\n".join(self.lines[start:])
            raise AssertionError(
                f"the shell exited ({self.process.returncode}) in:\n{script}\nafter printing:\n{output}"
            )
        return "\n".join(self.lines[start : self.lines.index(marker, start)])

    def text(self) -> str:
        return "\n".join(self.lines)

    def interrupt(self, timeout: float = 30.0) -> int:
        """Presses Ctrl-C: SIGINT to the whole process group, as a terminal does; returns the exit code."""
        os.killpg(self.process.pid, signal.SIGINT)
        return self.process.wait(timeout)

    def close(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
