"""The answers a command gets when its batch cannot be appended, and setting a future's answer once."""

from __future__ import annotations

from concurrent.futures import Future, InvalidStateError
from typing import Any

from eventkit.errors import ShuttingDown, Unavailable

_RETRY = "retry with the same request_id"


def timed_out() -> Unavailable:
    """A lock or statement timeout, or a stopping server's cancel: the transaction was rolled back."""
    return Unavailable(f"the event store did not answer in time; nothing was applied; {_RETRY}")


def unreachable() -> Unavailable:
    """The connection broke: a commit cut off mid-way may or may not have happened."""
    return Unavailable(f"the event store is unreachable; {_RETRY}")


def refused() -> ShuttingDown:
    """The server stopped before the command was sent to the database."""
    return ShuttingDown(f"the server is shutting down; nothing was applied; {_RETRY}")


def outcome_unknown() -> ShuttingDown:
    """The server stopped while the database did not answer, not even to the cancel."""
    return ShuttingDown(
        f"the server stopped while the event store did not answer; the command may or may not have been applied: {_RETRY}"
    )


def resolve(future: Future[Any], answer: Any) -> None:
    """Sets `answer` (a result, or an exception to raise) unless the future has its answer already."""
    # A stopping server may answer a batch's futures itself (Appender.abandon); the first answer stands.
    try:
        if isinstance(answer, BaseException):
            future.set_exception(answer)
        else:
            future.set_result(answer)
    except InvalidStateError:
        pass
