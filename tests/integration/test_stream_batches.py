"""StreamEvents with several events per message, and every event encoded once per process however many listen."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration

from eventkit.rows import LogRow
from query_service import messages
from tests.support.query import QueryServer, query_server
from tests.support.read_model import EDITED, TinyProjection
from tests.support.waiting import wait_until
from users.v1 import query_service_pb2 as pb

METHOD = "/users.v1.QueryService/StreamEvents"


@pytest.fixture
def projection(read_model) -> Iterator[TinyProjection]:
    tiny = TinyProjection(read_model)
    yield tiny
    tiny.close()


def batched(query: QueryServer, size: int, after: int | None = None, delay: float = 0.0) -> grpc.Future:
    request = pb.StreamEventsRequest(max_batch_size=size)
    if after is not None:
        request.after_position = after
    if delay:
        request.max_batch_delay.CopyFrom(Duration(nanos=int(delay * 1e9)))
    return query.stub.StreamEvents(request, timeout=120)


def events_until(call, position: int) -> tuple[list[int], list[int]]:
    """Reads batches until one reaches `position`; returns the event positions and each batch's size."""
    events: list[int] = []
    sizes: list[int] = []
    for message in call:
        kind = message.WhichOneof("kind")
        assert kind != "event", "a batched stream carries its events in batches"
        if kind == "batch":
            sizes.append(len(message.batch.events))
            events += [event.position for event in message.batch.events]
            if events[-1] >= position:
                return events, sizes
    raise AssertionError(f"the stream ended before {position}")


def test_a_batched_stream_replays_then_relays_every_event_once_in_order_in_batches_of_at_most_the_size(
    projection,
) -> None:
    users = [projection.add(f"user {i}")[0] for i in range(10)]
    start = projection.position
    projection.apply([(EDITED, users[i % 10], f"name {i}") for i in range(100)])
    with query_server(projection.database) as query:
        call = batched(query, 7, after=start)
        first = next(call)
        assert [e.position for e in first.batch.events] == list(range(start + 1, start + 8))  # a full replay batch
        target = projection.position + 300
        writer = threading.Thread(
            target=lambda: [projection.apply([(EDITED, users[0], f"live {i}")] * 30) for i in range(10)]
        )
        writer.start()
        events, sizes = events_until(call, target)
        writer.join()
        call.cancel()
    assert list(range(start + 1, start + 8)) + events == list(range(start + 1, target + 1))
    assert max(sizes) <= 7 and min(sizes) >= 1


def test_with_a_batch_delay_a_lone_event_still_arrives_in_a_batch_of_one(projection) -> None:
    user, _ = projection.add("lone")
    with query_server(projection.database) as query:
        call = batched(query, 100, delay=0.2)
        assert next(call).WhichOneof("kind") == "caught_up"
        position = projection.edit(user, "still lone")
        events, sizes = events_until(call, position)
        call.cancel()
    assert (events, sizes) == ([position], [1])


@pytest.mark.parametrize(
    "request_fields",
    [{"max_batch_size": -1}, {"max_batch_size": 5, "max_batch_delay": Duration(seconds=-1)}],
)
def test_a_negative_batch_size_or_delay_is_invalid_argument(projection, request_fields) -> None:
    with query_server(projection.database) as query, pytest.raises(grpc.RpcError) as raised:
        next(query.stub.StreamEvents(pb.StreamEventsRequest(**request_fields), timeout=30))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_every_live_subscriber_receives_the_bytes_encoded_once_per_event(projection, monkeypatch) -> None:
    encoded: list[int] = []
    original = messages.encoded

    def counting(row: LogRow) -> bytes:
        encoded.append(row.position)
        return original(row)

    monkeypatch.setattr(messages, "encoded", counting)
    users = [projection.add(f"user {i}")[0] for i in range(5)]
    with query_server(projection.database) as query:
        channel = grpc.insecure_channel(query.address)
        # Raw bytes on the client too: what each subscriber received, exactly as sent.
        raw = channel.unary_stream(METHOD, request_serializer=pb.StreamEventsRequest.SerializeToString)
        calls = [raw(pb.StreamEventsRequest(), timeout=120) for _ in range(20)]
        for call in calls:
            assert pb.StreamEventsResponse.FromString(next(call)).WhichOneof("kind") == "caught_up"
        wait_until(lambda: query.hub.subscribers == 20, 30, message="20 live subscribers")
        start = projection.position
        last = projection.apply([(EDITED, users[i % 5], f"renamed {i}") for i in range(50)])
        received = [[next(call) for _ in range(50)] for call in calls]
        for call in calls:
            call.cancel()
        channel.close()
    live = [position for position in encoded if position > start]
    assert live == list(range(start + 1, last + 1))  # once per event, not once per event and subscriber
    assert all(messages_ == received[0] for messages_ in received)
    assert [pb.StreamEventsResponse.FromString(m).event.position for m in received[0]] == live
