"""Bytes that are not a valid request get INVALID_ARGUMENT naming the field; oversize messages RESOURCE_EXHAUSTED."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status

from devtools.pgcluster import Cluster
from tests.support.stack import Stack, running_stack
from tests.support.system import store_events
from users.v1 import command_service_pb2 as cmd
from users.v1 import command_service_pb2_grpc as cmd_grpc
from users.v1 import query_service_pb2 as qry
from users.v1 import query_service_pb2_grpc as qry_grpc

# Field 1, length 2, then two bytes that are not UTF-8: the finding of issue 10.
INVALID_UTF8_IN_FIELD_1 = bytes.fromhex("0a02fffe")
DEFAULT_RECEIVE_LIMIT = 1024 * 1024


@pytest.fixture(scope="module")
def stack(cluster: Cluster) -> Iterator[Stack]:
    with running_stack(cluster) as running:
        yield running


def raw_call(address: str, method: str, payload: bytes, streaming: bool = False) -> grpc.RpcError:
    """Sends `payload` as the request's bytes, unserialized; returns the error the service answered with."""
    with grpc.insecure_channel(address) as channel, pytest.raises(grpc.RpcError) as raised:
        if streaming:
            list(channel.unary_stream(method)(payload, timeout=10))
        else:
            channel.unary_unary(method)(payload, timeout=10)
    return raised.value


def field_of(error: grpc.RpcError) -> str:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    return info.metadata["field"]


def serving(address: str) -> bool:
    with grpc.insecure_channel(address) as channel:
        answer = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
    return answer.status == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.parametrize(
    ("method", "field"),
    [
        ("/users.v1.CommandService/AddUser", "name"),
        ("/users.v1.CommandService/EditUser", "id"),
        ("/users.v1.CommandService/DeleteUser", "id"),
    ],
)
def test_invalid_utf8_in_a_command_is_invalid_argument_naming_the_field_and_appends_nothing(
    stack, method, field
) -> None:
    assert stack.command is not None
    before = len(store_events(stack.event_store))
    error = raw_call(stack.command.address, method, INVALID_UTF8_IN_FIELD_1)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
    assert (error.details() or "").startswith(f"{field}: not valid UTF-8")
    assert field_of(error) == field
    assert len(store_events(stack.event_store)) == before
    assert serving(stack.command.address)


@pytest.mark.parametrize(
    ("method", "payload", "field", "streaming"),
    [
        ("/users.v1.QueryService/GetUser", INVALID_UTF8_IN_FIELD_1, "id", False),
        ("/users.v1.QueryService/ListUsers", bytes.fromhex("1a02fffe"), "name_prefix", False),
        ("/users.v1.QueryService/StreamEvents", bytes.fromhex("1a02fffe"), "user_id", True),
    ],
)
def test_invalid_utf8_in_a_query_is_invalid_argument_naming_the_field_without_python_internals(
    stack, method, payload, field, streaming
) -> None:
    assert stack.query is not None
    error = raw_call(stack.query.address, method, payload, streaming)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
    assert (error.details() or "").startswith(f"{field}: not valid UTF-8")
    assert "Exception" not in (error.details() or "") and "Error" not in (error.details() or "")
    assert serving(stack.query.address)


def test_bytes_that_are_not_protobuf_at_all_are_invalid_argument_on_both_services(stack) -> None:
    assert stack.command is not None and stack.query is not None
    truncated = bytes.fromhex("0aff")  # a length that never ends
    for address, method in (
        (stack.command.address, "/users.v1.CommandService/AddUser"),
        (stack.query.address, "/users.v1.QueryService/GetUser"),
    ):
        error = raw_call(address, method, truncated)
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert field_of(error) == "request" and "users.v1." in (error.details() or "")


def test_an_undecodable_message_in_a_request_stream_ends_that_call_with_invalid_argument(stack) -> None:
    # Reflection is the one client-streaming method: its wrapped request iterator is checked too.
    assert stack.command is not None and stack.query is not None
    for address in (stack.command.address, stack.query.address):
        with grpc.insecure_channel(address) as channel:
            call = channel.stream_stream("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo")
            with pytest.raises(grpc.RpcError) as raised:
                list(call(iter([INVALID_UTF8_IN_FIELD_1]), timeout=10))
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert field_of(raised.value) == "host"


def test_a_message_past_the_receive_limit_is_resource_exhausted_and_the_services_keep_answering(stack) -> None:
    assert stack.command is not None and stack.query is not None
    huge = "x" * (DEFAULT_RECEIVE_LIMIT + 1)
    with grpc.insecure_channel(stack.command.address) as command, grpc.insecure_channel(stack.query.address) as query:
        commands, queries = cmd_grpc.CommandServiceStub(command), qry_grpc.QueryServiceStub(query)
        with pytest.raises(grpc.RpcError) as too_big_command:
            commands.AddUser(cmd.AddUserRequest(name=huge), timeout=10)
        with pytest.raises(grpc.RpcError) as too_big_query:
            queries.ListUsers(qry.ListUsersRequest(name_prefix=huge), timeout=10)
        assert too_big_command.value.code() == too_big_query.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED

        added = commands.AddUser(cmd.AddUserRequest(name="After The Flood"), timeout=10)
        got = queries.GetUser(qry.GetUserRequest(id=added.user.id, min_position=added.position), timeout=10)
    assert got.user.name == "After The Flood"
