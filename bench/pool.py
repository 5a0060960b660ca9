"""A fixed set of client processes, separate from every server, that run load tasks side by side."""

from __future__ import annotations

import multiprocessing
import os
import traceback
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import Any

# Spawned, not forked: gRPC and psycopg hold threads and sockets that a fork would copy half-alive.
_CONTEXT = multiprocessing.get_context("spawn")


class TaskFailed(RuntimeError):
    """A task raised in a client process; carries that process's traceback."""


def _serve(conn: Connection) -> None:
    import grpc  # noqa: F401 - imported once, before the first measurement, not inside it
    import psycopg  # noqa: F401

    while True:
        message = conn.recv()
        if message is None:
            return
        function, args = message
        try:
            conn.send(("ok", function(*args)))
        except BaseException:
            conn.send(("error", traceback.format_exc()))


class ClientPool:
    """N long-lived client processes; `run` gives each one a task and collects every result."""

    def __init__(self, size: int) -> None:
        self._workers: list[tuple[Any, Connection]] = []
        for index in range(size):
            parent, child = _CONTEXT.Pipe()
            process = _CONTEXT.Process(target=_serve, args=(child,), name=f"bench-client-{index}", daemon=True)
            process.start()
            child.close()
            self._workers.append((process, parent))

    @property
    def size(self) -> int:
        return len(self._workers)

    def pids(self) -> list[int]:
        """Returns the client processes' ids (for the CPU profile)."""
        return [process.pid for process, _ in self._workers]

    def run(self, function: Callable[..., Any], args: Sequence[tuple[Any, ...]]) -> list[Any]:
        """Runs function(*args[i]) in client process i, all at once; returns the results in order."""
        return self.run_tasks([(function, task_args) for task_args in args])

    def run_tasks(self, tasks: Sequence[tuple[Callable[..., Any], tuple[Any, ...]]]) -> list[Any]:
        """Runs task i = (function, args) in client process i, all at once; returns the results in order."""
        if len(tasks) > self.size:
            raise ValueError(f"{len(tasks)} tasks for {self.size} client processes")
        busy = self._workers[: len(tasks)]
        for (_, conn), task in zip(busy, tasks):
            conn.send(task)
        results, errors = [], []
        for process, conn in busy:
            try:
                status, value = conn.recv()
            except EOFError:
                raise TaskFailed(f"client process {process.pid} exited with {process.exitcode}") from None
            (results if status == "ok" else errors).append(value)
        if errors:
            raise TaskFailed(errors[0])
        return results

    def close(self) -> None:
        """Stops the client processes."""
        for _process, conn in self._workers:
            try:
                conn.send(None)
            except OSError:
                pass
        for process, _ in self._workers:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
        self._workers.clear()


def split(clients: int, processes: int) -> list[int]:
    """Spreads `clients` threads over at most `processes` processes, e.g. 16 over 4 -> [4, 4, 4, 4]."""
    used = max(1, min(clients, processes))
    base, extra = divmod(clients, used)
    return [base + (1 if i < extra else 0) for i in range(used)]


def cpu_seconds() -> float:
    """Returns the CPU time (user + system, all threads) this process has used."""
    times = os.times()
    return times.user + times.system
