"""Runs the services as separate processes, configured only through environment variables."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from grpc_health.v1 import health_pb2, health_pb2_grpc

from deploy.healthcheck import probe_channel
from devtools.pgcluster import free_port
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
PORT_VARIABLE = {
    "command_service": "COMMAND_SERVICE_PORT",
    "query_service": "QUERY_SERVICE_PORT",
    "projector_service": "PROJECTOR_HEALTH_PORT",
}


def _die_with_parent() -> None:
    ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: no orphan outlives the tests


def as_in_a_terminal() -> None:
    """Prepares a child as a terminal would: Ctrl-C (SIGINT) and SIGQUIT at their defaults, dies with the tests.

    A test run started in the background by a non-interactive shell (as CI may start it) inherits
    SIGINT ignored, and so would every child: a `users watch` or a grpcurl stream would then not
    stop on the Ctrl-C the test presses.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)
    _die_with_parent()


@dataclass
class ServiceProcess:
    """One service started with `python -m <module> [args]`, its port, and its output file."""

    module: str
    env: dict[str, str]
    args: list[str] = field(default_factory=list)
    port: int = 0
    log_path: Path | None = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> ServiceProcess:
        if not self.port:
            self.port = free_port()
        env = dict(os.environ, **self.env, LOG_FORMAT="text", LISTEN_HOST="127.0.0.1")
        env[PORT_VARIABLE[self.module]] = str(self.port)
        env["PYTHONPATH"] = str(ROOT)
        if self.log_path is None:
            self.log_path = Path(os.environ.get("TEST_LOG_DIR", "/tmp")) / f"{self.module}-{self.port}.log"
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", self.module, *self.args],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
        return self

    def health(self) -> int:
        """Returns the overall health status (SERVING = 1), or raises if the server does not answer.

        It dials as the image's health check does, so a service started with TLS (and mTLS) is probed over TLS.
        """
        env = {**os.environ, **self.env, "LISTEN_HOST": "127.0.0.1", PORT_VARIABLE[self.module]: str(self.port)}
        _, channel = probe_channel(self.module, env)
        try:
            stub = health_pb2_grpc.HealthStub(channel)
            return stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1).status
        finally:
            channel.close()

    def wait_serving(self, timeout: float = 30.0) -> ServiceProcess:
        def serving() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"{self.module} exited with {self.process.returncode}:\n{self.output()}")
            return self.health() == health_pb2.HealthCheckResponse.SERVING

        wait_until(serving, timeout, interval=0.05, message=f"{self.module} SERVING")
        return self

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:] if self.log_path else ""

    def terminate(self, timeout: float = 20.0) -> int:
        """Sends SIGTERM and returns the exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def kill(self) -> None:
        """SIGKILLs the process (a crash, not a shutdown)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
