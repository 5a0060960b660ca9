"""Reads with min_position: they wait for the projection, wake on its notification, and fail cleanly."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import grpc
import pytest

from tests.support.query import query_server
from tests.support.read_model import ADDED, TinyProjection
from tests.support.waiting import wait_until
from users.v1 import query_service_pb2 as pb


@pytest.fixture
def projection(read_model) -> Iterator[TinyProjection]:
    tiny = TinyProjection(read_model)
    yield tiny
    tiny.close()


def code_of(call) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as raised:
        call()
    return raised.value.code()


def test_a_read_with_min_position_waits_for_the_projection_and_is_woken_by_its_notification(projection) -> None:
    # A poll interval far beyond the deadline: only the projector's NOTIFY can wake the waiting read.
    with query_server(projection.database, poll_interval=600) as query:
        user_id = str(uuid.uuid4())
        pending = query.stub.GetUser.future(
            pb.GetUserRequest(id=user_id, min_position=projection.position + 1), timeout=60
        )
        listing = query.stub.ListUsers.future(pb.ListUsersRequest(min_position=projection.position + 1), timeout=60)
        wait_until(lambda: query.hub.waiting == 2, timeout=30, message="both reads waiting")
        assert not pending.done()
        projection.apply([(ADDED, user_id, "just written")])
        assert pending.result().user.name == "just written"
        assert [u.id for u in listing.result().users] == [user_id]


def test_a_position_already_applied_is_answered_without_waiting(projection) -> None:
    user_id, position = projection.add("old news")
    with query_server(projection.database, poll_interval=600) as query:
        assert query.stub.GetUser(pb.GetUserRequest(id=user_id, min_position=position), timeout=30).user.id == user_id
        assert query.hub.waiting == 0


def test_a_position_not_applied_by_the_deadline_is_deadline_exceeded_while_the_projector_lives(projection) -> None:
    projection.add("someone")
    with query_server(projection.database, poll_interval=0.2) as query:
        request = pb.GetUserRequest(id=str(uuid.uuid4()), min_position=projection.position + 10)
        assert code_of(lambda: query.stub.GetUser(request, timeout=2)) == grpc.StatusCode.DEADLINE_EXCEEDED
        wait_until(lambda: query.hub.waiting == 0, timeout=30, message="the waiter is forgotten")


def test_a_position_not_applied_while_the_projector_is_not_running_is_unavailable(projection) -> None:
    projection.add("someone")
    projection.age(60)  # last seen a minute ago: longer than PROJECTOR_STALE_AFTER_SECONDS
    with query_server(projection.database, poll_interval=0.2, stale_after=5) as query:
        request = pb.ListUsersRequest(min_position=projection.position + 1)
        assert code_of(lambda: query.stub.ListUsers(request, timeout=3)) == grpc.StatusCode.UNAVAILABLE


def test_a_negative_min_position_is_invalid_argument(projection) -> None:
    with query_server(projection.database) as query:
        request = pb.GetUserRequest(id=str(uuid.uuid4()), min_position=-1)
        assert code_of(lambda: query.stub.GetUser(request, timeout=10)) == grpc.StatusCode.INVALID_ARGUMENT
