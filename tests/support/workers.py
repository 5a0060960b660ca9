"""What the *_WORKERS tests share: finding a supervisor's workers, a connection of one's own."""

from __future__ import annotations

import grpc

from devtools.processes import listening_workers
from tests.support.processes import ServiceProcess
from tests.support.waiting import wait_until


def serving_workers(service: ServiceProcess, count: int) -> list[int]:
    """Waits until the supervisor `service` has `count` workers, each listening on its port; returns their pids."""
    return wait_until(lambda: listening_workers(service.pid, service.port, count), 30, message=f"{count} workers")


def own_connection(address: str) -> grpc.Channel:
    """A channel on a TCP connection of its own, which the kernel hands to one of the workers sharing the port."""
    # Channels with the same target share the process-wide subchannel pool, hence one connection.
    return grpc.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1)])
