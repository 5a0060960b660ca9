"""What each CLI command does with the client, and what it prints on stdout."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TextIO

from users_client import models, output
from users_client.client import UsersClient


def _say(text: str, out: TextIO) -> None:
    print(text, file=out, flush=True)


def add(client: UsersClient, args: argparse.Namespace, out: TextIO) -> None:
    """Adds a user and prints it (or only its id with --quiet)."""
    result = client.add_user(args.name, request_id=args.request_id)
    if args.json:
        _say(output.to_json(result), out)
    elif args.quiet:
        _say(result.user.id, out)
    else:
        _say(output.written("added", result), out)


def edit(client: UsersClient, args: argparse.Namespace, out: TextIO) -> None:
    """Renames a user and prints it."""
    result = client.edit_user(args.id, args.name, expected_version=args.expected_version, request_id=args.request_id)
    _say(output.to_json(result) if args.json else output.written("edited", result), out)


def delete(client: UsersClient, args: argparse.Namespace, out: TextIO) -> None:
    """Deletes a user and prints what happened."""
    result = client.delete_user(args.id, expected_version=args.expected_version, request_id=args.request_id)
    _say(output.to_json(result) if args.json else output.deleted(result), out)


def forget(client: UsersClient, args: argparse.Namespace, out: TextIO) -> None:
    """Forgets a user and prints what happened."""
    result = client.forget_user(args.id, request_id=args.request_id)
    _say(output.to_json(result) if args.json else output.forgotten(result), out)


def get(client: UsersClient, args: argparse.Namespace, out: TextIO) -> None:
    """Prints one user."""
    user = client.get_user(args.id, min_position=args.min_position)
    _say(output.to_json(user) if args.json else output.user_details(user), out)


def list_(client: UsersClient, args: argparse.Namespace, out: TextIO) -> None:
    """Prints one page of users (every page with --all) as a table."""
    if args.all:
        everyone = client.iter_users(
            name_prefix=args.prefix,
            page_size=args.page_size,
            page_token=args.page_token,
            min_position=args.min_position,
        )
        page = models.Page(list(everyone), "")
    else:
        page = client.list_users(
            name_prefix=args.prefix,
            page_size=args.page_size,
            page_token=args.page_token,
            min_position=args.min_position,
        )
    if args.json:
        _say(output.to_json(page), out)
        return
    _say(output.users_table(page.users) if page.users else "no users", out)
    if page.next_page_token:
        print(f"more users: add --page-token {page.next_page_token} (or use --all)", file=sys.stderr, flush=True)


def watch(client: UsersClient, args: argparse.Namespace, out: TextIO) -> None:
    """Prints events as they happen until interrupted; a JSON line per message with --json."""
    stream = client.stream_events(after=args.after, types=args.type or (), user_id=args.user)
    for item in stream:
        if args.json:
            _say(output.stream_json(item), out)
        elif isinstance(item, models.Event):
            _say(output.event_line(item), out)
        elif isinstance(item, models.CaughtUp):
            print(
                f"-- caught up at position {item.position}; waiting for new events (Ctrl-C to stop)",
                file=sys.stderr,
                flush=True,
            )


RUNNERS: dict[str, Callable[[UsersClient, argparse.Namespace, TextIO], None]] = {
    "add": add,
    "edit": edit,
    "delete": delete,
    "forget": forget,
    "get": get,
    "list": list_,
    "watch": watch,
}
