"""Every RPC under generated hostile input (hypothesis), against the three services running as processes.

For each generated request: the answer is a valid result or a clear status that is neither INTERNAL
nor UNKNOWN, a refused command appends nothing, and the services stay SERVING. `make test` runs a
few thousand cases; `make fuzz` (USERS_FUZZ_PROFILE=fuzz) runs tens of thousands.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import uuid
from collections.abc import Iterator
from typing import Any

import grpc
import psycopg
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devtools.pgcluster import Cluster
from eventkit import text
from tests.support.stack import Stack, running_stack
from users.v1 import command_service_pb2 as cpb
from users.v1 import command_service_pb2_grpc, query_service_pb2_grpc
from users.v1 import query_service_pb2 as qpb

# Examples per test: 8 tests, so "ci" is 3,200 cases and "fuzz" 32,000.
settings.register_profile(
    "ci", max_examples=400, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "fuzz", max_examples=4000, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("USERS_FUZZ_PROFILE", "ci"))

BAD_CODES = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}
INT64 = st.one_of(
    st.sampled_from([0, 1, -1, 2**31 - 1, -(2**31), 2**31, 2**63 - 1, -(2**63)]),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
)
INT32 = st.one_of(st.sampled_from([0, 1, -1, 2**31 - 1, -(2**31)]), st.integers(-(2**31), 2**31 - 1))
# Text a protobuf string field can carry: any code point but a surrogate (the client cannot encode one).
ANY_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=300)
HOSTILE_TEXT = st.one_of(
    ANY_TEXT,
    st.sampled_from(["", " ", "\x00", "\u200b", "\ufeff", "\u0301", "a\u202eb", "x" * 201, "é" * 200, "\u3164"]),
    st.uuids().map(str),
    st.uuids().map(lambda u: f"urn:uuid:{u}"),
    st.uuids().map(lambda u: "{" + str(u) + "}"),
    st.uuids().map(lambda u: str(u).upper()),
)


@pytest.fixture(scope="module")
def stack(cluster: Cluster) -> Iterator[Stack]:
    # A short server-side bound on min_position waits keeps each case quick whatever it asks for.
    with running_stack(cluster, extra_env={"READ_MAX_WAIT_SECONDS": "0.2"}) as running:
        yield running


@pytest.fixture(scope="module")
def stubs(stack: Stack) -> Iterator[Any]:
    assert stack.command and stack.query
    with grpc.insecure_channel(stack.command.address) as c, grpc.insecure_channel(stack.query.address) as q:
        yield command_service_pb2_grpc.CommandServiceStub(c), query_service_pb2_grpc.QueryServiceStub(q), c, q


@pytest.fixture(scope="module")
def known(stubs: Any) -> list[str]:
    """Ids of users that exist, so generated requests also hit real ones."""
    commands = stubs[0]
    return [commands.AddUser(cpb.AddUserRequest(name=f"known {i}"), timeout=10).user.id for i in range(3)]


def events(stack: Stack) -> int:
    with psycopg.connect(stack.event_store.dsn) as conn:
        return conn.execute("SELECT count(*) FROM event_store.events").fetchone()[0]


def answered(call: Any) -> tuple[Any, grpc.RpcError | None]:
    """Returns (response, None) or (None, error); fails on INTERNAL or UNKNOWN."""
    try:
        return call(), None
    except grpc.RpcError as error:
        assert error.code() not in BAD_CODES, f"{error.code()}: {error.details()}"
        assert error.details(), "a status without a message"
        return None, error


def expect_no_append(stack: Stack, before: int, error: grpc.RpcError | None) -> None:
    if error is not None:
        assert events(stack) == before, f"a refused command appended: {error.code()} {error.details()}"


def ids(known: list[str]) -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(known), HOSTILE_TEXT)


def request_ids() -> st.SearchStrategy[str]:
    return st.one_of(st.just(""), st.uuids().map(str), HOSTILE_TEXT)


@given(data=st.data())
def test_add_user(stack: Stack, stubs: Any, data: st.DataObject) -> None:
    name, request_id = data.draw(HOSTILE_TEXT, "name"), data.draw(request_ids(), "request_id")
    before = events(stack)
    reply, error = answered(lambda: stubs[0].AddUser(cpb.AddUserRequest(name=name, request_id=request_id), timeout=10))
    expect_no_append(stack, before, error)
    if reply is not None:
        assert reply.user.name == text.normalize(name.strip()) and reply.position > 0


@given(data=st.data())
def test_edit_user(stack: Stack, stubs: Any, known: list[str], data: st.DataObject) -> None:
    request = cpb.EditUserRequest(
        id=data.draw(ids(known), "id"),
        name=data.draw(HOSTILE_TEXT, "name"),
        expected_version=data.draw(INT64, "expected_version"),
        request_id=data.draw(request_ids(), "request_id"),
    )
    before = events(stack)
    reply, error = answered(lambda: stubs[0].EditUser(request, timeout=10))
    expect_no_append(stack, before, error)
    if reply is not None:
        assert reply.user.id == str(uuid.UUID(request.id))


@given(data=st.data())
def test_delete_user(stack: Stack, stubs: Any, data: st.DataObject) -> None:
    # Deletes only users made for this case: the known ones stay for the other tests.
    target = stubs[0].AddUser(cpb.AddUserRequest(name="to delete"), timeout=10).user.id
    request = cpb.DeleteUserRequest(
        id=data.draw(st.one_of(st.just(target), HOSTILE_TEXT), "id"),
        expected_version=data.draw(INT64, "expected_version"),
        request_id=data.draw(request_ids(), "request_id"),
    )
    before = events(stack)
    _, error = answered(lambda: stubs[0].DeleteUser(request, timeout=10))
    expect_no_append(stack, before, error)


@given(data=st.data())
def test_forget_user(stack: Stack, stubs: Any, data: st.DataObject) -> None:
    # Forgets only users made for this case, as DeleteUser does.
    target = stubs[0].AddUser(cpb.AddUserRequest(name="to forget"), timeout=10).user.id
    request = cpb.ForgetUserRequest(
        id=data.draw(st.one_of(st.just(target), HOSTILE_TEXT), "id"), request_id=data.draw(request_ids(), "request_id")
    )
    before = events(stack)
    _, error = answered(lambda: stubs[0].ForgetUser(request, timeout=10))
    expect_no_append(stack, before, error)


@given(data=st.data())
def test_get_user(stubs: Any, known: list[str], data: st.DataObject) -> None:
    request = qpb.GetUserRequest(id=data.draw(ids(known), "id"), min_position=data.draw(INT64, "min_position"))
    answered(lambda: stubs[1].GetUser(request, timeout=10))


def forged_tokens(key: bytes) -> st.SearchStrategy[str]:
    """Tokens signed with the service's key, carrying generated JSON."""
    leaves = st.one_of(st.none(), st.booleans(), INT64, st.floats(allow_nan=False), ANY_TEXT)
    payloads = st.recursive(leaves, lambda inner: st.lists(inner, max_size=5), max_leaves=12)

    def sign(payload: Any) -> str:
        raw = json.dumps(payload).encode()
        mac = hmac.new(key, raw, hashlib.sha256).digest()[:16]
        return f"{base64.urlsafe_b64encode(raw).rstrip(b'=').decode()}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"

    layouts = st.tuples(st.just(1), ANY_TEXT, HOSTILE_TEXT, ANY_TEXT).map(list)
    return st.one_of(payloads, layouts).map(sign)


@given(data=st.data())
def test_list_users(stack: Stack, stubs: Any, data: st.DataObject) -> None:
    with psycopg.connect(stack.read_model.dsn) as conn:  # the service's own random key, as if leaked
        key = conn.execute("SELECT key FROM read_model.page_token_key").fetchone()[0].encode()
    prefix = data.draw(st.one_of(st.just(""), HOSTILE_TEXT), "name_prefix")
    request = qpb.ListUsersRequest(
        page_size=data.draw(INT32, "page_size"),
        page_token=data.draw(st.one_of(st.just(""), HOSTILE_TEXT, forged_tokens(key)), "page_token"),
        name_prefix=prefix,
        min_position=data.draw(INT64, "min_position"),
    )
    reply, _ = answered(lambda: stubs[1].ListUsers(request, timeout=10))
    if reply is not None and reply.next_page_token:  # a token the service made is always taken back
        follow = qpb.ListUsersRequest(page_token=reply.next_page_token, name_prefix=prefix)
        assert stubs[1].ListUsers(follow, timeout=10) is not None


@given(data=st.data())
def test_stream_events(stubs: Any, known: list[str], data: st.DataObject) -> None:
    request = qpb.StreamEventsRequest(
        event_types=data.draw(st.lists(INT32, max_size=5), "event_types"),
        user_id=data.draw(st.one_of(st.just(""), ids(known)), "user_id"),
    )
    after = data.draw(st.one_of(st.none(), INT64), "after_position")
    if after is not None:
        request.after_position = after
    call = stubs[1].StreamEvents(request, timeout=10)
    try:
        first = next(call)  # replayed events, or the caught-up marker, arrive at once
        assert first.WhichOneof("kind") in ("event", "caught_up")
    except grpc.RpcError as error:
        assert error.code() not in BAD_CODES, f"{error.code()}: {error.details()}"
    finally:
        call.cancel()


METHODS = [
    ("/users.v1.CommandService/AddUser", 0, False),
    ("/users.v1.CommandService/EditUser", 0, False),
    ("/users.v1.CommandService/DeleteUser", 0, False),
    ("/users.v1.CommandService/ForgetUser", 0, False),
    ("/users.v1.QueryService/GetUser", 1, False),
    ("/users.v1.QueryService/ListUsers", 1, False),
    ("/users.v1.QueryService/StreamEvents", 1, True),
]


@given(method=st.sampled_from(METHODS), payload=st.binary(max_size=256))
def test_raw_bytes_on_every_rpc(stack: Stack, stubs: Any, method: tuple[str, int, bool], payload: bytes) -> None:
    path, server, streaming = method
    channel = stubs[2 + server]
    before = events(stack)
    try:
        if streaming:
            call = channel.unary_stream(path)(payload, timeout=10)
            try:
                next(call)
            finally:
                call.cancel()
        else:
            channel.unary_unary(path)(payload, timeout=10)
    except grpc.RpcError as error:
        if error.code() != grpc.StatusCode.CANCELLED:  # our own cancel of a stream that answered
            assert error.code() not in BAD_CODES, f"{path} {payload!r}: {error.code()}: {error.details()}"
            if server == 0:
                assert events(stack) == before


def test_the_services_are_still_serving_after_all_of_it(stack: Stack) -> None:
    for process in (stack.command, stack.projector, stack.query):
        assert process is not None and process.process is not None and process.process.poll() is None
        with grpc.insecure_channel(process.address) as channel:
            status = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10).status
        assert status == health_pb2.HealthCheckResponse.SERVING, process.module
