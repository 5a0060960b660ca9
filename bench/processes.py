"""Runs one-shot processes to their end, and reads processes' /proc figures (servers start through devtools.processes)."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from devtools.processes import ROOT, ServiceProcess, children_of, die_with_parent, listening_workers
from devtools.waiting import wait_until

__all__ = ["Finished", "ServiceProcess", "children_of", "cpu_of", "memory_kib", "run_once", "worker_groups"]

_TICKS = os.sysconf("SC_CLK_TCK")


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


def living(memory: dict[str, int]) -> bool:
    """Tells whether memory_kib read a living process: one that has exited but is not reaped yet shows none.

    Such a reading is not a sample: counted as one, it made a replay's memory growth a large negative
    figure, a "flat" that was never measured.
    """
    return memory["rss"] > 0


def cpu_of(pid: int) -> float:
    """Returns the CPU seconds (user + system) a process has used, 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS


def worker_groups(
    service: ServiceProcess, workers: int, label: str, timeout: float = 60.0
) -> dict[str, Callable[[], float]]:
    """Returns a CPU profile group per worker of a service started with *_WORKERS, once each listens on the port."""

    pids = wait_until(
        lambda: listening_workers(service.pid, service.port, workers),
        timeout,
        message=f"{workers} {label}s listening on port {service.port}",
    )
    return {f"{label} {i}": functools.partial(cpu_of, pid) for i, pid in enumerate(pids)}


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
        preexec_fn=die_with_parent,
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
        if living(memory):
            samples.append((time.monotonic(), memory["rss"]))
        peak = max(peak, memory["peak"])
        if time.monotonic() - started > timeout:
            process.kill()
        time.sleep(0.1)  # sampling memory; the exit itself is seen by wait4()
    ended = time.monotonic()
    process.returncode = os.waitstatus_to_exitcode(status)
    reader.join(timeout=5)
    return Finished(process.returncode, started, ended, lines, samples, peak, usage.ru_utime + usage.ru_stime)
