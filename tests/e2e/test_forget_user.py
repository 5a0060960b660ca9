"""ForgetUser against the three services as processes: afterwards no name of the user is anywhere.

Searched: the event store's rows (raw SQL), the key table, the read model, the read side's event
log, StreamEvents from position 0, the read model after a rebuild, and a pg_dump of both databases.
A user that is not forgotten is searched for the same way, to show that the search finds names
where they are (the read model) and that the event store holds none in clear.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator

import grpc
import pytest

from devtools.pgcluster import Cluster
from eventkit import db
from eventkit.config import Database
from tests.support.command import key_store_of
from tests.support.processes import ROOT
from tests.support.stack import Stack, Watcher, run_cli, running_stack
from tests.support.waiting import wait_until
from users.v1 import command_service_pb2 as cmd
from users.v1 import command_service_pb2_grpc, query_service_pb2_grpc, resources_pb2
from users.v1 import query_service_pb2 as qry


@pytest.fixture(scope="module")
def stack(cluster: Cluster) -> Iterator[Stack]:
    with running_stack(cluster) as running:
        yield running


@pytest.fixture(scope="module")
def stubs(
    stack: Stack,
) -> Iterator[tuple[command_service_pb2_grpc.CommandServiceStub, query_service_pb2_grpc.QueryServiceStub]]:
    assert stack.command is not None and stack.query is not None
    with (
        grpc.insecure_channel(stack.command.address) as commands,
        grpc.insecure_channel(stack.query.address) as queries,
    ):
        yield command_service_pb2_grpc.CommandServiceStub(commands), query_service_pb2_grpc.QueryServiceStub(queries)


def names(tag: str) -> list[str]:
    # Distinctive, with spaces (which base64 never holds), so that a hit can only be the name itself.
    return [f"Zelda Quixote {tag}", f"Zelda Q. Marlowe {tag}", f"Zed Marlowe-Quixote {tag}"]


def stream_of(queries: query_service_pb2_grpc.QueryServiceStub, user_id: str) -> list[resources_pb2.Event]:
    """Replays the user's events from position 0 until the stream says it caught up."""
    events: list[resources_pb2.Event] = []
    call = queries.StreamEvents(qry.StreamEventsRequest(after_position=0, user_id=user_id), timeout=30)
    for message in call:
        if message.HasField("event"):
            events.append(message.event)
        elif message.HasField("caught_up"):
            break
    call.cancel()
    return events


def rows_as_text(database: Database, query: str, *params: object) -> str:
    with db.connect(database) as conn:
        return "\n".join(str(row) for row in conn.execute(query, list(params)))


def pg_dump(cluster: Cluster, database: Database) -> str:
    done = subprocess.run(
        [str(cluster.bindir / "pg_dump"), "--no-owner", "-d", database.dsn],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout


def rebuild(stack: Stack) -> None:
    env = dict(os.environ, **stack.env(), PYTHONPATH=str(ROOT), LOG_FORMAT="text")
    done = subprocess.run(
        [sys.executable, "-m", "projector_service", "rebuild"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


def everywhere(cluster: Cluster, stack: Stack, user_id: str) -> dict[str, str]:
    """Returns the text of every place a name could live, by place."""
    return {
        "event store rows": rows_as_text(
            stack.event_store, "SELECT e::text FROM events e WHERE stream_id = %s", user_id
        ),
        "key table": rows_as_text(key_store_of(stack.event_store), "SELECT k::text FROM user_keys k"),
        "read model users": rows_as_text(stack.read_model, "SELECT u::text FROM users u"),
        "read-side log": rows_as_text(stack.read_model, "SELECT l::text FROM event_log l"),
        "event store dump": pg_dump(cluster, stack.event_store),
        "read model dump": pg_dump(cluster, stack.read_model),
    }


def test_after_forget_user_no_name_it_ever_had_is_anywhere(cluster: Cluster, stack: Stack, stubs) -> None:
    commands, queries = stubs
    tag = uuid.uuid4().hex[:8]
    first, second, third = names(tag)
    kept = f"Kept Person {tag}"
    user_id = commands.AddUser(cmd.AddUserRequest(name=first)).user.id
    commands.EditUser(cmd.EditUserRequest(id=user_id, name=second))
    commands.EditUser(cmd.EditUserRequest(id=user_id, name=third, expected_version=2))
    kept_position = commands.AddUser(cmd.AddUserRequest(name=kept)).position
    forgot = commands.ForgetUser(cmd.ForgetUserRequest(id=user_id))
    assert (forgot.id, forgot.version) == (user_id, 4) and forgot.position > kept_position

    with pytest.raises(grpc.RpcError) as gone:
        queries.GetUser(qry.GetUserRequest(id=user_id, min_position=forgot.position), timeout=30)
    assert gone.value.code() == grpc.StatusCode.NOT_FOUND

    def assert_no_name_anywhere() -> None:
        places = everywhere(cluster, stack, user_id)
        for place, text in places.items():
            for name in (first, second, third):
                assert name not in text, f"{name!r} found in the {place}"
        # The search finds a name where one is: the kept user's is in the read model, in clear
        # nowhere in the event store (sealed there).
        assert kept in places["read model users"] and kept in places["read model dump"]
        assert kept not in places["event store dump"]
        assert user_id in places["event store rows"]  # the envelope stays: only the name went
        events = stream_of(queries, user_id)
        assert [(e.type, e.version, e.name, e.forgotten) for e in events] == [
            (resources_pb2.EVENT_TYPE_USER_ADDED, 1, "", True),
            (resources_pb2.EVENT_TYPE_USER_EDITED, 2, "", True),
            (resources_pb2.EVENT_TYPE_USER_EDITED, 3, "", True),
            (resources_pb2.EVENT_TYPE_USER_FORGOTTEN, 4, "", True),
        ]

    assert_no_name_anywhere()
    rebuild(stack)
    assert_no_name_anywhere()
    with pytest.raises(grpc.RpcError) as still_gone:
        queries.GetUser(qry.GetUserRequest(id=user_id), timeout=30)
    assert still_gone.value.code() == grpc.StatusCode.NOT_FOUND


def test_a_stream_that_is_live_when_a_user_is_forgotten_gets_the_forgotten_event(stack: Stack, stubs) -> None:
    commands, queries = stubs
    added = commands.AddUser(cmd.AddUserRequest(name=f"Live Watcher {uuid.uuid4().hex[:8]}"))
    user_id = added.user.id
    # From the add's position: whatever the timing, the forget is relayed (replayed or live).
    call = queries.StreamEvents(qry.StreamEventsRequest(after_position=added.position, user_id=user_id), timeout=60)
    forgot = commands.ForgetUser(cmd.ForgetUserRequest(id=user_id))
    seen: list[resources_pb2.Event] = []
    for message in call:
        if message.HasField("event"):
            seen.append(message.event)
            break
    call.cancel()
    assert [(e.type, e.position, e.name, e.forgotten) for e in seen] == [
        (resources_pb2.EVENT_TYPE_USER_FORGOTTEN, forgot.position, "", True)
    ]
    wait_until(lambda: stream_of(queries, user_id)[0].forgotten, 30, message="the UserAdded row blanked")


def test_the_cli_forgets_a_user_and_says_so_again_and_not_found_for_an_unknown_id(stack: Stack, stubs) -> None:
    commands, _ = stubs
    user_id = commands.AddUser(cmd.AddUserRequest(name=f"Cli Clara {uuid.uuid4().hex[:8]}")).user.id
    first = run_cli("forget", "--id", user_id, env=stack.client_env())
    assert first.code == 0 and first.err == ""
    assert first.out.startswith(f"forgot user {user_id}: its names are erased (version 2, position ")
    again = run_cli("forget", "--id", user_id, "--json", env=stack.client_env())
    assert again.code == 0 and (again.json()["id"], again.json()["version"]) == (user_id, 2)
    missing = str(uuid.uuid4())
    unknown = run_cli("forget", "--id", missing, env=stack.client_env())
    assert unknown.code == 3 and missing in unknown.err


def test_users_watch_shows_a_forgotten_users_events_without_names(stack: Stack, stubs) -> None:
    commands, _ = stubs
    name = f"Watched Wanda {uuid.uuid4().hex[:8]}"
    added = commands.AddUser(cmd.AddUserRequest(name=name))
    forgot = commands.ForgetUser(cmd.ForgetUserRequest(id=added.user.id))
    watcher = Watcher("watch", "--after", str(added.position - 1), "--user", added.user.id, env=stack.client_env())
    try:
        wait_until(
            lambda: any("UserForgotten" in line for line in watcher.lines()), 30, message="the forget in the watch"
        )
    finally:
        watcher.interrupt()
        watcher.kill()
    lines = [line for line in watcher.lines() if added.user.id in line]
    assert len(lines) == 2 and all(line.endswith("(forgotten)") for line in lines), lines
    assert f" {forgot.position}  UserForgotten" in lines[1]
    assert not any(name in line for line in watcher.lines())
