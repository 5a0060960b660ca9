"""Issue 10's hostile input, reproduced over real gRPC: forged page tokens and invisible or spoofing names."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator

import grpc
import psycopg
import pytest

from eventkit.config import Database
from tests.support.command import command_server
from tests.support.query import QueryServer, query_server
from tests.support.read_model import TinyProjection
from users.v1 import command_service_pb2 as cpb
from users.v1 import command_service_pb2_grpc
from users.v1 import query_service_pb2 as qpb


def default_key(read_model: Database) -> bytes:
    """The page-token key a query service uses when PAGE_TOKEN_SECRET is not set (as if it had leaked)."""
    with psycopg.connect(read_model.dsn) as conn:
        return conn.execute("SELECT key FROM read_model.page_token_key").fetchone()[0].encode()


def forge(key: bytes, payload: bytes) -> str:
    """Signs an arbitrary payload the way the service signs its own tokens."""
    mac = hmac.new(key, payload, hashlib.sha256).digest()[:16]

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return f"{b64(payload)}.{b64(mac)}"


@pytest.fixture
def query(read_model: Database) -> Iterator[QueryServer]:
    tiny = TinyProjection(read_model)
    tiny.add("Ada Lovelace")
    try:
        with query_server(read_model, secret=None) as running:
            yield running
    finally:
        tiny.close()


USER = str(uuid.uuid4())
FORGED_PAYLOADS = {
    "NUL in the name": json.dumps([1, "a\x00b", USER, ""]).encode(),
    "urn:uuid: id": json.dumps([1, "a", f"urn:uuid:{USER}", ""]).encode(),
    "braced id": json.dumps([1, "a", "{" + USER + "}", ""]).encode(),
    "lone surrogate": b'[1, "\\ud800", "' + USER.encode() + b'", ""]',
    "100,000 nested [": b"[" * 100_000 + b"]" * 100_000,
    "a number for the name": json.dumps([1, 7, USER, ""]).encode(),
    "five fields": json.dumps([1, "a", USER, "", ""]).encode(),
}


@pytest.mark.parametrize("payload", FORGED_PAYLOADS.values(), ids=FORGED_PAYLOADS.keys())
def test_a_forged_token_signed_with_the_default_key_is_invalid_argument_not_internal(
    query: QueryServer, read_model: Database, payload: bytes
) -> None:
    token = forge(default_key(read_model), payload)
    with pytest.raises(grpc.RpcError) as raised:
        query.stub.ListUsers(qpb.ListUsersRequest(page_token=token), timeout=10)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "page_token" in raised.value.details()
    # ...and the service still answers.
    assert [u.name for u in query.stub.ListUsers(qpb.ListUsersRequest(), timeout=10).users] == ["Ada Lovelace"]


@pytest.fixture
def commands(event_store: Database) -> Iterator[command_service_pb2_grpc.CommandServiceStub]:
    with command_server(event_store) as stub:
        yield stub


def count_events(database: Database) -> int:
    with psycopg.connect(database.dsn) as conn:
        return conn.execute("SELECT count(*) FROM event_store.events").fetchone()[0]


INVISIBLE_OR_SPOOFING = {
    "zero width space": "\u200b",
    "byte order mark": "\ufeff\ufeff",
    "lone combining mark": "\u0301",
    "combining marks and joiners": "\u0301\u200d\u0308",
    "hangul filler": "\u3164",
    "right-to-left override": "user\u202egnp.exe",
    "left-to-right isolate": "Ada \u2066Lovelace\u2069",
}


@pytest.mark.parametrize("name", INVISIBLE_OR_SPOOFING.values(), ids=INVISIBLE_OR_SPOOFING.keys())
def test_invisible_or_direction_spoofing_names_are_refused_and_append_nothing(
    commands: command_service_pb2_grpc.CommandServiceStub, event_store: Database, name: str
) -> None:
    added = commands.AddUser(cpb.AddUserRequest(name="Ada"), timeout=10)
    for call in (
        lambda: commands.AddUser(cpb.AddUserRequest(name=name), timeout=10),
        lambda: commands.EditUser(cpb.EditUserRequest(id=added.user.id, name=name), timeout=10),
    ):
        with pytest.raises(grpc.RpcError) as raised:
            call()
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert raised.value.details().startswith("name:")
    assert count_events(event_store) == 1


def test_names_are_stored_in_nfc_so_two_spellings_of_one_name_are_equal(
    commands: command_service_pb2_grpc.CommandServiceStub,
) -> None:
    composed = commands.AddUser(cpb.AddUserRequest(name="Ren\u00e9e"), timeout=10).user
    decomposed = commands.AddUser(cpb.AddUserRequest(name="Rene\u0301e"), timeout=10).user
    assert composed.name == decomposed.name == "Ren\u00e9e"
    # Compatibility characters are kept as written (NFC, not NFKC).
    assert commands.AddUser(cpb.AddUserRequest(name="\ufb01ne \u00b2"), timeout=10).user.name == "\ufb01ne \u00b2"


def test_the_default_page_token_key_is_random_per_read_model_not_derived_from_names(
    read_model: Database, new_database
) -> None:
    dsn = new_database("rm")
    other = Database(dsn, "read_model", 1, migration_dsn=dsn)
    for database in (read_model, other):
        TinyProjection(database).close()  # migrates it
    keys = {default_key(read_model), default_key(other)}
    assert len(keys) == 2 and all(len(key) == 64 for key in keys)  # 256-bit hex, one per read model
