"""Runs the services (and the trivial reference server) as separate processes and reads their /proc figures."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from devtools.pgcluster import free_port

ROOT = Path(__file__).resolve().parents[1]
PORT_VARIABLE = {
    "command_service": "COMMAND_SERVICE_PORT",
    "query_service": "QUERY_SERVICE_PORT",
    "projector_service": "PROJECTOR_HEALTH_PORT",
}
_TICKS = os.sysconf("SC_CLK_TCK")


def _die_with_parent() -> None:
    ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: no server outlives an interrupted bench


@dataclass
class ServiceProcess:
    """One `python -m <module> [args]` process, its port, and its log file."""

    module: str
    env: dict[str, str]
    log_dir: Path
    args: list[str] = field(default_factory=list)
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"{self.module}-{'-'.join(self.args) or 'serve'}-{self.port}.log"

    def start(self) -> ServiceProcess:
        """Starts the process with the bench's environment on top of this one's."""
        self.port = self.port or free_port()
        env = dict(
            os.environ,
            **self.env,
            LOG_FORMAT="text",
            LOG_LEVEL="INFO",
            LISTEN_HOST="127.0.0.1",
            PYTHONPATH=str(ROOT),
            PYTHONUNBUFFERED="1",
        )
        if self.module in PORT_VARIABLE:
            env[PORT_VARIABLE[self.module]] = str(self.port)
        log = open(self.log_path, "ab")
        argv = [sys.executable, "-m", self.module, *self.args]
        if self.module not in PORT_VARIABLE:
            argv.append(str(self.port))
        self.process = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )
        return self

    def wait_serving(self, timeout: float = 60.0) -> ServiceProcess:
        """Waits until the gRPC health check says SERVING; raises with the log tail if it exits or times out."""
        deadline = time.monotonic() + timeout
        with grpc.insecure_channel(self.address) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while True:
                if self.process is not None and self.process.poll() is not None:
                    raise RuntimeError(f"{self.module} exited with {self.process.returncode}:\n{self.output()}")
                try:
                    status = stub.Check(health_pb2.HealthCheckRequest(), timeout=1).status
                    if status == health_pb2.HealthCheckResponse.SERVING:
                        return self
                except grpc.RpcError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{self.module} not SERVING after {timeout}s:\n{self.output()}")
                time.sleep(0.05)

    def output(self, chars: int = 3000) -> str:
        """Returns the end of the process's log."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM, then SIGKILL after `timeout`; returns the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def memory_kib(pid: int) -> dict[str, int]:
    """Returns a process's resident memory now (VmRSS) and at its peak (VmHWM), in KiB."""
    found = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, value = line.split(":", 1)
                found[key] = int(value.split()[0])
    except OSError:
        pass
    return {"rss": found.get("VmRSS", 0), "peak": found.get("VmHWM", 0)}


def cpu_of(pid: int) -> float:
    """Returns the CPU seconds (user + system) a process has used, 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS


def children_of(pid: int) -> list[int]:
    """Returns the ids of a process's direct children (e.g. a postmaster's backends)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return found


@dataclass
class Finished:
    """A one-shot process's exit code, timed output lines, resident memory samples and peak memory."""

    returncode: int
    started: float
    ended: float
    lines: list[tuple[float, str]]
    rss_samples: list[tuple[float, int]]
    peak_kib: int
    cpu_seconds: float


def run_once(module: str, env: dict[str, str], args: list[str], timeout: float) -> Finished:
    """Runs `python -m module args` to its end, timing each output line and sampling its memory."""
    import threading

    full_env = dict(
        os.environ, **env, LOG_FORMAT="text", LOG_LEVEL="WARNING", PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1"
    )
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        preexec_fn=_die_with_parent,
    )
    lines: list[tuple[float, str]] = []
    samples: list[tuple[float, int]] = []

    def read() -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            lines.append((time.monotonic(), raw.decode(errors="replace").rstrip()))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    peak = 0
    while True:
        # wait4, not poll(): reaping the child ourselves also gives the CPU time of its whole life.
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        memory = memory_kib(process.pid)
        samples.append((time.monotonic(), memory["rss"]))
        peak = max(peak, memory["peak"])
        if time.monotonic() - started > timeout:
            process.kill()
        time.sleep(0.1)  # sampling memory; the exit itself is seen by wait4()
    ended = time.monotonic()
    process.returncode = os.waitstatus_to_exitcode(status)
    reader.join(timeout=5)
    return Finished(process.returncode, started, ended, lines, samples, peak, usage.ru_utime + usage.ru_stime)
