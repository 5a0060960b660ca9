"""One service process (`python -m <module>`), the services' port table, and dying with the parent: for devtools, tests and bench."""

from __future__ import annotations

import errno
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

from eventkit.deathsignal import die_with_parent, set_death_signal  # noqa: F401  (re-exported)

ROOT = Path(__file__).resolve().parents[1]


class Port(NamedTuple):
    """A service's port: the variable that sets it, its default, and what listens there."""

    variable: str
    default: int
    serves: str


# The one table of the services' ports (in the order `make run` starts them).
PORTS = {
    "command_service": Port("COMMAND_SERVICE_PORT", 50051, "users.v1.CommandService"),
    "projector_service": Port("PROJECTOR_HEALTH_PORT", 50053, "projector health"),
    "query_service": Port("QUERY_SERVICE_PORT", 50052, "users.v1.QueryService"),
}
PORT_VARIABLE = {module: port.variable for module, port in PORTS.items()}


# Ports handed out by free_port in this process, so that one stack's ports are all different.
_handed_out: set[int] = set()
_LOWEST_PORT = 20000


def free_port() -> int:
    """Returns a TCP port on 127.0.0.1 that was free a moment ago, below the kernel's ephemeral range.

    A port from bind(0) comes from the range outgoing connections take theirs from: on a busy
    machine a client's connection can hold it by the time the server that was given it binds.
    Below that range only a server asking for that very port takes it.
    """
    ephemeral_low = _ephemeral_low()
    for _ in range(100):
        port = random.randrange(_LOWEST_PORT, ephemeral_low)
        if port not in _handed_out and not port_taken("127.0.0.1", port):
            _handed_out.add(port)
            return port
    with socket.socket() as s:  # no room below the range (an unusual kernel setting)
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ephemeral_low() -> int:
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768  # Linux's default
    return max(low, _LOWEST_PORT + 1)


def port_taken(host: str, port: int) -> bool:
    """Tells whether something already listens on host:port (a bind there fails with EADDRINUSE)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as s:
        # As the servers bind: SO_REUSEADDR, so a closed connection in TIME_WAIT does not count.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host.strip("[]"), port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return True
            raise
    return False


def listening_ports(pid: int) -> set[int]:
    """Returns the TCP ports process `pid` has a listening socket on (from /proc, no tool needed)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        target = os.readlink(f"/proc/{pid}/fd/{fd}")
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def children_of(pid: int) -> list[int]:
    """Returns the ids of a process's direct children (e.g. a postmaster's backends, a supervisor's workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return found


def gone(pid: int) -> bool:
    """Tells whether a process has exited (a zombie not yet reaped by its parent counts as gone)."""
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def listening_workers(supervisor: int, port: int, count: int) -> list[int]:
    """Returns a *_WORKERS supervisor's workers once there are `count` and each listens on `port`, else []."""
    pids = sorted(children_of(supervisor))
    if len(pids) == count and all(port in listening_ports(pid) for pid in pids):
        return pids
    return []


def health_status(address: str, timeout: float = 1.0) -> int:
    """Returns a server's overall gRPC health status (SERVING = 1); raises grpc.RpcError if it does not answer."""
    import grpc  # imported late: the caller may have to set GRPC_ENABLE_FORK_SUPPORT first
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        return int(stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout).status)


class ServiceFailed(AssertionError):
    """A service exited, or did not become SERVING in time (an AssertionError: in a test, a failure)."""


@dataclass
class ServiceProcess:
    """One `python -m <module> [args]` process on 127.0.0.1, its port, and the file its output goes to."""

    module: str
    env: dict[str, str]
    args: list[str] = field(default_factory=list)
    port: int = 0
    log_path: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    log_dir: Path | None = None
    preexec: Callable[[], None] = die_with_parent
    output_to: Literal["file", "pipe", "terminal"] = "file"  # log_path; process.stdout to relay; ours

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> ServiceProcess:
        """Starts the process on 127.0.0.1 with `env` on top of this one's environment (text logs unless told)."""
        self.port = self.port or free_port()
        env = {"LOG_FORMAT": "text", **os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", **self.env}
        env["LISTEN_HOST"] = "127.0.0.1"
        argv = [sys.executable, "-m", self.module, *self.args]
        if self.module in PORTS:
            env[PORTS[self.module].variable] = str(self.port)
        else:
            argv.append(str(self.port))  # a helper server (the bench's trivial one) takes its port as argument
        if self.output_to != "file":
            self.process = self._popen(argv, env, subprocess.PIPE if self.output_to == "pipe" else None)
            return self
        if self.log_path is None:
            folder = self.log_dir or Path(os.environ.get("TEST_LOG_DIR", tempfile.gettempdir()))
            self.log_path = folder / f"{self.module}-{'-'.join(self.args) or 'serve'}-{self.port}.log"
        with open(self.log_path, "ab") as log:
            self.process = self._popen(argv, env, log)
        return self

    def _popen(self, argv: list[str], env: dict[str, str], stdout: Any) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdout=stdout,
            stderr=subprocess.STDOUT if stdout is not None else None,
            stdin=subprocess.DEVNULL,
            preexec_fn=self.preexec,
        )

    def health(self) -> int:
        """Returns the overall health status (SERVING = 1), or raises if the server does not answer.

        A service is dialled as the image's health check dials it: over TLS (and mTLS) when its
        environment turns TLS on.
        """
        if self.module not in PORTS:
            return health_status(self.address)
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        from deploy.healthcheck import probe_channel  # late: it imports grpc

        env = {**os.environ, **self.env, "LISTEN_HOST": "127.0.0.1", PORTS[self.module].variable: str(self.port)}
        _, channel = probe_channel(self.module, env)
        try:
            stub = health_pb2_grpc.HealthStub(channel)
            return int(stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1).status)
        finally:
            channel.close()

    def wait_serving(self, timeout: float = 60.0) -> ServiceProcess:
        """Waits until health says SERVING; raises ServiceFailed with the log's end if it exits or time runs out."""
        deadline = time.monotonic() + timeout
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise ServiceFailed(f"{self.module} exited with {self.process.returncode}:\n{self.output()}")
            if self._serving():
                return self
            if time.monotonic() > deadline:
                raise ServiceFailed(f"{self.module} not SERVING after {timeout}s:\n{self.output()}")
            time.sleep(0.05)  # polling a condition with a deadline

    def _serving(self) -> bool:
        try:
            return self.health() == 1
        except Exception:  # grpc.RpcError: not listening yet
            return False

    def output(self, chars: int = 5000) -> str:
        """Returns the end of the process's output."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:] if self.log_path else ""
        except OSError:
            return "(no log)"

    def terminate(self, timeout: float = 20.0) -> int:
        """Sends SIGTERM and returns the exit code (raises subprocess.TimeoutExpired if it does not stop)."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM, then SIGKILL after `timeout`; returns the exit code."""
        if self.process is None:
            return None
        try:
            return self.terminate(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILLs the process (a crash, not a shutdown)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
