"""The query service as its own process beside the real command service and projector."""

from __future__ import annotations

import random
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

from tests.support.projector import projector_command
from tests.support.system import GRPCURL, System, start_system, store_events
from tests.support.waiting import wait_until
from users.v1 import command_service_pb2 as cpb
from users.v1 import command_service_pb2_grpc, query_service_pb2_grpc
from users.v1 import query_service_pb2 as pb


@pytest.fixture
def system(services, event_store, read_model) -> System:
    return start_system(services, event_store, read_model)


def stubs(system: System):
    command = command_service_pb2_grpc.CommandServiceStub(grpc.insecure_channel(system.command.address))
    query = query_service_pb2_grpc.QueryServiceStub(grpc.insecure_channel(system.query.address))
    return command, query


def test_paging_through_2500_users_returns_each_exactly_once_in_order_and_refuses_tampered_tokens(system) -> None:
    command, query = stubs(system)
    rng = random.Random(4)
    names = [
        rng.choice(["ann", "Ann", "BOB", "bob", "Carla", "dan", "Émile", "zoe"]) + f" {rng.randrange(300)}"
        for _ in range(2500)
    ]
    with ThreadPoolExecutor(16) as pool:
        added = list(pool.map(lambda n: command.AddUser(cpb.AddUserRequest(name=n), timeout=60), names))
    newest = max(a.position for a in added)

    listed, token, pages = [], "", 0
    while True:
        page = query.ListUsers(pb.ListUsersRequest(page_size=100, page_token=token, min_position=newest), timeout=60)
        listed += [(u.name, u.id) for u in page.users]
        pages, token = pages + 1, page.next_page_token
        if not token:
            break

    expected = sorted(((a.user.name, a.user.id) for a in added), key=lambda item: (item[0].lower().encode(), item[1]))
    assert listed == expected and pages == 25
    second = query.ListUsers(pb.ListUsersRequest(page_size=100), timeout=60).next_page_token
    for bad in (second[:-1] + ("A" if second[-1] != "A" else "B"), "x" + second, second.replace(".", "")):
        with pytest.raises(grpc.RpcError) as raised:
            query.ListUsers(pb.ListUsersRequest(page_size=100, page_token=bad), timeout=60)
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_add_user_then_get_user_with_its_position_never_misses_over_500_tries(system) -> None:
    command, query = stubs(system)
    misses = []
    for attempt in range(500):
        added = command.AddUser(cpb.AddUserRequest(name=f"reader {attempt}"), timeout=30)
        try:
            got = query.GetUser(pb.GetUserRequest(id=added.user.id, min_position=added.position), timeout=30).user
            assert (got.id, got.name, got.version) == (added.user.id, added.user.name, 1)
        except grpc.RpcError as error:
            misses.append((attempt, error.code()))
    assert misses == []


def test_a_subscriber_resuming_from_its_last_position_after_disconnects_loses_nothing(system, services) -> None:
    command, query = stubs(system)
    stop = threading.Event()

    def write() -> None:
        while not stop.is_set():
            command.AddUser(cpb.AddUserRequest(name="steady"), timeout=30)

    writer = threading.Thread(target=write)
    writer.start()
    # First disconnect: the client goes away mid-stream.
    received = take(query, after=0, count=100)
    # Second: the query service stops under the stream (which ends cleanly) and another takes over.
    call = query.StreamEvents(pb.StreamEventsRequest(after_position=received[-1]), timeout=120)
    with pytest.raises(grpc.RpcError) as ended:
        for message in call:
            if message.HasField("event"):
                received.append(message.event.position)
                if len(received) == 200:
                    assert system.query.terminate(timeout=30) == 0
    assert ended.value.code() == grpc.StatusCode.UNAVAILABLE
    replacement = services("query_service", system.query_env, port=system.query.port).wait_serving(60)
    _, query = stubs(system)
    received += take(query, after=received[-1], count=100)
    stop.set()
    writer.join()
    assert replacement.terminate(timeout=30) == 0
    assert received == [event.position for event in store_events(system.event_store)][: len(received)]
    assert len(received) >= 300


def take(query, after: int, count: int) -> list[int]:
    """Streams from `after` until `count` events arrived, then disconnects."""
    call = query.StreamEvents(pb.StreamEventsRequest(after_position=after), timeout=120)
    positions = []
    for message in call:
        if message.HasField("event"):
            positions.append(message.event.position)
            if len(positions) == count:
                break
    call.cancel()
    return positions


def grpcurl(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([GRPCURL, "-plaintext", *args], capture_output=True, text=True, timeout=timeout)


def test_grpcurl_lists_describes_reads_and_follows_a_stream_of_the_running_services(system) -> None:
    address = system.query.address
    listed = grpcurl(address, "list")
    assert listed.returncode == 0 and "users.v1.QueryService" in listed.stdout.split(), listed
    for method in ("GetUser", "ListUsers", "StreamEvents"):
        described = grpcurl(address, "describe", f"users.v1.QueryService.{method}")
        assert described.returncode == 0 and f"rpc {method}" in described.stdout, described

    stream = subprocess.Popen(
        [
            GRPCURL,
            "-plaintext",
            "-max-time",
            "60",
            "-d",
            '{"after_position": 0}',
            address,
            "users.v1.QueryService/StreamEvents",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(stream.stdout.readline, "")))
    reader.start()
    wait_until(
        lambda: any('"caughtUp"' in line or '"caught_up"' in line for line in lines),
        timeout=60,
        message="grpcurl caught up",
    )
    added = grpcurl("-d", '{"name": "Grace Hopper"}', system.command.address, "users.v1.CommandService/AddUser")
    assert added.returncode == 0, added
    wait_until(
        lambda: any("Grace Hopper" in line for line in lines), timeout=60, message="the new event in grpcurl's stream"
    )
    stream.terminate()
    reader.join(timeout=30)

    user_id = next(line.split('"')[3] for line in added.stdout.splitlines() if '"id"' in line)
    got = grpcurl("-d", f'{{"id": "{user_id}"}}', address, "users.v1.QueryService/GetUser")
    assert got.returncode == 0 and "Grace Hopper" in got.stdout, got


def test_reads_and_a_live_stream_keep_working_through_a_projector_rebuild(system) -> None:
    command, query = stubs(system)
    with ThreadPoolExecutor(8) as pool:
        added = list(
            pool.map(lambda i: command.AddUser(cpb.AddUserRequest(name=f"before {i}"), timeout=60), range(300))
        )
    call = query.StreamEvents(pb.StreamEventsRequest(after_position=0), timeout=120)
    streamed: list[int] = []
    failures: list[grpc.StatusCode] = []
    rebuilding = threading.Event()

    def read() -> None:
        while not rebuilding.is_set():
            for a in added[:20]:
                try:
                    query.GetUser(pb.GetUserRequest(id=a.user.id, min_position=a.position), timeout=30)
                except grpc.RpcError as error:
                    failures.append(error.code())

    reader = threading.Thread(target=read)
    reader.start()
    done = projector_command(system.event_store, system.read_model, "rebuild")
    rebuilding.set()
    reader.join()
    assert done.returncode == 0, done.stderr
    after = command.AddUser(cpb.AddUserRequest(name="after the rebuild"), timeout=30)
    assert (
        query.GetUser(pb.GetUserRequest(id=after.user.id, min_position=after.position), timeout=30).user.name
        == "after the rebuild"
    )
    for message in call:
        if message.HasField("event"):
            streamed.append(message.event.position)
            if message.event.position == after.position:
                break
    call.cancel()
    assert failures == []
    assert streamed == list(range(1, after.position + 1))


def test_a_read_waiting_for_its_position_is_deadline_exceeded_while_the_projector_idles_and_unavailable_once_it_is_gone(
    services, event_store, read_model
) -> None:
    system = start_system(services, event_store, read_model, PROJECTOR_STALE_AFTER_SECONDS="2")
    command, query = stubs(system)
    added = command.AddUser(cpb.AddUserRequest(name="first"), timeout=30)
    # Longer than the stale threshold with no event to apply: only the idle projector's heartbeat
    # tells the query service that it is alive.
    beyond = pb.GetUserRequest(id=added.user.id, min_position=added.position + 1000)
    with pytest.raises(grpc.RpcError) as idle:
        query.GetUser(beyond, timeout=4)
    assert idle.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED

    system.projector.kill()
    unapplied = command.AddUser(cpb.AddUserRequest(name="never projected"), timeout=30)
    with pytest.raises(grpc.RpcError) as gone:
        query.GetUser(pb.GetUserRequest(id=unapplied.user.id, min_position=unapplied.position), timeout=4)
    assert gone.value.code() == grpc.StatusCode.UNAVAILABLE
