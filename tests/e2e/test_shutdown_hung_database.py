"""SIGTERM while PostgreSQL does not answer at all: each service still exits 0 in bounded time, callers get UNAVAILABLE."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator

import grpc
from grpc_health.v1 import health_pb2

from devtools.pgcluster import Cluster
from eventkit.config import Database
from tests.support.callers import answer_of
from tests.support.sockets import client_ports, unread_requests
from tests.support.system import start_system, store_events
from tests.support.waiting import wait_until
from users.v1 import command_service_pb2 as cpb
from users.v1 import command_service_pb2_grpc, query_service_pb2_grpc
from users.v1 import query_service_pb2 as qpb

GRACE = 3.0
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
# The grace, then at most: the cancel of the stuck work and its confirmation, the answers, the writer's end.
BOUND = GRACE + 15.0


def cluster_pids(cluster: Cluster) -> list[int]:
    """Returns the postmaster's pid and its children's (the backends)."""
    assert cluster.process is not None
    postmaster = cluster.process.pid
    children = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError), open(f"/proc/{entry}/stat") as stat:
                if int(stat.read().rsplit(")", 1)[1].split()[1]) == postmaster:
                    children.append(int(entry))
    return [postmaster, *children]


@contextlib.contextmanager
def frozen(cluster: Cluster) -> Iterator[None]:
    """Stops every process of the cluster (SIGSTOP): the database accepts connections and never answers."""
    pids = cluster_pids(cluster)
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


def call_in_thread(call, answers: dict[str, grpc.StatusCode], key: str) -> threading.Thread:
    def run() -> None:
        try:
            call()
            answers[key] = grpc.StatusCode.OK
        except grpc.RpcError as error:
            answers[key] = error.code()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_services_stop_in_bounded_time_while_their_database_hangs(own_cluster, services) -> None:
    own_cluster.start()
    for name in ("es", "rm"):
        own_cluster.create_database(name)
    event_store = Database(own_cluster.dsn("es"), "event_store", 2)
    read_model = Database(own_cluster.dsn("rm"), "read_model", 2)
    # A silent hub (no checkpoint polls), so the only query sent to the frozen database is the test's.
    system = start_system(
        services, event_store, read_model, SHUTDOWN_GRACE_SECONDS=str(GRACE), QUERY_POLL_INTERVAL_SECONDS="600"
    )
    command_env = {"SHUTDOWN_GRACE_SECONDS": str(GRACE)}
    command = services(
        "command_service",
        {"EVENT_STORE_DSN": event_store.dsn, "EVENT_STORE_SCHEMA": event_store.schema, **command_env},
    ).wait_serving(60)
    commands = command_service_pb2_grpc.CommandServiceStub(grpc.insecure_channel(command.address))
    queries = query_service_pb2_grpc.QueryServiceStub(grpc.insecure_channel(system.query.address))
    added = commands.AddUser(cpb.AddUserRequest(name="before the freeze"), timeout=30)
    queries.GetUser(qpb.GetUserRequest(id=added.user.id, min_position=added.position), timeout=30)

    request = cpb.AddUserRequest(name="during the freeze", request_id=str(uuid.uuid4()))
    answers: dict[str, grpc.StatusCode] = {}
    pids = [service.process.pid for service in (command, system.query)]  # type: ignore[union-attr]
    # The connections each service keeps open (the appender's, the query pool's); new ones are not the call's.
    kept = [client_ports(pid, own_cluster.port) for pid in pids]
    with frozen(own_cluster):
        threads = [
            call_in_thread(lambda: commands.AddUser(request, timeout=60), answers, "command"),
            call_in_thread(lambda: queries.ListUsers(qpb.ListUsersRequest(page_size=10), timeout=60), answers, "query"),
        ]
        for pid, ports in zip(pids, kept):
            wait_until(
                lambda: unread_requests(pid, own_cluster.port, ports) > 0,
                timeout=30,
                message="the call's statement waiting in the frozen database",
            )
        started = time.monotonic()
        for service in (command, system.query):
            assert service.process is not None
            service.process.send_signal(signal.SIGTERM)
        # While the stuck read keeps it draining: NOT_SERVING, and a new call is refused, not cancelled.
        wait_until(lambda: system.query.health() == NOT_SERVING, timeout=GRACE, message="query NOT_SERVING")
        late = answer_of(lambda: queries.ListUsers(qpb.ListUsersRequest(page_size=1), timeout=GRACE))
        assert late == (grpc.StatusCode.UNAVAILABLE, "SERVER_SHUTTING_DOWN")
        codes = [service.process.wait(timeout=BOUND) for service in (command, system.query)]  # type: ignore[union-attr]
        took = time.monotonic() - started
        for thread in threads:
            thread.join(timeout=30)
    assert codes == [0, 0] and GRACE <= took < BOUND
    assert answers == {"command": grpc.StatusCode.UNAVAILABLE, "query": grpc.StatusCode.UNAVAILABLE}
    # Both calls were in flight at the stop (not refused at the door): the grace ran out on them.
    assert "calls still running after the shutdown grace" in command.output()
    assert "batch outcome unknown" in command.output()
    assert "calls still running after the shutdown grace" in system.query.output()

    # The command's outcome was unknown when it was answered: its retry, with the same request id, settles it once.
    again = services(
        "command_service",
        {"EVENT_STORE_DSN": event_store.dsn, "EVENT_STORE_SCHEMA": event_store.schema, **command_env},
    ).wait_serving(60)
    with grpc.insecure_channel(again.address) as channel:
        retried = command_service_pb2_grpc.CommandServiceStub(channel).AddUser(request, timeout=30)
    assert [e.user_id for e in store_events(event_store)].count(retried.user.id) == 1
