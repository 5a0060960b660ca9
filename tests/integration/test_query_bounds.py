"""Bounds on the query service: open streams per process and per connection, and the longest min_position wait."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import grpc
import pytest

from tests.support.query import QueryServer, query_server
from tests.support.read_model import TinyProjection
from tests.support.waiting import wait_until
from users.v1 import query_service_pb2 as pb
from users.v1 import query_service_pb2_grpc

ONE_DAY = 24 * 3600.0


def new_connection(address: str) -> grpc.Channel:
    """A channel with a TCP connection of its own (channels of one process otherwise share one)."""
    return grpc.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1)])


@pytest.fixture
def projection(read_model) -> Iterator[TinyProjection]:
    tiny = TinyProjection(read_model)
    tiny.add("Ada Lovelace")
    yield tiny
    tiny.close()


def open_stream(stub: query_service_pb2_grpc.QueryServiceStub) -> grpc.Future:
    """Starts a live stream and returns once the server has admitted it (its caught-up marker arrived)."""
    call = stub.StreamEvents(pb.StreamEventsRequest(), timeout=120)
    assert next(call).WhichOneof("kind") == "caught_up"
    return call


def refusal(stub: query_service_pb2_grpc.QueryServiceStub) -> grpc.RpcError:
    call = stub.StreamEvents(pb.StreamEventsRequest(), timeout=30)
    with pytest.raises(grpc.RpcError) as raised:
        next(call)
    return raised.value


def still_answers(query: QueryServer) -> None:
    assert [u.name for u in query.stub.ListUsers(pb.ListUsersRequest(), timeout=10).users] == ["Ada Lovelace"]


def test_streams_past_the_per_connection_cap_are_resource_exhausted_and_others_are_served(projection) -> None:
    with query_server(projection.database, max_streams_per_connection=3) as query:
        greedy = [open_stream(query.stub) for _ in range(3)]
        error = refusal(query.stub)
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "connection" in error.details()
        with new_connection(query.address) as other:
            polite = open_stream(query_service_pb2_grpc.QueryServiceStub(other))
            polite.cancel()
        still_answers(query)
        greedy[0].cancel()

        # The place is given back when the call ends (on the server's loop): a new stream gets it.
        def admitted() -> bool:
            try:
                greedy[0] = open_stream(query.stub)
                return True
            except grpc.RpcError as exc:
                assert exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                return False

        wait_until(admitted, timeout=30, message="a freed place is admitted")
        for call in greedy:
            call.cancel()


def test_streams_past_the_per_process_cap_are_resource_exhausted_whoever_asks(projection) -> None:
    with query_server(projection.database, max_streams=4) as query:
        channels = [new_connection(query.address) for _ in range(5)]
        try:
            calls = [open_stream(query_service_pb2_grpc.QueryServiceStub(c)) for c in channels[:4]]
            error = refusal(query_service_pb2_grpc.QueryServiceStub(channels[4]))
            assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "streams" in error.details()
            still_answers(query)
            for call in calls:
                call.cancel()
        finally:
            for channel in channels:
                channel.close()


def test_a_one_day_deadline_does_not_hold_a_min_position_wait_past_the_servers_bound(projection) -> None:
    with query_server(projection.database, max_wait=0.5) as query:
        request = pb.GetUserRequest(id=str(uuid.uuid4()), min_position=projection.position + 10)
        pending = query.stub.GetUser.future(request, timeout=ONE_DAY)
        with pytest.raises(grpc.RpcError) as raised:
            pending.result(timeout=60)  # answered by the server, not by the test giving up
        assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert "was not applied within 0.5s" in raised.value.details()
        assert query.hub.waiting == 0
        still_answers(query)
