"""PostgreSQL faults: fast and immediate restarts, terminated sessions, and a server that stops answering."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import psycopg

from devtools.pgcluster import Cluster


def restart(cluster: Cluster, mode: str) -> None:
    """Stops the server in `mode` ("fast" or "immediate") and starts it again on the same port.

    The signals are the ones `pg_ctl stop -m fast|immediate` sends (SIGINT, SIGQUIT); sending them
    to the postmaster we started keeps it our child, so it still dies with the suite.
    """
    cluster.stop(fast=mode == "fast")
    cluster.start()


def terminate_sessions(cluster: Cluster, databases: list[str]) -> int:
    """Runs pg_terminate_backend on every session of `databases` (the services' connections); returns how many."""
    with psycopg.connect(cluster.dsn(), autocommit=True, connect_timeout=5) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = ANY(%s) AND pid <> pg_backend_pid()",
            [databases],
        ).fetchall()
    return len(rows)


def server_pids(cluster: Cluster) -> list[int]:
    """Returns the postmaster's pid and those of its children (backends and auxiliary processes)."""
    assert cluster.process is not None
    postmaster = cluster.process.pid
    pids = [postmaster]
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # the process ended while we looked
        # The command name is in parentheses and may hold spaces: the parent pid follows it.
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == postmaster:
            pids.append(int(entry.name))
    return pids


def freeze(cluster: Cluster, seconds: float, halt: threading.Event) -> int:
    """Stops the postmaster and every backend (SIGSTOP) for `seconds`, or until `halt` is set, then continues them.

    Returns how many processes it stopped.
    """
    pids = server_pids(cluster)
    stopped: list[int] = []
    try:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGSTOP)
                stopped.append(pid)
            except ProcessLookupError:
                continue
        halt.wait(seconds)  # the fault itself: a database that answers nothing for this long
    finally:
        for pid in stopped:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                continue
    return len(stopped)
