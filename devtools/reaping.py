"""Stopping processes, children or not: SIGTERM, a bounded wait on each one's pidfd, then SIGKILL."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import time


def _pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except ProcessLookupError:
        return None


def wait_gone(pids: list[int], timeout: float) -> list[int]:
    """Waits until each pid has exited (a pidfd turns readable then); returns those still running at the deadline."""
    fds = {fd: pid for pid in pids if (fd := _pidfd(pid)) is not None}
    deadline = time.monotonic() + timeout
    try:
        while fds and (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select(list(fds), [], [], left)
            for fd in ready:
                del fds[fd]
                os.close(fd)
        return list(fds.values())
    finally:
        for fd in fds:
            os.close(fd)


def signal_pid(pid: int, sig: int) -> None:
    """Sends `sig` to `pid` unless it is gone already."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def stop_processes(children: list[subprocess.Popen[bytes]], others: list[int], timeout: float = 20.0) -> None:
    """SIGTERMs our children and other processes (not ours to reap), waits up to `timeout`, then SIGKILLs the rest."""
    running = [c.pid for c in children if c.poll() is None] + others
    for pid in running:
        signal_pid(pid, signal.SIGTERM)
    for pid in wait_gone(running, timeout):
        signal_pid(pid, signal.SIGKILL)
    for child in children:
        child.wait()
