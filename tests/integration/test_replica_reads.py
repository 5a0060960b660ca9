"""Reads through real streaming replicas: read-your-writes waits for the replica's replay, streams stay gap-free."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import grpc
import psycopg
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from prometheus_client import REGISTRY
from psycopg_pool import AsyncConnectionPool

from eventkit import db
from query_service import queries, replicas
from query_service.hub import Hub
from query_service.requests import Filter
from query_service.stream import Subscription
from tests.support.query import query_server
from tests.support.read_model import EDITED, TinyProjection
from tests.support.replicas import ReplicaSet, replica_set
from tests.support.waiting import wait_until
from users.v1 import query_service_pb2 as pb

NOT_STALE = {grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNAVAILABLE}


@pytest.fixture(scope="module")
def replicated() -> Iterator[ReplicaSet]:
    """One primary and two hot standbys streaming from it, shared by the tests of this module."""
    with replica_set(replicas=2) as running:
        yield running


@pytest.fixture
def projection(replicated: ReplicaSet) -> Iterator[TinyProjection]:
    """A test's own read model, written on the primary."""
    tiny = TinyProjection(replicated.read_model(replicated.database()))
    yield tiny
    tiny.close()


def _name(projection: TinyProjection) -> str:
    return projection.database.dsn.rsplit("/", 1)[1]


def _error(call) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as raised:
        call()
    return raised.value


def _metadata(error: grpc.RpcError) -> dict[str, str]:
    info = error_details_pb2.ErrorInfo()
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None and status.details[0].Unpack(info)
    return dict(info.metadata)


def _positions(call, upto: int) -> list[int]:
    """Reads a stream until it reports `upto`; returns the positions of its events, in order."""
    events = []
    for message in call:
        kind = message.WhichOneof("kind")
        if kind == "event":
            events.append(message.event.position)
        if getattr(message, kind).position >= upto:
            return events
    raise AssertionError(f"the stream ended before position {upto}")


def test_every_write_is_read_back_through_the_replica_with_its_position(replicated, projection) -> None:
    replica = replicated.replica_read_model(_name(projection), 0)
    with query_server(projection.database, replica=replica) as query:
        for number in range(30):
            user_id, position = projection.add(f"user {number}")
            got = query.stub.GetUser(pb.GetUserRequest(id=user_id, min_position=position), timeout=30)
            assert (got.user.name, got.user.version) == (f"user {number}", 1)
            renamed = projection.edit(user_id, f"renamed {number}")
            listed = query.stub.ListUsers(pb.ListUsersRequest(name_prefix="renamed", min_position=renamed), timeout=30)
            assert f"renamed {number}" in [user.name for user in listed.users]


def test_while_replay_is_paused_a_min_position_read_waits_and_never_answers_stale(replicated, projection) -> None:
    user_id, _ = projection.add("before")
    replica = replicated.replica_read_model(_name(projection), 0)
    with query_server(projection.database, replica=replica) as query:
        wait_until(lambda: query.hub.head >= projection.position, timeout=30, message="the replica caught up")
        with replicated.paused(0):
            edited = projection.edit(user_id, "after")
            newcomer, added = projection.add("newcomer")
            # Committed on the primary (whose NOTIFY reached the hub), not replayed on the replica.
            assert query.stub.GetUser(pb.GetUserRequest(id=user_id), timeout=30).user.name == "before"
            missing = _error(lambda: query.stub.GetUser(pb.GetUserRequest(id=newcomer), timeout=30))
            assert missing.code() == grpc.StatusCode.NOT_FOUND
            assert int(_metadata(missing)["read_position"]) < edited  # the replica's position, not the primary's
            assert query.hub.head < edited

            stale = _error(lambda: query.stub.GetUser(pb.GetUserRequest(id=user_id, min_position=edited), timeout=1))
            assert stale.code() in NOT_STALE
            pending = query.stub.GetUser.future(pb.GetUserRequest(id=user_id, min_position=edited), timeout=60)
            listing = query.stub.ListUsers.future(pb.ListUsersRequest(min_position=added), timeout=60)
            wait_until(lambda: query.hub.waiting == 2, timeout=30, message="both reads waiting for the replica")
            assert not pending.done() and not listing.done()
        assert pending.result().user.name == "after"
        assert sorted(user.name for user in listing.result().users) == ["after", "newcomer"]


def test_streams_through_the_replica_are_gap_free_while_its_replay_pauses_and_resumes(replicated, projection) -> None:
    users = [projection.add(f"user {n}")[0] for n in range(5)]
    replica = replicated.replica_read_model(_name(projection), 0)
    with query_server(projection.database, replica=replica, buffer=16) as query:
        wait_until(lambda: query.hub.head >= projection.position, timeout=30, message="the replica caught up")
        live = query.stub.StreamEvents(pb.StreamEventsRequest(), timeout=120)
        wait_until(lambda: query.hub.subscribers == 1, timeout=30, message="the live stream attached")
        for round_ in range(4):
            with replicated.paused(0):
                for size in (1, 7, 40):  # 40 overflows the live buffer: it falls back to the event log
                    projection.apply([(EDITED, users[i % 5], f"r{round_} {i}") for i in range(size)])
        head = projection.position
        replay = query.stub.StreamEvents(pb.StreamEventsRequest(after_position=0), timeout=120)
        assert _positions(replay, head) == list(range(1, head + 1))
        assert _positions(live, head) == list(range(6, head + 1))


def test_a_connection_to_a_replica_behind_the_hubs_is_never_trusted_for_a_position(replicated, projection) -> None:
    """The hub follows replica 0; reads come from replica 1, paused: they wait, then see the write."""
    name = _name(projection)
    user_id, _ = projection.add("before")
    asyncio.run(_behind_the_hub(replicated, projection, user_id, name))


async def _behind_the_hub(replicated: ReplicaSet, projection: TinyProjection, user_id: str, name: str) -> None:
    hub = Hub(projection.database, "users", 0.2, 15.0, replicated.replica_read_model(name, 0))
    following = asyncio.create_task(hub.run())
    lagging = replicated.replica_read_model(name, 1)
    pool: AsyncConnectionPool = await db.pool_async(lagging, "lagging")
    try:
        await _until(lambda: hub.ready and hub.head >= projection.position)
        with replicated.paused(1):
            edited = await asyncio.to_thread(projection.edit, user_id, "after")
            await _until(lambda: hub.head >= edited)  # the hub's replica has it, the pool's has not
            loop = asyncio.get_running_loop()
            retries_before = _retries()
            read = await replicas.read_at_least(
                pool, edited, loop.time() + 0.5, lambda conn: queries.user_as_of(conn, "users", user_id)
            )
            assert read is None  # not the old row: nothing
            assert _retries() > retries_before  # and the operator can see why reads were slow
            subscription = Subscription(hub, pool, Filter(None, None), 16, 5.0)
            stream = subscription.messages(0)
            first = await stream.__anext__()
            assert pb.StreamEventsResponse.FromString(first).event.position == 1  # events go out encoded once
            second = asyncio.ensure_future(stream.__anext__())
            done, _ = await asyncio.wait([second], timeout=0.5)
            assert not done  # it waits for the lagging replica rather than skip to the hub's head
        read = await replicas.read_at_least(
            pool, edited, loop.time() + 30, lambda conn: queries.user_as_of(conn, "users", user_id)
        )
        assert read is not None and read[0] >= edited and read[1] is not None and read[1].name == "after"
        message = await asyncio.wait_for(second, 30)
        assert pb.StreamEventsResponse.FromString(message).event.position == edited
        await stream.aclose()
    finally:
        hub.close()
        following.cancel()
        await pool.close()


def _retries() -> float:
    return REGISTRY.get_sample_value("users_query_lagging_replica_retries_total") or 0.0


async def _until(condition, timeout: float = 30.0) -> None:
    """Waits on the loop for `condition()` (the hub runs on this loop, so a blocking wait would stall it)."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + timeout
    while not condition():
        assert loop.time() < give_up, "timed out"
        await asyncio.sleep(0.02)


def test_behind_a_balancing_address_reads_pass_over_the_replica_that_lags_and_answer_fresh(
    replicated, projection
) -> None:
    """Both replicas behind one randomly balancing address, as CloudNativePG's -ro service is; one paused."""
    name = _name(projection)
    user_id, _ = projection.add("v0")
    lagging = replicated.replicas[1]
    lagging.stop()  # so the hub's connection can only reach replica 0, which keeps replaying
    with query_server(projection.database, replica=replicated.replica_read_model(name, pool_size=8)) as query:
        lagging.start()
        # Reads without min_position may be stale; the poll below asserts they find the user, so the
        # restarted replica must have replayed the add before its replay is paused.
        replicated.caught_up(1)
        with replicated.paused(1):
            # Concurrent reads grow the pool, whose new connections land on either replica.
            def pool_reaches_the_paused_replica() -> bool:
                calls = [query.stub.GetUser.future(pb.GetUserRequest(id=user_id), timeout=30) for _ in range(32)]
                assert all(call.result().user.id == user_id for call in calls)
                return _sessions(lagging, name) > 0

            wait_until(pool_reaches_the_paused_replica, timeout=60, message="a pooled connection on the paused replica")
            retries_before = _retries()
            for version in range(1, 11):  # the pool hands out its (at most 8) connections in turn
                position = projection.edit(user_id, f"v{version}")
                got = query.stub.GetUser(pb.GetUserRequest(id=user_id, min_position=position), timeout=30)
                assert got.user.name == f"v{version}"
            assert _retries() > retries_before  # the paused replica's connection was met, and passed over
        position = projection.edit(user_id, "resumed")
        for _ in range(10):
            got = query.stub.GetUser(pb.GetUserRequest(id=user_id, min_position=position), timeout=30)
            assert got.user.name == "resumed"


def _sessions(replica, database: str) -> int:
    """How many of the query service's connections a replica holds to `database`."""
    with psycopg.connect(replica.dsn(), autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND application_name = 'users-cqrs'", [database]
        ).fetchone()
    return row[0] if row else 0
