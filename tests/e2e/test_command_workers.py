"""COMMAND_WORKERS: several command-service processes serve one port (SO_REUSEPORT) in front of one event store."""

from __future__ import annotations

import os
import signal
import threading
import uuid

import pytest

from devtools.processes import free_port, gone, listening_ports, port_taken
from tests.support.metrics import scrape
from tests.support.processes import ServiceProcess
from tests.support.system import store_events
from tests.support.waiting import wait_until
from tests.support.workers import own_connection, serving_workers
from users.v1 import command_service_pb2 as pb
from users.v1 import command_service_pb2_grpc

WORKERS = 2
CONNECTIONS = 24
WRITERS, USERS_EACH = 8, 25


def metrics_ports(count: int) -> int:
    """Returns a port free with the `count - 1` after it (worker i serves metrics on METRICS_PORT + i)."""

    def candidate() -> int | None:
        port = free_port()
        return None if any(port_taken("127.0.0.1", port + i) for i in range(1, count)) else port

    return wait_until(candidate, 10)


@pytest.fixture(params=["sync", "asyncio"])
def command(request, services, event_store) -> tuple[ServiceProcess, int]:
    metrics = metrics_ports(WORKERS)
    env = {
        "EVENT_STORE_DSN": event_store.dsn,
        "EVENT_STORE_SCHEMA": event_store.schema,
        "COMMAND_WORKERS": str(WORKERS),
        "COMMAND_SERVER_STACK": request.param,
        "METRICS_PORT": str(metrics),
    }
    return services("command_service", env).wait_serving(60), metrics


def test_workers_share_the_port_append_one_gap_free_store_and_answer_each_others_retries(command, event_store) -> None:
    service, metrics = command
    # wait_serving saw the first worker; the other may still be starting.
    workers = serving_workers(service, WORKERS)
    assert service.port not in listening_ports(service.pid)  # the supervisor only supervises
    channels = [own_connection(service.address) for _ in range(CONNECTIONS)]
    stubs = [command_service_pb2_grpc.CommandServiceStub(channel) for channel in channels]

    # A retry sent on another connection (most likely to the other worker) gets the first answer.
    request_ids = [str(uuid.uuid4()) for _ in stubs]
    first = [
        stub.AddUser(pb.AddUserRequest(name="first", request_id=rid), timeout=30)
        for stub, rid in zip(stubs, request_ids)
    ]
    again = [
        stubs[(i + 1) % len(stubs)].AddUser(pb.AddUserRequest(name="first", request_id=rid), timeout=30)
        for i, rid in enumerate(request_ids)
    ]
    assert [(a.user.id, a.position) for a in again] == [(f.user.id, f.position) for f in first]

    # Writers racing through both workers: every command lands once, positions without gaps.
    errors: list[BaseException] = []

    def write(stub: command_service_pb2_grpc.CommandServiceStub) -> None:
        try:
            for n in range(USERS_EACH):
                stub.AddUser(pb.AddUserRequest(name=f"racer {n}", request_id=str(uuid.uuid4())), timeout=30)
        except BaseException as error:  # reported below, with the thread's failure
            errors.append(error)

    threads = [threading.Thread(target=write, args=(stubs[i],)) for i in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    stored = store_events(event_store)
    assert [event.position for event in stored] == list(range(1, CONNECTIONS + WRITERS * USERS_EACH + 1))
    assert len({event.user_id for event in stored}) == len(stored)

    # Both workers took commands: each counts its own, and together they count every call.
    per_worker = [
        sum(scrape(metrics + i).value("users_commands_total", command="AddUser", outcome=o) for o in ("ok", "replayed"))
        for i in range(WORKERS)
    ]
    assert all(per_worker) and sum(per_worker) == 2 * CONNECTIONS + WRITERS * USERS_EACH
    for channel in channels:
        channel.close()
    assert service.terminate() == 0
    assert all(gone(worker) for worker in workers)


def test_when_a_command_worker_dies_the_others_are_stopped_and_the_service_exits_with_1(command) -> None:
    service, _ = command
    workers = serving_workers(service, WORKERS)
    os.kill(workers[0], signal.SIGKILL)
    assert service.process is not None and service.process.wait(30) == 1
    for worker in workers[1:]:
        wait_until(lambda w=worker: gone(w), 30, message=f"worker {worker} gone")
