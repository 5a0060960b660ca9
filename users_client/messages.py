"""The CLI's exit codes and its one-line error messages: what failed, and what to do about it."""

from __future__ import annotations

import re
from dataclasses import dataclass

from users_client import errors

OK = 0
FAILURE = 1  # anything not listed below, such as an INTERNAL error in a service
USAGE = 2  # bad command line, or input the service refused (INVALID_ARGUMENT)
NOT_FOUND = 3
VERSION_CONFLICT = 4
UNAVAILABLE = 5  # the service, or its database, cannot be reached
REQUEST_ID_REUSED = 6
DEADLINE_EXCEEDED = 7
INTERRUPTED = 130  # Ctrl-C during a one-shot command (the shell's convention: 128 + SIGINT)

EXIT_CODES_HELP = """exit codes:
  0  success                        4  version conflict (--expected-version is not current)
  1  any other error                5  a service or its database cannot be reached
  2  bad command line or bad input  6  --request-id already used for a different request
  3  user not found                 7  no answer before the deadline (--timeout)"""


@dataclass(frozen=True)
class Context:
    """What the failed command was about, so that its message can name it."""

    user_id: str = ""
    request_id: str = ""
    is_command: bool = False
    min_position: int = 0  # what a read asked to reflect (0: no wait)


def _retry_hint(context: Context) -> str:
    if context.is_command and context.request_id:
        return f"; it is safe to retry with --request-id {context.request_id}"
    return "; retry later"


TLS_HINT = "check --ca-file, and --cert-file/--key-file if it asks for a client certificate (mTLS)"


def _unreachable(message: str, where: str) -> str:
    # gRPC reports every connection failure as UNAVAILABLE; its text tells a TLS mismatch apart.
    if "handshake failed" in message.lower():
        reason = re.search(r"OPENSSL_internal:([A-Z_]+)", message)
        return f"the TLS handshake with {where} failed ({reason.group(1) if reason else 'see --ca-file'}): {TLS_HINT}"
    if "socket closed" in message.lower():
        return f"{where} closed the connection; if it serves TLS, {TLS_HINT}"
    return f"cannot reach {where} — is `make run` running?"


def _unavailable(error: errors.Unavailable, where: str, context: Context) -> str:
    if not error.service_reached:
        return _unreachable(error.message, where)
    # The service answered and said why (its database is down, the projector is not running):
    # its message already tells what to wait for.
    hint = (
        f" (a retry with --request-id {context.request_id} is safe)"
        if context.is_command and context.request_id
        else ""
    )
    return f"{where} is unavailable: {error.message}{hint}"


def _not_found(error: errors.NotFound, context: Context) -> str:
    user_id = error.metadata.get("user_id") or context.user_id
    read_position = error.metadata.get("read_position", "")
    if context.is_command or context.min_position or not read_position:
        return f"user {user_id} not found (see `users list`)"
    # A read without --min-position may simply be early: the read model lags the writes a little.
    return (
        f"user {user_id} not found in the read model as of position {read_position}; if it was written just now,"
        " the projector may not have applied it yet: retry with --min-position POSITION (the position its write"
        " printed), or see `users list`"
    )


def interrupted(context: Context) -> str:
    """Returns the message for Ctrl-C during a one-shot command; only a write can have changed anything."""
    if context.is_command and context.request_id:
        return (
            "interrupted; the command may or may not have been applied: re-run it with"
            f" --request-id {context.request_id} to have it applied exactly once"
        )
    return "interrupted"


def describe(error: errors.UsersError, context: Context = Context()) -> tuple[str, int]:
    """Returns the one-line message and the exit code for `error`."""
    where = f"the {error.service} at {error.address}" if error.service else "the service"
    if isinstance(error, errors.NotFound):
        return _not_found(error, context), NOT_FOUND
    if isinstance(error, errors.VersionConflict):
        current = error.current_version
        if current is None:
            return f"aborted: {error.message}", VERSION_CONFLICT
        return (
            f"version conflict: current version is {current}"
            f" (check `users get {context.user_id}`, then retry with --expected-version {current})",
            VERSION_CONFLICT,
        )
    if isinstance(error, errors.InvalidArgument):
        return f"invalid input: {error.message}", USAGE
    if isinstance(error, errors.OutOfRange):
        head = error.store_head
        if head is None:
            return f"out of range: {error.message}", USAGE
        return (
            f"--after {error.metadata.get('after_position', '?')} is beyond the event store's head ({head}):"
            f" nothing has been written there yet; use --after {head} or less, or leave --after out for new events only",
            USAGE,
        )
    if isinstance(error, errors.RequestIdReused):
        return (
            f"request id {context.request_id} was already used for a different request; use a new --request-id",
            REQUEST_ID_REUSED,
        )
    if isinstance(error, errors.Unavailable):
        return _unavailable(error, where, context), UNAVAILABLE
    if isinstance(error, errors.DeadlineExceeded):
        return f"{where} did not answer in time ({error.message}){_retry_hint(context)}", DEADLINE_EXCEEDED
    code = error.code.name if error.code is not None else "error"
    return f"{where} failed: {code}: {error.message}", FAILURE
