"""The `users` CLI's read commands as a subprocess against the three running services: get, list, watch."""

from __future__ import annotations

import contextlib
import json
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.pgcluster import Cluster, free_port
from tests.support.stack import Result, Stack, Watcher, run_cli, running_stack
from tests.support.waiting import wait_until

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


@pytest.fixture(scope="module")
def stack(cluster: Cluster) -> Iterator[Stack]:
    with running_stack(cluster) as running:
        yield running


def users(stack: Stack, *args: str) -> Result:
    return run_cli(*args, env=stack.client_env())


def add(stack: Stack, name: str) -> tuple[str, int]:
    body = users(stack, "add", "--name", name, "--json").json()
    return body["user"]["id"], body["position"]


def unique_prefix() -> str:
    return f"t{uuid.uuid4().hex[:8]} "


def test_get_reads_its_own_write_and_prints_the_user(stack) -> None:
    user_id, position = add(stack, "Ada Lovelace")
    result = users(stack, "get", user_id, "--min-position", str(position))
    assert result.code == 0 and result.err == ""
    lines = result.out.splitlines()
    assert lines[:3] == [f"id       {user_id}", "name     Ada Lovelace", "version  1"]
    assert re.fullmatch(r"created  \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", lines[3]) and lines[4].startswith("updated  ")
    as_json = users(stack, "get", user_id, "--json").json()
    assert (as_json["id"], as_json["name"], as_json["version"]) == (user_id, "Ada Lovelace", 1)


def test_get_of_an_unknown_user_is_one_line_with_exit_code_3(stack) -> None:
    missing = str(uuid.uuid4())
    result = users(stack, "get", missing, "--min-position", "1")
    assert (result.code, result.out, result.err) == (3, "", f"error: user {missing} not found (see `users list`)\n")
    early = users(stack, "get", missing)
    assert early.code == 3 and early.err.count("\n") == 1
    assert early.err.startswith(f"error: user {missing} not found in the read model as of position ")


def test_list_prints_an_aligned_table_a_page_at_a_time(stack) -> None:
    prefix = unique_prefix()
    added = [add(stack, f"{prefix}{name}") for name in ("carol", "alice", "山田")]
    last = max(position for _, position in added)
    first = users(stack, "list", "--prefix", prefix, "--page-size", "2", "--min-position", str(last))
    assert first.code == 0
    header, *rows = first.out.splitlines()
    assert header.split() == ["ID", "VERSION", "UPDATED", "NAME"]
    assert [row.split("  ")[-1] for row in rows] == [f"{prefix}alice", f"{prefix}carol"]
    assert len({line.index("  1  ") for line in rows}) == 1  # the VERSION column lines up
    token = re.fullmatch(r"more users: add --page-token (\S+) \(or use --all\)\n", first.err).group(1)
    second = users(stack, "list", "--prefix", prefix, "--page-size", "2", "--page-token", token)
    assert second.out.splitlines()[1].endswith(f"{prefix}山田") and second.err == ""
    everyone = users(stack, "list", "--prefix", prefix, "--page-size", "2", "--all")
    assert len(everyone.out.splitlines()) == 4 and everyone.err == ""


def test_list_json_carries_the_users_and_the_next_page_token(stack) -> None:
    prefix = unique_prefix()
    _, position = add(stack, f"{prefix}one")
    add(stack, f"{prefix}two")
    body = users(
        stack, "--json", "list", "--prefix", prefix, "--page-size", "1", "--min-position", str(position)
    ).json()
    assert [u["name"] for u in body["users"]] == [f"{prefix}one"] and body["next_page_token"]
    empty = users(stack, "list", "--prefix", unique_prefix())
    assert (empty.code, empty.out) == (0, "no users\n")


def test_watch_prints_events_live_until_ctrl_c(stack) -> None:
    user_id, _ = add(stack, "Watched")
    watcher = Watcher("watch", "--after", "0", "--user", user_id, env=stack.client_env())
    try:
        wait_until(lambda: len(watcher.lines()) == 1, 60, message="the replayed UserAdded")
        wait_until(lambda: any("caught up" in line for line in watcher.errors()), 60, message="the caught-up notice")
        assert users(stack, "edit", "--id", user_id, "--name", "Watched Live").code == 0
        wait_until(lambda: len(watcher.lines()) == 2, 60, message="the live UserEdited")
        assert watcher.interrupt() == 0
    finally:
        watcher.kill()
    added, edited = [line.split() for line in watcher.lines()]
    assert added[2:] == ["UserAdded", user_id, "v1", '"Watched"']
    assert edited[2:] == ["UserEdited", user_id, "v2", '"Watched', 'Live"'] and int(edited[1]) > int(added[1])
    assert not any("Traceback" in line for line in watcher.errors())


def test_watch_json_filters_by_type_and_marks_the_switch_to_live(stack) -> None:
    user_id, position = add(stack, "Filtered")
    watcher = Watcher(
        "--json", "watch", "--after", str(position - 1), "--type", "deleted", "--user", user_id, env=stack.client_env()
    )
    try:
        wait_until(lambda: any("caught_up" in line for line in watcher.lines()), 60, message="caught_up")
        users(stack, "edit", "--id", user_id, "--name", "Filtered Again")
        users(stack, "delete", "--id", user_id)
        wait_until(lambda: any('"event"' in line for line in watcher.lines()), 60, message="the UserDeleted event")
        watcher.interrupt()
    finally:
        watcher.kill()
    events = [json.loads(line)["event"] for line in watcher.lines() if '"event"' in line]
    assert [(e["type"], e["user_id"], e["version"]) for e in events] == [("UserDeleted", user_id, 3)]


def test_watch_resumes_with_no_gap_and_no_duplicate_when_the_query_service_restarts(stack) -> None:
    user_id, _ = add(stack, "Resumed")
    watcher = Watcher("watch", "--after", "0", "--user", user_id, env=stack.client_env())
    try:
        wait_until(lambda: len(watcher.lines()) == 1, 60, message="the replayed UserAdded")
        stack.restart_query()
        users(stack, "edit", "--id", user_id, "--name", "Resumed Twice")
        wait_until(lambda: len(watcher.lines()) >= 2, 60, message="the UserEdited after the restart")
        users(stack, "edit", "--id", user_id, "--name", "Resumed Thrice")
        wait_until(lambda: len(watcher.lines()) >= 3, 60, message="a live event after the restart")
        assert watcher.interrupt() == 0
    finally:
        watcher.kill()
    assert [line.split()[4] for line in watcher.lines()] == ["v1", "v2", "v3"]


def test_an_unreachable_query_service_names_its_address_with_exit_code_5() -> None:
    address = f"127.0.0.1:{free_port()}"
    result = run_cli("list", "--query-addr", address, env={})
    assert (result.code, result.out) == (5, "")
    assert result.err == f"error: cannot reach the query service at {address} — is `make run` running?\n"


def test_list_all_from_a_page_token_starts_at_that_page(stack) -> None:
    prefix = unique_prefix()
    positions = [add(stack, f"{prefix}{name}")[1] for name in ("a", "b", "c", "d", "e")]
    first = users(stack, "list", "--prefix", prefix, "--page-size", "2", "--min-position", str(max(positions)))
    token = re.fullmatch(r"more users: add --page-token (\S+) \(or use --all\)\n", first.err).group(1)
    rest = users(stack, "--json", "list", "--prefix", prefix, "--page-size", "2", "--page-token", token, "--all")
    assert rest.code == 0
    assert [u["name"] for u in rest.json()["users"]] == [f"{prefix}{name}" for name in ("c", "d", "e")]


def _connected_to(pid: int, port: int) -> bool:
    """Tells whether process `pid` holds an established TCP connection to local `port` (read from /proc)."""
    fd_dir = Path(f"/proc/{pid}/fd")
    inodes = set()
    for fd in fd_dir.iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            remote_port, state, inode = int(fields[2].rsplit(":", 1)[1], 16), fields[3], fields[9]
            if remote_port == port and state == "01" and inode in inodes:  # 01: ESTABLISHED
                return True
    return False


def test_ctrl_c_during_a_read_is_exit_130_and_says_nothing_about_commands(stack) -> None:
    waiting = Watcher(
        "get", str(uuid.uuid4()), "--min-position", "999999999", "--timeout", "120", env=stack.client_env()
    )
    try:
        assert stack.query is not None
        wait_until(lambda: _connected_to(waiting.process.pid, stack.query.port), 60, message="the read to be sent")
        assert waiting.interrupt() == 130
    finally:
        waiting.kill()
    assert waiting.errors() == ["error: interrupted"] and waiting.lines() == []


def test_get_of_a_user_the_projector_has_not_applied_suggests_min_position(stack) -> None:
    assert stack.projector is not None
    stack.projector.terminate()
    try:
        user_id, position = add(stack, "Not Yet Projected")
        result = users(stack, "get", user_id)
        assert result.code == 3 and result.out == ""
        assert result.err.startswith(f"error: user {user_id} not found in the read model as of position ")
        assert "the projector may not have applied it yet: retry with --min-position" in result.err
    finally:
        stack.start_projector()
    assert users(stack, "get", user_id, "--min-position", str(position)).code == 0


def test_watch_after_a_position_beyond_the_store_head_is_refused_with_exit_code_2(stack) -> None:
    _, head = add(stack, "Head Marker")
    beyond = head + 99_999
    result = users(stack, "watch", "--after", str(beyond), "--timeout", "30")
    assert (result.code, result.out) == (2, "")
    found = re.fullmatch(
        rf"error: --after {beyond} is beyond the event store's head \((\d+)\): nothing has been written there yet;"
        r" use --after \1 or less, or leave --after out for new events only\n",
        result.err,
    )
    assert found is not None and head <= int(found.group(1)) < beyond, result.err
