"""CommandService over real gRPC and a real event store: concurrency, idempotency, bad input."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import psycopg
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from eventkit.config import Database
from tests.support.command import command_server
from users.v1 import command_service_pb2 as pb
from users.v1 import command_service_pb2_grpc


@pytest.fixture(params=["sync", "asyncio"])
def commands(
    event_store: Database, request: pytest.FixtureRequest
) -> Iterator[command_service_pb2_grpc.CommandServiceStub]:
    """The service on each server stack (COMMAND_SERVER_STACK): both must behave alike."""
    with command_server(event_store, request.param) as stub:
        yield stub


def count_events(database: Database) -> int:
    with psycopg.connect(database.dsn) as conn:
        return conn.execute("SELECT count(*) FROM event_store.events").fetchone()[0]


def stream_versions(database: Database, user_id: str) -> list[int]:
    with psycopg.connect(database.dsn) as conn:
        rows = conn.execute("SELECT version FROM event_store.events WHERE stream_id = %s ORDER BY position", [user_id])
        return [row[0] for row in rows]


def status_of(call: Callable[[], Any]) -> tuple[grpc.StatusCode, str, dict[str, str]]:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    error = caught.value
    status = rpc_status.from_call(error)
    info = error_details_pb2.ErrorInfo()
    metadata: dict[str, str] = {}
    if status is not None and status.details and status.details[0].Unpack(info):
        metadata = dict(info.metadata, reason=info.reason)
    return error.code(), error.details(), metadata


def test_sixteen_concurrent_edits_at_one_expected_version_let_exactly_one_win(commands, event_store) -> None:
    added = commands.AddUser(pb.AddUserRequest(name="ada"))
    user_id = added.user.id

    def edit(index: int) -> grpc.StatusCode:
        try:
            commands.EditUser(pb.EditUserRequest(id=user_id, name=f"name-{index}", expected_version=1), timeout=30)
            return grpc.StatusCode.OK
        except grpc.RpcError as error:
            return error.code()

    with ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(edit, range(16)))
    assert codes.count(grpc.StatusCode.OK) == 1
    assert codes.count(grpc.StatusCode.ABORTED) == 15
    assert stream_versions(event_store, user_id) == [1, 2]


def test_a_stale_expected_version_is_aborted_with_the_current_version(commands) -> None:
    added = commands.AddUser(pb.AddUserRequest(name="ada"))
    commands.EditUser(pb.EditUserRequest(id=added.user.id, name="b", expected_version=1))
    code, message, info = status_of(
        lambda: commands.EditUser(pb.EditUserRequest(id=added.user.id, name="c", expected_version=1))
    )
    assert code == grpc.StatusCode.ABORTED
    assert "current version is 2" in message
    assert info["reason"] == "VERSION_CONFLICT" and info["current_version"] == "2"


def test_fifty_concurrent_retries_of_one_add_append_one_event_and_answer_identically(commands, event_store) -> None:
    request = pb.AddUserRequest(name="retried", request_id=str(uuid.uuid4()))
    with ThreadPoolExecutor(50) as pool:
        responses = list(pool.map(lambda _: commands.AddUser(request, timeout=30), range(50)))
    assert count_events(event_store) == 1
    assert all(response == responses[0] for response in responses)
    assert responses[0].user.name == "retried" and responses[0].position >= 1


def test_a_retried_edit_returns_the_original_answer_even_after_later_edits(commands, event_store) -> None:
    user_id = commands.AddUser(pb.AddUserRequest(name="ada")).user.id
    edit = pb.EditUserRequest(id=user_id, name="grace", request_id=str(uuid.uuid4()))
    first = commands.EditUser(edit)
    commands.EditUser(pb.EditUserRequest(id=user_id, name="later"))
    assert commands.EditUser(edit) == first
    assert stream_versions(event_store, user_id) == [1, 2, 3]


def test_a_request_id_reused_for_a_different_request_is_rejected_and_appends_nothing(commands, event_store) -> None:
    request_id = str(uuid.uuid4())
    commands.AddUser(pb.AddUserRequest(name="ada", request_id=request_id))
    code, _, info = status_of(lambda: commands.AddUser(pb.AddUserRequest(name="grace", request_id=request_id)))
    assert code == grpc.StatusCode.ALREADY_EXISTS and info["reason"] == "REQUEST_ID_REUSED"
    assert count_events(event_store) == 1


BAD_REQUESTS = [
    ("AddUser", pb.AddUserRequest(name=""), grpc.StatusCode.INVALID_ARGUMENT, "name"),
    ("AddUser", pb.AddUserRequest(name="   "), grpc.StatusCode.INVALID_ARGUMENT, "name"),
    ("AddUser", pb.AddUserRequest(name="x" * 201), grpc.StatusCode.INVALID_ARGUMENT, "name"),
    ("AddUser", pb.AddUserRequest(name="nul\x00byte"), grpc.StatusCode.INVALID_ARGUMENT, "name"),
    ("AddUser", pb.AddUserRequest(name="escape\x1b[31m"), grpc.StatusCode.INVALID_ARGUMENT, "name"),
    ("AddUser", pb.AddUserRequest(name="ok", request_id="not-a-uuid"), grpc.StatusCode.INVALID_ARGUMENT, "request_id"),
    ("EditUser", pb.EditUserRequest(id="42", name="ok"), grpc.StatusCode.INVALID_ARGUMENT, "id"),
    ("EditUser", pb.EditUserRequest(id="", name="ok"), grpc.StatusCode.INVALID_ARGUMENT, "id"),
    ("EditUser", pb.EditUserRequest(id=str(uuid.uuid4()), name="ok"), grpc.StatusCode.NOT_FOUND, None),
    ("EditUser", pb.EditUserRequest(id=str(uuid.uuid4()), name="\x00"), grpc.StatusCode.INVALID_ARGUMENT, "name"),
    (
        "EditUser",
        pb.EditUserRequest(id=str(uuid.uuid4()), name="ok", expected_version=-1),
        grpc.StatusCode.INVALID_ARGUMENT,
        "expected_version",
    ),
    ("DeleteUser", pb.DeleteUserRequest(id="zzz"), grpc.StatusCode.INVALID_ARGUMENT, "id"),
    ("DeleteUser", pb.DeleteUserRequest(id=str(uuid.uuid4())), grpc.StatusCode.NOT_FOUND, None),
]


@pytest.mark.parametrize(
    "method, request_, expected, field", BAD_REQUESTS, ids=[f"{m}-{i}" for i, (m, *_) in enumerate(BAD_REQUESTS)]
)
def test_bad_input_gets_a_clear_status_and_appends_nothing(
    commands, event_store, method, request_, expected, field
) -> None:
    code, message, info = status_of(lambda: getattr(commands, method)(request_))
    assert code == expected
    if field:
        assert message.startswith(f"{field}:") and info["field"] == field
    assert count_events(event_store) == 0


def test_a_deleted_user_is_not_found_for_edit_and_delete(commands, event_store) -> None:
    user_id = commands.AddUser(pb.AddUserRequest(name="ada")).user.id
    deleted = commands.DeleteUser(pb.DeleteUserRequest(id=user_id, expected_version=1))
    assert (deleted.id, deleted.version) == (user_id, 2)
    for call in (
        lambda: commands.EditUser(pb.EditUserRequest(id=user_id, name="x")),
        lambda: commands.DeleteUser(pb.DeleteUserRequest(id=user_id)),
    ):
        code, message, _ = status_of(call)
        assert code == grpc.StatusCode.NOT_FOUND and user_id in message
    assert count_events(event_store) == 2


def test_responses_carry_the_folded_user_and_a_growing_position(commands) -> None:
    added = commands.AddUser(pb.AddUserRequest(name="  ada  "))
    edited = commands.EditUser(pb.EditUserRequest(id=added.user.id, name="grace", expected_version=1))
    assert added.user.name == "ada" and added.user.version == 1
    assert edited.user.name == "grace" and edited.user.version == 2
    assert edited.user.create_time == added.user.create_time
    assert edited.user.update_time.ToDatetime() >= added.user.update_time.ToDatetime()
    assert edited.position > added.position


def test_a_user_whose_stored_events_cannot_be_read_gets_data_loss_and_nothing_is_appended(
    commands, event_store
) -> None:
    broken = str(uuid.uuid4())
    with psycopg.connect(event_store.dsn) as conn:  # written out of band: a UserAdded without a name
        conn.execute(
            "INSERT INTO event_store.events (stream_id, version, type, data) VALUES (%s, 1, 'UserAdded', '{}')",
            [broken],
        )
    code, message, info = status_of(lambda: commands.EditUser(pb.EditUserRequest(id=broken, name="x")))
    assert code == grpc.StatusCode.DATA_LOSS and info["reason"] == "USER_HISTORY_UNREADABLE" and broken in message
    assert stream_versions(event_store, broken) == [1]
    assert commands.AddUser(pb.AddUserRequest(name="unaffected")).user.version == 1
