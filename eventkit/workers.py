"""Several processes of one service on one port (SO_REUSEPORT), started and stopped together.

COMMAND_WORKERS and QUERY_WORKERS: Python runs one thread of a process at a time, so a service
uses more than one core only as several processes.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from types import FrameType

from eventkit.deathsignal import die_with_parent

log = logging.getLogger(__name__)

WORKER_FLAG = "--worker"


def worker_index(argv: list[str]) -> int | None:
    """Returns the worker number `python -m <service> --worker N` was started with, or None."""
    if len(argv) == 2 and argv[0] == WORKER_FLAG and argv[1].isdigit():
        return int(argv[1])
    return None


def serve_metrics(port: int, worker: int) -> None:
    """Serves Prometheus /metrics on `port` + `worker` (each worker its own port); nothing when `port` is 0."""
    if port:
        from prometheus_client import start_http_server

        start_http_server(port + worker)


def supervise(module: str, count: int) -> int:
    """Starts `count` workers of `python -m module`, passes SIGTERM and SIGINT on, returns once all have exited.

    Each worker is a whole service (its own connections; the query service's own hub and LISTEN,
    the command service's own appender) bound to the same port; the kernel spreads new connections
    over them. If one exits on its own, the others are stopped too and the exit code is 1: the
    orchestrator restarts the service as a whole.
    """
    children = {
        subprocess.Popen([sys.executable, "-m", module, WORKER_FLAG, str(index)], preexec_fn=die_with_parent).pid: index
        for index in range(count)
    }
    log.info("started %d workers", count, extra={"program": module, "workers": count, "pids": sorted(children)})
    stopping = False

    def stop_all(signum: int) -> None:
        for pid in children:
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass  # already gone

    def forward(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        stop_all(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    worst, failed = 0, False
    while children:
        pid, status = os.wait()  # retried after a signal handler runs (PEP 475)
        index = children.pop(pid, None)
        if index is None:
            continue
        code = os.waitstatus_to_exitcode(status)
        worst = max(worst, code if code >= 0 else 128 - code)
        if not stopping:
            log.error(
                "worker %d exited with %d; stopping the others", index, code, extra={"program": module, "worker": index}
            )
            stopping = failed = True
            stop_all(signal.SIGTERM)
    return 1 if failed else worst
