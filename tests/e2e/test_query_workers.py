"""QUERY_WORKERS: several query-service processes serve one port (SO_REUSEPORT), each following the read model."""

from __future__ import annotations

import os
import signal

import grpc
import pytest

from devtools.processes import gone, listening_ports
from tests.support.system import System, start_system
from tests.support.waiting import wait_until
from tests.support.workers import own_connection, serving_workers
from users.v1 import command_service_pb2 as cpb
from users.v1 import command_service_pb2_grpc, query_service_pb2_grpc
from users.v1 import query_service_pb2 as pb

WORKERS = 3


@pytest.fixture
def system(services, event_store, read_model) -> System:
    return start_system(services, event_store, read_model, QUERY_WORKERS=str(WORKERS))


def test_workers_share_the_port_and_every_connection_reads_its_own_writes_and_follows_the_stream(system) -> None:
    # wait_serving saw the first worker; the others may still be starting.
    workers = serving_workers(system.query, WORKERS)
    assert system.query.port not in listening_ports(system.query.pid)  # the supervisor only supervises
    command = command_service_pb2_grpc.CommandServiceStub(grpc.insecure_channel(system.command.address))
    channels = [own_connection(system.query.address) for _ in range(24)]
    streams = [
        query_service_pb2_grpc.QueryServiceStub(ch).StreamEvents(pb.StreamEventsRequest(), timeout=60)
        for ch in channels
    ]
    for stream in streams:
        assert next(stream).WhichOneof("kind") == "caught_up"
    for channel in channels:
        added = command.AddUser(cpb.AddUserRequest(name="worker test"), timeout=30)
        got = query_service_pb2_grpc.QueryServiceStub(channel).GetUser(
            pb.GetUserRequest(id=added.user.id, min_position=added.position), timeout=30
        )
        assert got.user.id == added.user.id
    last = added.position
    for stream in streams:
        positions = []
        for message in stream:
            if message.WhichOneof("kind") == "event":
                positions.append(message.event.position)
                if message.event.position >= last:
                    break
        assert positions[-1] == last and positions == sorted(set(positions))
        stream.cancel()
    for channel in channels:
        channel.close()
    assert system.query.terminate() == 0
    assert all(gone(worker) for worker in workers)


def test_when_a_worker_dies_the_others_are_stopped_and_the_service_exits_with_1(system) -> None:
    workers = serving_workers(system.query, WORKERS)
    os.kill(workers[0], signal.SIGKILL)
    assert system.query.process.wait(30) == 1
    for worker in workers[1:]:
        wait_until(lambda w=worker: gone(w), 30, message=f"worker {worker} gone")
