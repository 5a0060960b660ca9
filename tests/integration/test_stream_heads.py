"""Stream heads over a real event store: kept with each append, trusted only when they match, rebuilt when not."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from prometheus_client import REGISTRY

from eventkit import db
from eventkit.config import Database
from tests.support.command import command_server, key_store_of
from users.v1 import command_service_pb2 as pb
from users.v1 import command_service_pb2_grpc

Stub = command_service_pb2_grpc.CommandServiceStub


@pytest.fixture
def commands(event_store: Database) -> Iterator[Stub]:
    with command_server(event_store) as stub:
        yield stub


def refolds() -> float:
    """How many users the in-process command service has folded again from their events so far."""
    return REGISTRY.get_sample_value("users_stream_heads_refolded_total") or 0.0


def head_of(event_store: Database, user_id: str) -> dict[str, Any] | None:
    with db.connect(event_store) as conn:
        row = conn.execute(
            "SELECT version, position, deleted, forgotten, keyed FROM stream_heads WHERE stream_id = %s", [user_id]
        ).fetchone()
    keys = ("version", "position", "deleted", "forgotten", "keyed")
    return dict(zip(keys, row)) if row else None


def change(event_store: Database, statement: str, *params: object) -> None:
    with db.connect(event_store) as conn:
        conn.execute(statement, list(params))


def edit(commands: Stub, user_id: str, name: str, expected_version: int = 0) -> pb.EditUserResponse:
    return commands.EditUser(pb.EditUserRequest(id=user_id, name=name, expected_version=expected_version))


def user_with_head(commands: Stub, event_store: Database) -> tuple[str, pb.EditUserResponse]:
    """Adds a user and edits it once: the edit folds the one event and writes the user's head."""
    user_id = commands.AddUser(pb.AddUserRequest(name="Ada")).user.id
    assert head_of(event_store, user_id) is None  # AddUser keeps its one-statement transaction
    edited = edit(commands, user_id, "Ada B", expected_version=1)
    return user_id, edited


def test_each_command_that_reads_a_user_leaves_its_head_at_the_new_event(commands, event_store) -> None:
    user_id, edited = user_with_head(commands, event_store)
    assert head_of(event_store, user_id) == dict(
        version=2, position=edited.position, deleted=False, forgotten=False, keyed=True
    )
    before = refolds()
    again = edit(commands, user_id, "Ada C", expected_version=2)
    assert (again.user.version, again.user.name) == (3, "Ada C")
    assert again.user.create_time == edited.user.create_time  # kept by the head, not read from the first event
    assert refolds() == before  # the head stood for the history: nothing was folded again
    deleted = commands.DeleteUser(pb.DeleteUserRequest(id=user_id, expected_version=3))
    assert head_of(event_store, user_id) == dict(
        version=4, position=deleted.position, deleted=True, forgotten=False, keyed=True
    )


def test_a_missing_head_is_rebuilt_from_the_events(commands, event_store) -> None:
    user_id, _ = user_with_head(commands, event_store)
    change(event_store, "DELETE FROM stream_heads WHERE stream_id = %s", user_id)
    before = refolds()
    edited = edit(commands, user_id, "Ada C", expected_version=2)
    assert edited.user.version == 3 and refolds() == before + 1
    assert head_of(event_store, user_id) == dict(
        version=3, position=edited.position, deleted=False, forgotten=False, keyed=True
    )


@pytest.mark.parametrize(
    "damage",
    [
        "UPDATE stream_heads SET deleted = true WHERE stream_id = %s",  # would refuse a live user
        "UPDATE stream_heads SET create_time = create_time - interval '1 day' WHERE stream_id = %s",
        "UPDATE stream_heads SET version = 1 WHERE stream_id = %s",  # would hand out version 2 again
        "UPDATE stream_heads SET position = position - 1 WHERE stream_id = %s",
        "UPDATE stream_heads SET checksum = 'x' WHERE stream_id = %s",
    ],
)
def test_a_damaged_head_is_detected_and_rebuilt(commands, event_store, damage: str) -> None:
    user_id, first_edit = user_with_head(commands, event_store)
    change(event_store, damage, user_id)
    before = refolds()
    edited = edit(commands, user_id, "Ada C", expected_version=2)
    assert (edited.user.version, edited.user.name) == (3, "Ada C") and refolds() == before + 1
    assert edited.user.create_time == first_edit.user.create_time
    assert head_of(event_store, user_id) == dict(
        version=3, position=edited.position, deleted=False, forgotten=False, keyed=True
    )
    assert edit(commands, user_id, "Ada D", expected_version=3).user.version == 4
    assert refolds() == before + 1  # rewritten right: trusted again


def test_an_event_appended_behind_the_services_back_makes_the_head_stale(commands, event_store) -> None:
    user_id, _ = user_with_head(commands, event_store)
    change(
        event_store,
        "INSERT INTO events (stream_id, version, type, data) VALUES (%s, 3, 'UserDeleted', '{}')",
        user_id,
    )
    with pytest.raises(grpc.RpcError) as raised:
        edit(commands, user_id, "Ada C")
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND  # the fold saw the deletion the head had not
    head = head_of(event_store, user_id)
    assert head is not None and (head["version"], head["deleted"]) == (3, True)


def test_a_key_destroyed_behind_the_services_back_makes_the_head_stale(commands, event_store) -> None:
    user_id, _ = user_with_head(commands, event_store)
    with db.connect(key_store_of(event_store)) as conn:
        conn.execute("DELETE FROM user_keys WHERE user_id = %s", [user_id])
    with pytest.raises(grpc.RpcError) as raised:
        edit(commands, user_id, "Ada C")
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND  # its names cannot be read: forgotten
    head = head_of(event_store, user_id)
    assert head is not None and (head["version"], head["forgotten"], head["keyed"]) == (2, True, False)


def test_a_head_keeps_no_name(commands, event_store) -> None:
    user_id, _ = user_with_head(commands, event_store)
    with db.connect(event_store) as conn:
        row = conn.execute("SELECT to_jsonb(h) FROM stream_heads h WHERE stream_id = %s", [user_id]).fetchone()
    assert row is not None and "Ada" not in json.dumps(row[0])


def test_a_retry_is_answered_from_the_events_not_the_head(commands, event_store) -> None:
    user_id, _ = user_with_head(commands, event_store)
    request = pb.EditUserRequest(id=user_id, name="Grace", request_id=str(uuid.uuid4()))
    first = commands.EditUser(request)
    edit(commands, user_id, "Later")
    again = commands.EditUser(request)
    assert (again.user.name, again.user.version, again.position) == ("Grace", 3, first.position)
    assert again.user.create_time == first.user.create_time
