"""The `users` command line: the seed's SampleCmd form, options on either side of the command, one-line usage errors."""

from __future__ import annotations

import tomllib

import pytest

from tests.support.processes import ROOT
from users_client import cli, parser

ID = "3f2b9c1e-8d4a-4c6b-9e0f-1a2b3c4d5e6f"


def parse(*argv: str):  # type: ignore[no-untyped-def]
    return parser.build().parse_args(parser.seed_form(argv))


@pytest.mark.parametrize(
    ("seed", "modern"),
    [
        (["-e", "add", "-n", "Ada"], ["add", "-n", "Ada"]),
        (["--eventname", "edit", "-id", ID, "-n", "Ada"], ["edit", "-id", ID, "-n", "Ada"]),
        (["--eventname=delete", "--id", ID], ["delete", "--id", ID]),
        (["-n", "Ada", "-e", "ADD"], ["add", "-n", "Ada"]),
        (["--json", "-e", "add", "-n", "Ada"], ["add", "--json", "-n", "Ada"]),
        (["add", "--name", "-e"], ["add", "--name", "-e"]),
    ],
)
def test_the_seed_form_becomes_the_command_it_names(seed, modern) -> None:
    assert parser.seed_form(seed) == modern


def test_the_seeds_short_flags_are_aliases_of_the_long_ones() -> None:
    seed = parse("-e", "edit", "-id", ID, "-n", "Ada")
    modern = parse("edit", "--id", ID, "--name", "Ada")
    assert vars(seed) == vars(modern)
    assert parse("-e", "add", "--username", "Ada").name == "Ada"


def test_common_options_work_before_and_after_the_command() -> None:
    before = parse("--json", "--timeout", "3", "--command-addr", "h:1", "add", "--name", "x")
    after = parse("add", "--name", "x", "--json", "--timeout", "3", "--command-addr", "h:1")
    assert vars(before) == vars(after)
    assert (after.json, after.timeout, after.command_addr) == (True, 3.0, "h:1")


def test_options_given_before_the_command_are_not_reset_by_its_defaults() -> None:
    args = parse("--json", "--query-addr", "q:9", "list")
    assert args.json is True and args.query_addr == "q:9"


def test_addresses_default_to_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("USERS_COMMAND_ADDR", "cmd.example:7")
    monkeypatch.delenv("USERS_QUERY_ADDR", raising=False)
    args = parse("list")
    assert (args.command_addr, args.query_addr) == ("cmd.example:7", "localhost:50052")


def test_watch_types_accept_short_and_catalogue_names() -> None:
    args = parse("watch", "--type", "added", "--type", "UserDeleted", "--type", "EDITED")
    assert args.type == ["UserAdded", "UserDeleted", "UserEdited"] and args.after is None


@pytest.mark.parametrize(
    "argv",
    [
        ["add"],
        ["edit", "--id", ID],
        ["get"],
        ["list", "--page-size", "-3"],
        ["watch", "--type", "renamed"],
        ["--timeout", "0", "list"],
        ["nope"],
    ],
)
def test_usage_errors_are_one_line_on_stderr_with_exit_code_2(argv, capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(argv)
    captured = capsys.readouterr()
    assert exited.value.code == 2 and captured.out == ""
    assert captured.err.startswith("error: ") and captured.err.count("\n") == 1


def test_no_command_is_a_usage_error(capsys) -> None:
    assert cli.main([]) == 2
    assert capsys.readouterr().err == "error: a command is required (see `users --help`)\n"


def test_the_console_script_is_the_clis_main() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, function = scripts["users"].partition(":")
    assert (module, function) == ("users_client.cli", "main") and callable(getattr(cli, function))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["edit", "--id", ID, "--name", "x", "--expected-version", "abc"],
            "error: argument --expected-version: expected a whole number (0, 1, 2 ...), got 'abc'"
            " (see `users edit --help`)\n",
        ),
        (["get", ID, "--min-position", "-1"], "error: argument --min-position: must be 0 or more, got -1"),
        (["--timeout", "soon", "list"], "error: argument --timeout: expected a number of seconds, got 'soon'"),
        (["--timeout", "nan", "list"], "error: argument --timeout: must be more than 0, got nan"),
    ],
)
def test_a_malformed_number_says_what_is_expected(argv, message, capsys) -> None:
    with pytest.raises(SystemExit):
        cli.main(argv)
    err = capsys.readouterr().err
    assert err.startswith(message) and "_non_negative" not in err and "_positive_float" not in err


def test_watch_types_are_named_one_way_in_the_help_and_in_the_error(capsys) -> None:
    with pytest.raises(SystemExit):
        cli.main(["watch", "--type", "renamed"])
    assert "unknown event type 'renamed' (choose from added, edited, deleted, forgotten)" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["watch", "--help"])
    assert "only events of this type: added, edited, deleted, forgotten (repeatable)" in " ".join(
        capsys.readouterr().out.split()
    )
