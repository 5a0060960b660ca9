"""SIGTERM under load: calls that arrive while a service stops get UNAVAILABLE, never CANCELLED."""

from __future__ import annotations

import uuid

import grpc

from tests.support.callers import Callers
from tests.support.system import start_system
from tests.support.waiting import wait_until
from users.v1 import command_service_pb2 as cpb
from users.v1 import command_service_pb2_grpc, query_service_pb2_grpc
from users.v1 import query_service_pb2 as qpb

ANSWERS = {grpc.StatusCode.OK, grpc.StatusCode.UNAVAILABLE}


def add_user(channel: grpc.Channel) -> None:
    stub = command_service_pb2_grpc.CommandServiceStub(channel)
    stub.AddUser(cpb.AddUserRequest(name="under load", request_id=str(uuid.uuid4())), timeout=30)


def test_calls_arriving_while_the_command_service_stops_get_unavailable_not_cancelled(services, event_store) -> None:
    command = services(
        "command_service", {"EVENT_STORE_DSN": event_store.dsn, "EVENT_STORE_SCHEMA": event_store.schema}
    ).wait_serving(60)
    with Callers(command.address, add_user) as callers:
        wait_until(lambda: callers.count(grpc.StatusCode.OK) >= 200, timeout=60, message="200 commands answered")
        assert command.terminate(timeout=30) == 0
        wait_until(lambda: callers.count(grpc.StatusCode.UNAVAILABLE) >= 50, timeout=30, message="calls after the stop")
        codes = callers.stop()
    assert set(codes) <= ANSWERS, codes


def test_calls_arriving_while_the_query_service_stops_get_unavailable_not_cancelled(
    services, event_store, read_model
) -> None:
    system = start_system(services, event_store, read_model)
    with grpc.insecure_channel(system.command.address) as channel:
        stub = command_service_pb2_grpc.CommandServiceStub(channel)
        added = stub.AddUser(cpb.AddUserRequest(name="read under load"), timeout=30)

    def read(channel: grpc.Channel) -> None:
        stub = query_service_pb2_grpc.QueryServiceStub(channel)
        stub.GetUser(qpb.GetUserRequest(id=added.user.id, min_position=added.position), timeout=30)
        stub.ListUsers(qpb.ListUsersRequest(page_size=10), timeout=30)

    with Callers(system.query.address, read) as callers:
        wait_until(lambda: callers.count(grpc.StatusCode.OK) >= 200, timeout=60, message="200 reads answered")
        assert system.query.terminate(timeout=30) == 0
        wait_until(lambda: callers.count(grpc.StatusCode.UNAVAILABLE) >= 50, timeout=30, message="calls after the stop")
        codes = callers.stop()
    assert set(codes) <= ANSWERS, codes
