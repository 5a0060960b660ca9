"""`users`: the command-line client's entry point; every failure ends as one line on stderr and an exit code."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import replace

from eventkit.version import version
from users_client import commands, errors, messages, parser
from users_client.client import UsersClient, new_request_id
from users_client.transport import Security, security_from_env

WRITES = ("add", "edit", "delete", "forget")


def _fail(line: str, code: int) -> int:
    print(f"error: {line}", file=sys.stderr, flush=True)
    return code


def _security(args: argparse.Namespace) -> Security:
    return replace(
        security_from_env(),
        tls=args.tls,
        ca_file=args.ca_file,
        cert_file=args.cert_file,
        key_file=args.key_file,
        server_name=args.server_name,
        token_file=args.token_file,
    )


def _run(args: argparse.Namespace) -> int:
    if args.command in WRITES and not args.request_id:
        # Chosen here rather than in the client so that a failure message can name it: the user
        # can then retry with the very same id, and a command that did land is not applied twice.
        args.request_id = new_request_id()
    context = messages.Context(
        user_id=getattr(args, "id", "") or "",
        request_id=getattr(args, "request_id", "") or "",
        is_command=args.command in WRITES,
        min_position=getattr(args, "min_position", 0) or 0,
    )
    try:
        with UsersClient(args.command_addr, args.query_addr, timeout=args.timeout, security=_security(args)) as client:
            commands.RUNNERS[args.command](client, args, sys.stdout)
    except errors.UsersError as error:
        return _fail(*messages.describe(error, context))
    except KeyboardInterrupt:
        if args.command == "watch":
            return messages.OK  # Ctrl-C is how a watch is meant to end
        return _fail(messages.interrupted(context), messages.INTERRUPTED)
    return messages.OK


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line `argv` (default: sys.argv[1:]) and returns the exit code."""
    cli = parser.build()
    args = cli.parse_args(parser.seed_form(sys.argv[1:] if argv is None else argv))
    if args.version or args.command == "version":
        print(f"users {version()}")
        return messages.OK
    if args.command == "help":
        cli.print_help()
        return messages.OK
    if args.command is None:
        return _fail("a command is required (see `users --help`)", messages.USAGE)
    try:
        return _run(args)
    except BrokenPipeError:
        # The reader went away (`users watch | head`): that ends the output, it is no failure.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return messages.OK
    except Exception as exc:
        return _fail(f"unexpected {type(exc).__name__}: {exc} (please report this)", messages.FAILURE)
