"""The command service as its own process: database outages, health, reflection, graceful stop."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2

from tests.support.processes import ROOT
from tests.support.waiting import wait_until
from users.v1 import command_service_pb2 as pb
from users.v1 import command_service_pb2_grpc

GRPCURL = str(Path(os.environ.get("VIRTUAL_ENV", ROOT / ".venv")) / "bin" / "grpcurl")


def add_user(address: str, name: str) -> pb.AddUserResponse:
    with grpc.insecure_channel(address) as channel:
        return command_service_pb2_grpc.CommandServiceStub(channel).AddUser(pb.AddUserRequest(name=name), timeout=10)


def add_user_code(address: str) -> grpc.StatusCode:
    try:
        add_user(address, "probe")
        return grpc.StatusCode.OK
    except grpc.RpcError as error:
        return error.code()


def test_a_service_started_before_its_database_serves_once_the_database_appears_and_after_a_restart(
    own_cluster, services
) -> None:
    command = services("command_service", {"EVENT_STORE_DSN": own_cluster.dsn("es")})
    wait_until(lambda: command.health() == health_pb2.HealthCheckResponse.NOT_SERVING, timeout=30)
    assert add_user_code(command.address) == grpc.StatusCode.UNAVAILABLE

    own_cluster.start()
    own_cluster.create_database("es")
    command.wait_serving(timeout=60)
    first = add_user(command.address, "after start")

    own_cluster.stop(fast=False)
    wait_until(lambda: command.health() == health_pb2.HealthCheckResponse.NOT_SERVING, timeout=30)
    assert add_user_code(command.address) == grpc.StatusCode.UNAVAILABLE
    own_cluster.start()
    wait_until(
        lambda: add_user_code(command.address) == grpc.StatusCode.OK, timeout=60, message="AddUser after restart"
    )
    command.wait_serving(timeout=30)
    assert add_user(command.address, "after restart").position > first.position
    assert command.process.poll() is None


def test_sigterm_drains_and_exits_zero(cluster, new_database, services) -> None:
    command = services("command_service", {"EVENT_STORE_DSN": new_database("es")}).wait_serving()
    add_user(command.address, "before stop")
    assert command.terminate() == 0


def test_grpcurl_lists_and_describes_the_command_service_and_calls_it(new_database, services) -> None:
    command = services("command_service", {"EVENT_STORE_DSN": new_database("es")}).wait_serving()

    def grpcurl(*args: str) -> str:
        done = subprocess.run([GRPCURL, "-plaintext", *args], capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        return done.stdout

    listed = grpcurl(command.address, "list").split()
    assert {"users.v1.CommandService", "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"} <= set(
        listed
    )
    assert "rpc AddUser" in grpcurl(command.address, "describe", "users.v1.CommandService")
    assert "AddUserRequest" in grpcurl(command.address, "describe", "users.v1.CommandService.AddUser")
    added = json.loads(grpcurl("-d", '{"name": "from grpcurl"}', command.address, "users.v1.CommandService/AddUser"))
    assert added["user"]["name"] == "from grpcurl" and int(added["position"]) >= 1
