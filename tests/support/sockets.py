"""What a process's TCP connections to a server port are doing, read from /proc (IPv4 loopback)."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Socket:
    """One row of /proc/net/tcp: local and remote port, bytes not yet read by its owner, inode."""

    local_port: int
    remote_port: int
    unread: int
    inode: int


def _sockets() -> list[Socket]:
    rows = []
    with open("/proc/net/tcp") as table:
        next(table)
        for line in table:
            fields = line.split()
            local, remote, queues, inode = fields[1], fields[2], fields[4], fields[9]
            rows.append(
                Socket(
                    int(local.split(":")[1], 16),
                    int(remote.split(":")[1], 16),
                    int(queues.split(":")[1], 16),
                    int(inode),
                )
            )
    return rows


def _inodes(pid: int) -> set[int]:
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith("socket:["):
                inodes.add(int(target[8:-1]))
    return inodes


def client_ports(pid: int, server_port: int) -> set[int]:
    """Returns the local ports of the connections process `pid` holds open to `server_port`."""
    owned = _inodes(pid)
    return {s.local_port for s in _sockets() if s.inode in owned and s.remote_port == server_port}


def unread_requests(pid: int, server_port: int, among: set[int]) -> int:
    """Counts the connections of `pid` (those in `among`, by client port) whose server has not read what was sent."""
    open_now = client_ports(pid, server_port) & among
    return sum(1 for s in _sockets() if s.local_port == server_port and s.remote_port in open_now and s.unread > 0)
