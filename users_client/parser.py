"""The `users` command line: its commands, options, help text, and the seed's SampleCmd form."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import NoReturn

from users_client import messages, models
from users_client.client import DEFAULT_COMMAND_ADDR, DEFAULT_QUERY_ADDR, DEFAULT_TIMEOUT, addresses_from_env
from users_client.transport import security_from_env

COMMANDS = ("add", "edit", "delete", "forget", "get", "list", "watch", "help", "version")
EXAMPLE_ID = "3f2b9c1e-8d4a-4c6b-9e0f-1a2b3c4d5e6f"

EPILOG = f"""examples:
  users add --name "Ada Lovelace"
  users edit --id {EXAMPLE_ID} --name "Ada King" --expected-version 1
  users delete --id {EXAMPLE_ID}
  users get {EXAMPLE_ID} --min-position 42
  users list --prefix ad --all
  users watch --after 0 --type added
  users -e add -n "Ada Lovelace"      the seed's SampleCmd form (also -e edit -id ID -n NAME, -e delete -id ID)
  users --json list                   JSON for scripts, on every command

environment:
  USERS_COMMAND_ADDR  default of --command-addr ({DEFAULT_COMMAND_ADDR})
  USERS_QUERY_ADDR    default of --query-addr ({DEFAULT_QUERY_ADDR})
  USERS_TLS, USERS_TLS_CA_FILE, USERS_TLS_CERT_FILE, USERS_TLS_KEY_FILE, USERS_TLS_SERVER_NAME
                      defaults of --tls, --ca-file, --cert-file, --key-file, --server-name
  USERS_TOKEN         bearer token sent with every call (USERS_TOKEN_FILE / --token-file: read from a file)

{messages.EXIT_CODES_HELP}"""


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line on stderr, exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(messages.USAGE, f"error: {message} (see `{self.prog} --help`)\n")


# The CLI names event types one way, by their short names; `UserAdded` and the like are accepted too,
# since that is how `watch` prints them.
TYPE_CHOICES = ", ".join(name.lower().removeprefix("user") for name in models.EVENT_TYPES)


def _positive_float(raw: str) -> float:
    # argparse would report a ValueError as "invalid _positive_float value": say what is wanted instead.
    try:
        value = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {raw!r}") from None
    if not value > 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be more than 0, got {raw}")
    return value


def _non_negative(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number (0, 1, 2 ...), got {raw!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {raw}")
    return value


def _event_type(raw: str) -> str:
    try:
        return models.EVENT_TYPE_NAMES[models.event_type_number(raw)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"unknown event type {raw!r} (choose from {TYPE_CHOICES})") from None


def _common_options(parser: argparse.ArgumentParser, suppress: bool) -> None:
    # The same options are accepted before and after the command; after it, an option left out
    # must not overwrite the value given before it, hence SUPPRESS.
    command_addr, query_addr = addresses_from_env()

    def default(value: object) -> object:
        return argparse.SUPPRESS if suppress else value

    parser.add_argument(
        "--json", action="store_true", default=default(False), help="print JSON (one object a line) for scripts"
    )
    parser.add_argument(
        "--command-addr",
        default=default(command_addr),
        metavar="HOST:PORT",
        help=f"the command service (default: $USERS_COMMAND_ADDR, else {DEFAULT_COMMAND_ADDR})",
    )
    parser.add_argument(
        "--query-addr",
        default=default(query_addr),
        metavar="HOST:PORT",
        help=f"the query service (default: $USERS_QUERY_ADDR, else {DEFAULT_QUERY_ADDR})",
    )
    parser.add_argument(
        "--timeout",
        type=_positive_float,
        default=default(DEFAULT_TIMEOUT),
        metavar="SECONDS",
        help=f"deadline of each call, retries included (default: {DEFAULT_TIMEOUT:g})",
    )
    _security_options(parser, default)


def _security_options(parser: argparse.ArgumentParser, default: Callable[[object], object]) -> None:
    security = security_from_env()
    parser.add_argument(
        "--tls", action="store_true", default=default(security.tls), help="use TLS (implied by the file options)"
    )
    for flag, value, meaning in (
        ("--ca-file", security.ca_file, "CA certificate(s) that signed the services' certificates (PEM)"),
        ("--cert-file", security.cert_file, "client certificate for mTLS (PEM)"),
        ("--key-file", security.key_file, "client certificate's private key (PEM)"),
        ("--server-name", security.server_name, "name expected in the services' certificates (default: the host)"),
        ("--token-file", security.token_file, "file holding the bearer token (default: $USERS_TOKEN)"),
    ):
        parser.add_argument(flag, default=default(value), metavar="PATH" if "file" in flag else "NAME", help=meaning)


def _writes(sub: argparse.ArgumentParser, *, needs_id: bool, needs_name: bool, versioned: bool = True) -> None:
    if needs_id:
        sub.add_argument("--id", "-id", required=True, help="the user's id (a UUID)")
    if needs_name:
        sub.add_argument("--name", "-n", "--username", required=True, help="the user's name (1 to 200 characters)")
    if needs_id and versioned:
        sub.add_argument(
            "--expected-version",
            type=_non_negative,
            default=0,
            metavar="N",
            help="fail with a version conflict unless the user is at version N (default: any)",
        )
    sub.add_argument(
        "--request-id",
        metavar="UUID",
        help="makes retries safe: a repeat with the same id is answered, not applied again (default: a new one)",
    )


def build() -> Parser:
    """Returns the parser of the whole command line."""
    parser = Parser(
        prog="users",
        description="Add, edit, delete, query and watch users of the users.v1 service.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    _common_options(parser, suppress=False)
    common = Parser(add_help=False)
    _common_options(common, suppress=True)
    subs = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    def sub(name: str, summary: str, examples: str) -> argparse.ArgumentParser:
        return subs.add_parser(
            name,
            help=summary,
            description=summary,
            parents=[common],
            allow_abbrev=False,
            epilog=f"examples:\n  {examples}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    add = sub("add", "add a user", 'users add --name "Ada Lovelace"\n  ID=$(users add --name "Ada" --quiet)')
    _writes(add, needs_id=False, needs_name=True)
    add.add_argument("-q", "--quiet", action="store_true", help="print only the new user's id")
    _writes(
        sub("edit", "rename a user", f'users edit --id {EXAMPLE_ID} --name "Ada King" --expected-version 1'),
        needs_id=True,
        needs_name=True,
    )
    _writes(
        sub("delete", "delete a user", f"users delete --id {EXAMPLE_ID} --expected-version 2"),
        needs_id=True,
        needs_name=False,
    )
    _writes(
        sub(
            "forget",
            "forget a user for good: every name it had becomes unreadable (deleted users too; cannot be undone)",
            f"users forget --id {EXAMPLE_ID}",
        ),
        needs_id=True,
        needs_name=False,
        versioned=False,
    )
    get = sub("get", "show one user", f"users get {EXAMPLE_ID}\n  users get {EXAMPLE_ID} --min-position 42")
    get.add_argument("id", metavar="ID", help="the user's id (a UUID)")
    get.add_argument(
        "--min-position",
        type=_non_negative,
        default=0,
        metavar="P",
        help="wait (within --timeout) until the read model has applied position P: read your own write",
    )
    lst = sub(
        "list", "list users as a table, ordered by name", "users list\n  users list --prefix ad --page-size 20 --all"
    )
    lst.add_argument("--prefix", default="", help="only names starting with this (case-insensitive)")
    lst.add_argument("--page-size", type=_non_negative, default=0, metavar="N", help="users per page (default: 50)")
    lst.add_argument("--page-token", default="", metavar="TOKEN", help="the page after the one that printed this token")
    lst.add_argument("--all", action="store_true", help="fetch every page")
    lst.add_argument(
        "--min-position",
        type=_non_negative,
        default=0,
        metavar="P",
        help="wait (within --timeout) until the read model has applied position P",
    )
    watch = sub(
        "watch",
        "print events live until Ctrl-C",
        f"users watch --after 0\n  users watch --type added --type deleted --user {EXAMPLE_ID}",
    )
    watch.add_argument(
        "--after",
        type=_non_negative,
        default=None,
        metavar="P",
        help="replay every event after position P first (default: only new events)",
    )
    watch.add_argument(
        "--type",
        action="append",
        type=_event_type,
        metavar="T",
        help=f"only events of this type: {TYPE_CHOICES} (repeatable)",
    )
    watch.add_argument("--user", default="", metavar="ID", help="only events of this user")
    sub("help", "show this help", "users help")
    sub("version", "print the version", "users version")
    return parser


def seed_form(argv: Sequence[str]) -> list[str]:
    """Rewrites the seed's `-e|--eventname ACTION` into the command ACTION; other arguments stay as they are.

    `users -n NAME -e add` becomes `users add -n NAME` (the seed took its flags in any order): the
    commands accept the seed's -n/--username and -id/--id as aliases, so nothing else is rewritten.
    """
    args = list(argv)
    for index, arg in enumerate(args):
        if arg in COMMANDS:
            return args
        if arg in ("-e", "--eventname") and index + 1 < len(args):
            return [args[index + 1].lower()] + args[:index] + args[index + 2 :]
        if arg.startswith("--eventname="):
            return [arg.split("=", 1)[1].lower()] + args[:index] + args[index + 1 :]
    return args
