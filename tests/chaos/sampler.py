"""Samples each service process's resident memory, open descriptors and PostgreSQL connections over a run."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field

import psycopg

from devtools.pgcluster import Cluster
from tests.chaos.fleet import Fleet

ESTABLISHED = "01"


@dataclass(frozen=True)
class Sample:
    """One process at one moment."""

    at: float
    service: str
    pid: int
    rss_kib: int
    fds: int
    connections: int  # a service: its established TCP connections to PostgreSQL; postgresql: its client sessions


def rss_kib(pid: int) -> int:
    """Returns the process's resident set size in KiB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def socket_inodes(pid: int) -> tuple[int, set[str]]:
    """Returns (open descriptors, inodes of its sockets) of the process."""
    fd_dir = f"/proc/{pid}/fd"
    count, inodes = 0, set()
    for fd in os.listdir(fd_dir):
        count += 1
        try:
            target = os.readlink(f"{fd_dir}/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return count, inodes


def postgres_sockets(port: int) -> set[str]:
    """Returns the inodes of established TCP sockets whose far end is PostgreSQL's `port` on this host."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            remote_port, state, inode = int(fields[2].rsplit(":", 1)[1], 16), fields[3], fields[9]
            if remote_port == port and state == ESTABLISHED:
                inodes.add(inode)
    return inodes


@dataclass
class Sampler:
    """Takes one sample of every service every `interval` seconds until stopped."""

    fleet: Fleet
    cluster: Cluster
    started: float
    interval: float = 5.0
    samples: list[Sample] = field(default_factory=list)
    halt: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.halt.wait(self.interval):  # a sampling period, not synchronisation
            self.take()

    def take(self) -> None:
        """Samples every service once."""
        at = time.monotonic() - self.started
        to_postgres = postgres_sockets(self.cluster.port)
        for name in self.fleet.names():
            pid = self.fleet.pid(name)
            try:
                fds, sockets = socket_inodes(pid)
                self.samples.append(Sample(at, name, pid, rss_kib(pid), fds, len(sockets & to_postgres)))
            except OSError:
                continue  # the process is being restarted at this moment
        self._take_postgres(at)

    def _take_postgres(self, at: float) -> None:
        """Samples the postmaster (its memory and descriptors) and the server's count of client sessions."""
        assert self.cluster.process is not None
        pid = self.cluster.process.pid
        try:
            with psycopg.connect(self.cluster.dsn(), autocommit=True, connect_timeout=5) as conn:
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"
                    " AND pid <> pg_backend_pid()"
                ).fetchone()
            fds, _ = socket_inodes(pid)
            sessions = row[0] if row else 0
            self.samples.append(Sample(at, "postgresql", pid, rss_kib(pid), fds, sessions))
        except (OSError, psycopg.Error):
            return  # restarting or frozen by the nemesis at this moment
