"""StreamEvents against a real read model: replay then live, filters, heartbeats, slow and leaving subscribers."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import grpc
import psycopg
import pytest

from tests.support.query import QueryServer, query_server
from tests.support.read_model import DELETED, EDITED, TinyProjection
from tests.support.waiting import wait_until
from users.v1 import query_service_pb2 as pb


@pytest.fixture
def projection(read_model) -> Iterator[TinyProjection]:
    tiny = TinyProjection(read_model)
    yield tiny
    tiny.close()


def stream(query: QueryServer, after: int | None = None, types: list[int] = (), user_id: str = "") -> grpc.Future:
    request = pb.StreamEventsRequest(event_types=list(types), user_id=user_id)
    if after is not None:
        request.after_position = after
    return query.stub.StreamEvents(request, timeout=120)


def read_until(call, position: int) -> tuple[list[int], list[pb.StreamEventsResponse]]:
    """Reads until an event, marker or heartbeat reaches `position`; returns event positions and all messages."""
    events, seen = [], []
    for message in call:
        seen.append(message)
        kind = message.WhichOneof("kind")
        reached = getattr(message, kind).position
        if kind == "event":
            events.append(reached)
        if reached >= position:
            return events, seen
    raise AssertionError(f"the stream ended before {position}: {seen[-3:]}")


def batch(projection: TinyProjection, users: list[str], size: int) -> int:
    """Applies `size` renames spread over `users` in one transaction; returns the checkpoint."""
    return projection.apply([(EDITED, users[i % len(users)], f"name {i}") for i in range(size)])


def test_a_stream_without_after_position_starts_live_at_the_head_with_a_caught_up_marker(projection) -> None:
    user, before = projection.add("before")
    with query_server(projection.database) as query:
        call = stream(query)
        first = next(call)
        assert first.WhichOneof("kind") == "caught_up" and first.caught_up.position == before
        last = projection.edit(user, "after")
        events, _ = read_until(call, last)
        call.cancel()
    assert events == [last]


def test_a_replay_switches_to_live_with_no_gap_and_no_duplicate_while_events_keep_coming(projection) -> None:
    users = [projection.add(f"user {i}")[0] for i in range(20)]
    start = projection.position
    for _ in range(10):
        batch(projection, users, 100)
    with query_server(projection.database, buffer=64) as query:
        call = stream(query, after=start)
        first = next(call).event.position  # the replay has begun
        switched, writing = threading.Event(), {"until the switch": False}

        def write() -> None:
            # Events keep coming until the stream has switched to live (however long a loaded
            # machine makes the replay), then five batches more.
            for _ in range(400):
                batch(projection, users, 50)
                if switched.is_set():
                    writing["until the switch"] = True
                    break
            for _ in range(5):
                batch(projection, users, 50)

        writer = threading.Thread(target=write)
        writer.start()
        events, seen = [], []
        for message in call:
            seen.append(message)
            if message.WhichOneof("kind") == "event":
                events.append(message.event.position)
            if message.WhichOneof("kind") == "caught_up":
                switched.set()
                break
        writer.join()
        live, rest = read_until(call, projection.position)
        call.cancel()
    assert writing["until the switch"], "the replay never met the head while 20,000 events were written"
    assert [first] + events + live == list(range(start + 1, projection.position + 1))
    assert sum(m.WhichOneof("kind") == "caught_up" for m in seen + rest) == 1
    assert len(live) >= 5 * 50  # delivered live, after the switch


def caught_up(call) -> list[int]:
    """Reads up to the caught-up marker; returns the positions of the events replayed before it."""
    events = []
    for message in call:
        if message.WhichOneof("kind") == "caught_up":
            return events
        events.append(message.event.position)
    raise AssertionError("the stream ended before catching up")


def test_filters_select_by_type_and_user_on_the_server_and_sparse_subscribers_get_heartbeats(projection) -> None:
    alice, _ = projection.add("alice")
    bob, _ = projection.add("bob")
    with query_server(projection.database, heartbeat=0.2) as query:
        calls = [
            stream(query, after=0, types=[DELETED]),
            stream(query, after=0, user_id=alice),
            stream(query, after=0, types=[EDITED], user_id=bob),
        ]
        replayed = [caught_up(call) for call in calls]
        edits = [projection.edit(alice, "alicia"), projection.edit(bob, "robert")]
        gone = projection.delete(alice)
        last = projection.skip(3)  # positions the projection passed over: only a heartbeat can cover them
        results = [read_until(call, last) for call in calls]
        for call in calls:
            call.cancel()
    assert replayed == [[], [1], []]
    assert results[0][0] == [gone]
    assert results[1][0] == [edits[0], gone]
    assert results[2][0] == [edits[1]]
    assert results[2][1][-1].WhichOneof("kind") == "heartbeat" and results[2][1][-1].heartbeat.position == last


@pytest.mark.parametrize(
    "request_fields",
    [
        {"event_types": [0]},
        {"event_types": [7]},
        {"user_id": "nope"},
        {"after_position": -1},
    ],
)
def test_a_malformed_stream_request_is_invalid_argument(projection, request_fields) -> None:
    with query_server(projection.database) as query, pytest.raises(grpc.RpcError) as raised:
        next(query.stub.StreamEvents(pb.StreamEventsRequest(**request_fields), timeout=30))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_a_slow_subscriber_falls_back_to_the_event_log_and_misses_nothing_while_others_stay_live(projection) -> None:
    users = [projection.add(f"user {i}")[0] for i in range(10)]
    with query_server(projection.database, buffer=8) as query:
        slow, fast = stream(query, after=0), stream(query, after=0)
        assert next(slow).WhichOneof("kind") == "event"  # the slow one reads one message, then stalls
        for _ in range(50):
            batch(projection, users, 100)  # beyond the buffer of 8 and what HTTP/2 flow control holds
        fast_events, _ = read_until(fast, projection.position)  # not held back by the stalled one
        assert query.hub.overflows >= 1
        slow_events, _ = read_until(slow, projection.position)
        slow.cancel()
        fast.cancel()
    assert fast_events == list(range(1, projection.position + 1))
    assert [1] + slow_events == list(range(1, projection.position + 1))


def test_a_cancelled_stream_frees_its_subscriber_at_once(projection) -> None:
    projection.add("someone")
    with query_server(projection.database) as query:
        calls = [stream(query, after=0) for _ in range(5)]
        for call in calls:
            next(call)
        wait_until(lambda: query.hub.subscribers == 5, timeout=30)
        for call in calls[:3]:
            call.cancel()
        wait_until(lambda: query.hub.subscribers == 2, timeout=30, message="3 cancelled subscribers detached")
        for call in calls[3:]:
            call.cancel()
        wait_until(lambda: query.hub.subscribers == 0, timeout=30)


def test_on_shutdown_open_streams_end_with_unavailable(projection) -> None:
    projection.add("someone")
    with query_server(projection.database) as query:
        calls = [stream(query), stream(query, after=0)]
        for call in calls:
            next(call)
        query.shutdown()
        codes = []
        for call in calls:
            with pytest.raises(grpc.RpcError) as raised:
                for _ in call:
                    pass
            codes.append(raised.value.code())
    assert codes == [grpc.StatusCode.UNAVAILABLE] * 2


def test_a_live_stream_misses_nothing_when_the_service_loses_its_database_connections(projection, cluster) -> None:
    users = [projection.add(f"user {i}")[0] for i in range(5)]
    # A poll interval beyond the test: what the cut hides from LISTEN is found by the re-read after reconnecting.
    with query_server(projection.database, poll_interval=600) as query:
        call = stream(query, after=0)
        assert caught_up(call) == list(range(1, 6))
        with psycopg.connect(cluster.dsn(), autocommit=True) as admin:
            cut = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = %s AND pid <> %s",
                [projection.conn.info.dbname, projection.conn.info.backend_pid],
            ).fetchone()[0]
        assert cut >= 1
        for _ in range(5):
            batch(projection, users, 20)
        events, _ = read_until(call, projection.position)
        call.cancel()
        wait_until(
            lambda: query.hub.ready and query.stub.GetUser(pb.GetUserRequest(id=users[0]), timeout=10), timeout=30
        )
    assert events == list(range(6, projection.position + 1))
