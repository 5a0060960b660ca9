"""The `users` CLI as a subprocess against a running command service: output, --json, the seed's flags, errors."""

from __future__ import annotations

import re
import socket
import tomllib
import uuid
from collections.abc import Iterator

import pytest

from devtools.pgcluster import Cluster, free_port
from tests.support.processes import ROOT
from tests.support.stack import Result, Stack, run_cli, running_stack

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


@pytest.fixture(scope="module")
def stack(cluster: Cluster) -> Iterator[Stack]:
    with running_stack(cluster, which=("command",)) as running:
        yield running


def users(stack: Stack, *args: str) -> Result:
    return run_cli(*args, env=stack.client_env())


def added_id(stack: Stack, name: str) -> str:
    result = users(stack, "add", "--name", name, "--quiet")
    assert result.code == 0, result.err
    return result.out.strip()


def test_add_prints_the_new_user_with_its_version_and_position(stack) -> None:
    result = users(stack, "add", "--name", "Ada Lovelace")
    assert result.code == 0 and result.err == ""
    assert re.fullmatch(rf'added user {UUID} "Ada Lovelace" \(version 1, position \d+\)\n', result.out)


def test_add_with_json_prints_the_user_and_the_position_of_its_event(stack) -> None:
    result = users(stack, "add", "--name", "Grace Hopper", "--json")
    body = result.json()
    assert result.code == 0
    assert set(body) == {"user", "position"} and body["position"] > 0
    assert body["user"]["name"] == "Grace Hopper" and body["user"]["version"] == 1
    assert re.fullmatch(UUID, body["user"]["id"])
    assert body["user"]["create_time"].endswith("Z") and body["user"]["update_time"] == body["user"]["create_time"]


def test_add_quiet_prints_only_the_id(stack) -> None:
    result = users(stack, "add", "--name", "Quiet", "--quiet")
    assert result.code == 0 and re.fullmatch(rf"{UUID}\n", result.out)


def test_edit_and_delete_print_what_they_did_in_text_and_in_json(stack) -> None:
    user_id = added_id(stack, "Before")
    edited = users(stack, "edit", "--id", user_id, "--name", "After", "--expected-version", "1")
    assert edited.code == 0
    assert re.fullmatch(rf'edited user {user_id} "After" \(version 2, position \d+\)\n', edited.out)
    as_json = users(stack, "--json", "edit", "--id", user_id, "--name", "Again")
    assert as_json.json()["user"] == {**as_json.json()["user"], "id": user_id, "name": "Again", "version": 3}
    deleted = users(stack, "delete", "--id", user_id, "--expected-version", "3", "--json")
    assert deleted.code == 0
    assert deleted.json()["id"] == user_id and deleted.json()["version"] == 4 and deleted.json()["position"] > 0


def test_the_seeds_sample_cmd_flags_add_edit_and_delete(stack) -> None:
    added = users(stack, "-e", "add", "-n", "Seed User")
    assert added.code == 0, added.err
    user_id = re.search(UUID, added.out).group(0)
    edited = users(stack, "-e", "edit", "-id", user_id, "-n", "Seed Renamed")
    assert edited.code == 0 and f'edited user {user_id} "Seed Renamed" (version 2' in edited.out
    long_form = users(stack, "--eventname", "edit", "--id", user_id, "--username", "Long Form")
    assert long_form.code == 0 and '"Long Form" (version 3' in long_form.out
    deleted = users(stack, "-e", "delete", "-id", user_id)
    assert deleted.code == 0 and deleted.out.startswith(f"deleted user {user_id} (version 4")


def test_a_retry_with_the_same_request_id_answers_the_original_and_applies_nothing(stack) -> None:
    request_id = str(uuid.uuid4())
    first = users(stack, "add", "--name", "Once", "--request-id", request_id, "--json").json()
    again = users(stack, "add", "--name", "Once", "--request-id", request_id, "--json").json()
    assert again == first


def test_an_unknown_user_is_one_line_with_exit_code_3(stack) -> None:
    missing = str(uuid.uuid4())
    result = users(stack, "edit", "--id", missing, "--name", "Nobody")
    assert (result.code, result.out) == (3, "")
    assert result.err == f"error: user {missing} not found (see `users list`)\n"


def test_a_stale_expected_version_is_a_version_conflict_with_exit_code_4(stack) -> None:
    user_id = added_id(stack, "Contended")
    assert users(stack, "edit", "--id", user_id, "--name", "First", "--expected-version", "1").code == 0
    result = users(stack, "edit", "--id", user_id, "--name", "Second", "--expected-version", "1")
    assert result.code == 4
    assert result.err == (
        f"error: version conflict: current version is 2 (check `users get {user_id}`, then retry with --expected-version 2)\n"
    )


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (("add", "--name", "   "), "error: invalid input: name: must not be empty\n"),
        (("edit", "--id", "not-a-uuid", "--name", "x"), "error: invalid input: id: must be a UUID\n"),
        (("add", "--name", "x", "--request-id", "nope"), "error: invalid input: request_id: must be a UUID\n"),
        (("add",), "error: the following arguments are required: --name/-n/--username (see `users add --help`)\n"),
        (
            ("delete", "--id", "x", "--expected-version", "-1"),
            "error: argument --expected-version: must be 0 or more, got -1 (see `users delete --help`)\n",
        ),
        (("frobnicate",), None),
    ],
)
def test_bad_input_is_one_line_with_exit_code_2(stack, args, line) -> None:
    result = users(stack, *args)
    assert result.code == 2 and result.out == ""
    assert result.err.count("\n") == 1 and result.err.startswith("error: ")
    if line is not None:
        assert result.err == line


def test_a_request_id_reused_for_another_request_is_exit_code_6(stack) -> None:
    request_id = str(uuid.uuid4())
    assert users(stack, "add", "--name", "One", "--request-id", request_id).code == 0
    result = users(stack, "add", "--name", "Another", "--request-id", request_id)
    assert result.code == 6
    assert (
        result.err
        == f"error: request id {request_id} was already used for a different request; use a new --request-id\n"
    )


def test_an_unreachable_service_names_its_address_with_exit_code_5() -> None:
    address = f"127.0.0.1:{free_port()}"
    result = run_cli("add", "--name", "x", "--command-addr", address, env={})
    assert (result.code, result.out) == (5, "")
    assert result.err == f"error: cannot reach the command service at {address} — is `make run` running?\n"


def test_a_service_that_never_answers_is_a_deadline_with_exit_code_7() -> None:
    with socket.socket() as silent:  # accepts TCP connections (the backlog does) and never speaks HTTP/2
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        address = f"127.0.0.1:{silent.getsockname()[1]}"
        request_id = str(uuid.uuid4())
        result = run_cli(
            "add", "--name", "x", "--request-id", request_id, "--timeout", "1", "--command-addr", address, env={}
        )
    assert result.code == 7
    assert re.fullmatch(
        rf"error: the command service at {address} did not answer in time \(.+\); "
        rf"it is safe to retry with --request-id {request_id}\n",
        result.err,
    )


def test_version_and_help_show_the_project_version_examples_and_exit_codes() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert run_cli("--version", env={}).out == f"users {project['version']}\n"
    assert run_cli("version", env={}).out == f"users {project['version']}\n"
    shown = run_cli("--help", env={})
    assert shown.code == 0
    for text in (
        "examples:",
        'users -e add -n "Ada Lovelace"',
        "USERS_COMMAND_ADDR",
        "exit codes:",
        "3  user not found",
    ):
        assert text in shown.out
    assert "examples:" in run_cli("watch", "--help", env={}).out
