"""ForgetUser on the in-process command service over a real event store: keys, idempotency, errors, what follows."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import grpc
import pytest

from eventkit import db
from eventkit.config import Database
from projector_service.source import EventSource
from tests.support.command import command_server, key_store_of
from users.v1 import command_service_pb2 as pb
from users.v1 import command_service_pb2_grpc


@pytest.fixture
def commands(event_store: Database) -> Iterator[command_service_pb2_grpc.CommandServiceStub]:
    with command_server(event_store) as stub:
        yield stub


def keys_of(event_store: Database, user_id: str) -> int:
    with db.connect(key_store_of(event_store)) as conn:
        row = conn.execute("SELECT count(*) FROM user_keys WHERE user_id = %s", [user_id]).fetchone()
    return int(row[0]) if row else 0


def events_of(event_store: Database, user_id: str) -> list[tuple[int, str, int, str]]:
    with db.connect(event_store) as conn:
        rows = conn.execute(
            "SELECT version, type, schema_version, data::text FROM events WHERE stream_id = %s ORDER BY version",
            [user_id],
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


def code_of(call) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as raised:
        call()
    return raised.value.code()


def test_names_are_stored_sealed_and_forgetting_destroys_the_key_with_the_event(commands, event_store) -> None:
    user_id = commands.AddUser(pb.AddUserRequest(name="Sealed Samantha")).user.id
    assert keys_of(event_store, user_id) == 1
    [(version, kind, schema, data)] = events_of(event_store, user_id)
    assert (version, kind, schema) == (1, "UserAdded", 2) and "Samantha" not in data and "sealed_name" in data
    forgot = commands.ForgetUser(pb.ForgetUserRequest(id=user_id))
    assert (forgot.id, forgot.version) == (user_id, 2)
    assert keys_of(event_store, user_id) == 0
    assert [row[1] for row in events_of(event_store, user_id)] == ["UserAdded", "UserForgotten"]


def test_a_retried_forget_with_its_request_id_answers_the_same_and_appends_nothing(commands, event_store) -> None:
    user_id = commands.AddUser(pb.AddUserRequest(name="Retry Rita")).user.id
    request = pb.ForgetUserRequest(id=user_id, request_id=str(uuid.uuid4()))
    first, again = commands.ForgetUser(request), commands.ForgetUser(request)
    assert (again.id, again.version, again.position) == (first.id, first.version, first.position)
    assert len(events_of(event_store, user_id)) == 2


def test_forgetting_a_forgotten_user_is_idempotent(commands, event_store) -> None:
    user_id = commands.AddUser(pb.AddUserRequest(name="Twice Tom")).user.id
    first = commands.ForgetUser(pb.ForgetUserRequest(id=user_id))
    second = commands.ForgetUser(pb.ForgetUserRequest(id=user_id, request_id=str(uuid.uuid4())))
    assert (second.version, second.position) == (first.version, first.position)
    assert len(events_of(event_store, user_id)) == 2


def test_forgetting_an_unknown_user_is_not_found_and_a_malformed_id_invalid(commands) -> None:
    assert code_of(lambda: commands.ForgetUser(pb.ForgetUserRequest(id=str(uuid.uuid4())))) == grpc.StatusCode.NOT_FOUND
    assert code_of(lambda: commands.ForgetUser(pb.ForgetUserRequest(id="nope"))) == grpc.StatusCode.INVALID_ARGUMENT


def test_a_forgotten_user_cannot_be_edited_or_deleted(commands) -> None:
    user_id = commands.AddUser(pb.AddUserRequest(name="Gone Gary")).user.id
    commands.ForgetUser(pb.ForgetUserRequest(id=user_id))
    edit = pb.EditUserRequest(id=user_id, name="Back Again")
    assert code_of(lambda: commands.EditUser(edit)) == grpc.StatusCode.NOT_FOUND
    assert code_of(lambda: commands.DeleteUser(pb.DeleteUserRequest(id=user_id))) == grpc.StatusCode.NOT_FOUND


def test_a_deleted_user_can_still_be_forgotten(commands, event_store) -> None:
    user_id = commands.AddUser(pb.AddUserRequest(name="Deleted Dora")).user.id
    commands.DeleteUser(pb.DeleteUserRequest(id=user_id))
    forgot = commands.ForgetUser(pb.ForgetUserRequest(id=user_id))
    assert forgot.version == 3 and keys_of(event_store, user_id) == 0


def test_a_retried_add_after_the_user_was_forgotten_answers_the_original_without_its_name(commands) -> None:
    request = pb.AddUserRequest(name="Early Eve", request_id=str(uuid.uuid4()))
    added = commands.AddUser(request)
    commands.ForgetUser(pb.ForgetUserRequest(id=added.user.id))
    again = commands.AddUser(request)
    assert (again.user.id, again.position, again.user.name) == (added.user.id, added.position, "")


def test_a_request_id_reused_for_another_name_is_still_refused_with_keyed_fingerprints(commands) -> None:
    request_id = str(uuid.uuid4())
    commands.AddUser(pb.AddUserRequest(name="First Fay", request_id=request_id))
    other = pb.AddUserRequest(name="Other Olga", request_id=request_id)
    assert code_of(lambda: commands.AddUser(other)) == grpc.StatusCode.ALREADY_EXISTS


def test_keys_in_a_database_of_their_own_are_created_before_and_destroyed_after(
    event_store: Database, new_database
) -> None:
    keys = Database(dsn=new_database("keys"), schema="user_keys", pool_size=2)
    with command_server(event_store, KEY_STORE_DSN=keys.dsn) as commands:
        user_id = commands.AddUser(pb.AddUserRequest(name="Separate Sam")).user.id
        commands.EditUser(pb.EditUserRequest(id=user_id, name="Separate Sue"))
        assert not _table_exists(event_store)  # no key table beside the events
        with db.connect(keys) as conn:
            assert conn.execute("SELECT count(*) FROM user_keys WHERE user_id = %s", [user_id]).fetchone() == (1,)
        commands.ForgetUser(pb.ForgetUserRequest(id=user_id))
        with db.connect(keys) as conn:
            assert conn.execute("SELECT count(*) FROM user_keys WHERE user_id = %s", [user_id]).fetchone() == (0,)


def _table_exists(event_store: Database) -> bool:
    with db.connect(event_store) as conn:
        row = conn.execute("SELECT to_regclass('user_keys.user_keys') IS NOT NULL").fetchone()
    return bool(row and row[0])


def test_the_projector_opens_names_with_keys_from_a_database_of_their_own(event_store: Database, new_database) -> None:
    keys = Database(dsn=new_database("keys"), schema="user_keys", pool_size=2)
    with command_server(event_store, KEY_STORE_DSN=keys.dsn) as commands:
        kept = commands.AddUser(pb.AddUserRequest(name="Kept Karl")).user.id
        gone = commands.AddUser(pb.AddUserRequest(name="Gone Greta")).user.id
        commands.ForgetUser(pb.ForgetUserRequest(id=gone))
    with db.connect(event_store, autocommit=True) as reader:
        source = EventSource.open(event_store, keys, reader)
        try:
            events = source.read(0, 100)
        finally:
            source.close()
    opened = {(e.stream_id, e.type): (e.data.get("name"), e.forgotten) for e in events}
    assert opened[(kept, "UserAdded")] == ("Kept Karl", False)
    assert opened[(gone, "UserAdded")] == (None, True)
