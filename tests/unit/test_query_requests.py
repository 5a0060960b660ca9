"""Query request checks and the stream subscriber's bounded buffer, without I/O."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest

from eventkit.errors import InvalidArgument
from eventkit.rows import LogRow
from query_service import messages, requests
from query_service.hub import Published
from query_service.stream import Subscriber
from users.v1 import query_service_pb2 as pb


@pytest.mark.parametrize(("asked", "served"), [(0, 50), (1, 1), (1000, 1000), (1001, 1000), (2**31 - 1, 1000)])
def test_page_size_zero_means_fifty_and_large_sizes_are_capped(asked: int, served: int) -> None:
    assert requests.page_size(asked) == served


def test_a_negative_page_size_is_invalid() -> None:
    with pytest.raises(InvalidArgument, match="page_size"):
        requests.page_size(-1)


def test_a_stream_filter_accepts_only_the_chosen_types_and_user() -> None:
    user = str(uuid.uuid4())
    wanted = requests.stream_filter([2, 3], user.upper())
    assert wanted.accepts(2, user) and wanted.accepts(3, user)
    assert not wanted.accepts(1, user) and not wanted.accepts(2, str(uuid.uuid4()))
    assert requests.stream_filter([], "").accepts(1, user)


@pytest.mark.parametrize(("types", "user"), [([0], ""), ([5], ""), ([1, -1], ""), ([], "nope")])
def test_unknown_event_types_and_malformed_user_ids_are_invalid(types: list[int], user: str) -> None:
    with pytest.raises(InvalidArgument):
        requests.stream_filter(types, user)


def events(*positions: int, user: str = "u") -> list[Published]:
    return [Published(p, 1, user, f"message {p}".encode()) for p in positions]


def test_a_subscriber_buffers_only_what_its_filter_selects() -> None:
    subscriber = Subscriber(requests.Filter(None, "u"), capacity=2)
    assert subscriber.offer(events(1, 2, user="other") + events(3))
    assert [e.position for e in subscriber.pending] == [3]


def test_a_full_buffer_refuses_the_rest_and_marks_the_subscriber_lagging() -> None:
    subscriber = Subscriber(requests.Filter(None, None), capacity=3)
    assert not subscriber.offer(events(1, 2, 3, 4, 5))
    assert subscriber.lagging and [e.position for e in subscriber.pending] == [1, 2, 3]


@pytest.mark.parametrize(
    ("size", "seconds", "nanos", "served"),
    [
        (0, 0, 0, requests.Batching(1, 0.0)),
        (1, 0, 500_000_000, requests.Batching(1, 0.0)),  # one event per message: nothing to wait for
        (50, 0, 20_000_000, requests.Batching(50, 0.02)),
        (5000, 7, 0, requests.Batching(requests.MAX_BATCH_SIZE, requests.MAX_BATCH_DELAY_SECONDS)),
    ],
)
def test_batching_defaults_to_one_event_per_message_and_caps_size_and_delay(
    size: int, seconds: int, nanos: int, served: requests.Batching
) -> None:
    assert requests.batching(size, seconds, nanos) == served


@pytest.mark.parametrize(
    ("size", "seconds", "nanos", "field"), [(-1, 0, 0, "max_batch_size"), (5, 0, -1, "max_batch_delay")]
)
def test_a_negative_batch_size_or_delay_is_invalid(size: int, seconds: int, nanos: int, field: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        requests.batching(size, seconds, nanos)
    assert raised.value.field == field


def test_a_batch_message_is_the_encoded_events_joined_under_the_batch_field() -> None:
    rows = [LogRow(p, 2, str(uuid.uuid4()), p, "é" * 100 * p, datetime(2026, 1, 1, tzinfo=UTC)) for p in range(1, 4)]
    expected = pb.StreamEventsResponse(batch=pb.EventBatch(events=[messages.event(row).event for row in rows]))
    assert messages.batch([messages.encoded(row) for row in rows]) == expected.SerializeToString()
    assert (
        pb.StreamEventsResponse.FromString(messages.batch([messages.encoded(rows[0])])).batch.events[0].name
        == rows[0].name
    )


def test_a_waiting_stream_wakes_on_a_matching_offer_or_close_and_otherwise_at_its_timeout() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        subscriber = Subscriber(requests.Filter(None, "u"), capacity=10)

        async def started_waiting() -> asyncio.Task[None]:
            task = asyncio.create_task(subscriber.wait_more(60))
            await asyncio.sleep(0)  # a yield to the loop, so that the task is waiting
            return task

        waiting = await started_waiting()
        subscriber.offer(events(1, user="other"))  # filtered out: nothing more for this stream
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert not waiting.done()
        subscriber.offer(events(2))
        await asyncio.wait_for(waiting, 10)  # woken, not at its 60 s timeout

        # An offer made before the wait does not end it: the stream waits for more than it has.
        subscriber.offer(events(3))
        waiting = await started_waiting()
        await asyncio.sleep(0)
        assert not waiting.done()
        subscriber.close()
        await asyncio.wait_for(waiting, 10)

        started = loop.time()
        await subscriber.wait_more(0.05)
        assert loop.time() - started >= 0.05

    asyncio.run(scenario())
