"""StreamEvents' after_position against the event store's head: beyond it is OUT_OF_RANGE, behind it (unprojected) is served."""

from __future__ import annotations

import uuid

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from eventkit import db
from tests.support.projector import insert_events, status
from tests.support.system import System, start_system
from tests.support.waiting import wait_until
from users.v1 import command_service_pb2 as cpb
from users.v1 import command_service_pb2_grpc, query_service_pb2_grpc
from users.v1 import query_service_pb2 as pb


@pytest.fixture
def system(services, event_store, read_model) -> System:
    return start_system(services, event_store, read_model)


def error_info(error: grpc.RpcError) -> error_details_pb2.ErrorInfo:
    info = error_details_pb2.ErrorInfo()
    status_ = rpc_status.from_call(error)
    assert status_ is not None and status_.details[0].Unpack(info)
    return info


def test_a_stream_after_the_store_head_is_out_of_range_but_one_after_an_unprojected_write_is_served(system) -> None:
    command = command_service_pb2_grpc.CommandServiceStub(grpc.insecure_channel(system.command.address))
    query = query_service_pb2_grpc.QueryServiceStub(grpc.insecure_channel(system.query.address))
    # A malformed event, written out of band, stalls the projector: it stays alive (and keeps reading
    # the store's head) while the read model stays behind every later write.
    with db.connect(system.event_store, autocommit=True) as conn:
        (bad,) = insert_events(conn, [(str(uuid.uuid4()), 1, "UserAdded", {})])
    wait_until(
        lambda: status(system.event_store, system.read_model)["stalled_position"] == bad,
        60,
        message="the projector stalled on the malformed event",
    )
    written = command.AddUser(cpb.AddUserRequest(name="Stored, not projected"), timeout=30).position
    assert written > bad

    # Beyond the read model's head, not beyond the store's: the stream is served and waits.
    stream = query.StreamEvents(pb.StreamEventsRequest(after_position=written), timeout=60)
    first = next(stream)
    assert first.WhichOneof("kind") == "caught_up" and first.caught_up.position == written
    stream.cancel()

    beyond = written + 1000
    with pytest.raises(grpc.RpcError) as refused:
        next(iter(query.StreamEvents(pb.StreamEventsRequest(after_position=beyond), timeout=60)))
    assert refused.value.code() == grpc.StatusCode.OUT_OF_RANGE
    info = error_info(refused.value)
    assert info.reason == "POSITION_BEYOND_HEAD"
    assert (info.metadata["after_position"], info.metadata["store_head"]) == (str(beyond), str(written))
    assert f"beyond the event store's head ({written})" in refused.value.details()
