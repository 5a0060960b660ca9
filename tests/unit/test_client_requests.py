"""The typed client's requests: a generated request id kept across retries, and read-your-writes positions."""

from __future__ import annotations

import time
import uuid
from typing import Any

import grpc

from tests.unit.test_client_retrying import FakeRpcError
from users.v1 import command_service_pb2 as cmd
from users.v1 import query_service_pb2 as qry
from users.v1 import resources_pb2
from users_client import RetryPolicy, UsersClient

USER_ID = str(uuid.uuid4())


class FlakyCommands:
    """A CommandService stub whose first call of each method fails UNAVAILABLE, as a dropped connection does."""

    def __init__(self) -> None:
        self.requests: list[Any] = []

    def _answer(self, request: Any, response: Any) -> Any:
        self.requests.append(request)
        if len(self.requests) == 1:
            raise FakeRpcError(grpc.StatusCode.UNAVAILABLE, "connection reset")
        return response

    def AddUser(self, request: cmd.AddUserRequest, timeout: float) -> cmd.AddUserResponse:
        return self._answer(
            request, cmd.AddUserResponse(user=resources_pb2.User(id=USER_ID, name=request.name, version=1), position=7)
        )


class RecordingQueries:
    """A QueryService stub that records what it was asked."""

    def __init__(self) -> None:
        self.requests: list[Any] = []

    def GetUser(self, request: qry.GetUserRequest, timeout: float) -> qry.GetUserResponse:
        self.requests.append(request)
        return qry.GetUserResponse(user=resources_pb2.User(id=request.id, name="Ada", version=1))


def client_with(commands: Any = None, queries: Any = None) -> UsersClient:
    client = UsersClient("localhost:1", "localhost:2", retry=RetryPolicy(initial_backoff=0.001))
    client._commands, client._queries = commands, queries  # channels are lazy: nothing was dialled
    return client


def test_a_command_without_a_request_id_gets_one_and_every_retry_resends_it() -> None:
    commands = FlakyCommands()
    with client_with(commands=commands) as client:
        written = client.add_user("Ada")
    first, retry = commands.requests
    assert uuid.UUID(first.request_id) and retry.request_id == first.request_id
    assert (written.user.id, written.user.name, written.position) == (USER_ID, "Ada", 7)


def test_a_callers_request_id_is_sent_as_given() -> None:
    commands = FlakyCommands()
    request_id = str(uuid.uuid4())
    with client_with(commands=commands) as client:
        client.add_user("Ada", request_id=request_id)
    assert [r.request_id for r in commands.requests] == [request_id, request_id]


def test_two_commands_never_share_a_generated_request_id() -> None:
    commands = FlakyCommands()
    with client_with(commands=commands) as client:
        client.add_user("One")
        client.add_user("Two")
    assert commands.requests[0].request_id != commands.requests[2].request_id


def test_generated_request_ids_are_time_ordered_so_the_request_id_index_takes_them_in_one_place() -> None:
    started_ms = time.time_ns() // 1_000_000
    commands = FlakyCommands()
    with client_with(commands=commands) as client:
        for name in ("One", "Two", "Three"):
            client.add_user(name)
    sent = [uuid.UUID(i) for i in dict.fromkeys(r.request_id for r in commands.requests)]  # a retry repeats its id
    assert [u.version for u in sent] == [7, 7, 7]
    stamps = [u.int >> 80 for u in sent]  # UUIDv7: the first 48 bits are Unix milliseconds
    assert stamps == sorted(stamps) and started_ms <= stamps[0] <= time.time_ns() // 1_000_000


def test_get_user_asks_for_the_position_of_the_write_it_must_see() -> None:
    queries = RecordingQueries()
    with client_with(queries=queries) as client:
        user = client.get_user(USER_ID, min_position=7)
    assert queries.requests == [qry.GetUserRequest(id=USER_ID, min_position=7)]
    assert user.id == USER_ID and user.create_time is None
