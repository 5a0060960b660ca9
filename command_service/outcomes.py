"""What a queued command is, what it gets back, and how its outcome is counted and logged."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from typing import NamedTuple

from command_service import batch, domain, metrics
from eventkit.codec import RecordedEvent
from eventkit.errors import DomainError

log = logging.getLogger("command_service.appender")


@dataclass(frozen=True)
class Outcome:
    """What an accepted command left: the user's state and the position of the answering event."""

    state: domain.UserState
    position: int
    replayed: bool = False  # answered from the store: an earlier call with its request id appended it


class Pending(NamedTuple):
    """A queued command, the future that answers it, and the correlation id of its call."""

    command: domain.Command
    future: Future[Outcome]
    correlation_id: str | None = None


def answer(
    answer: batch.Target | DomainError,
    appended: Mapping[tuple[str, int], tuple[domain.UserState, int]],
    replays: Mapping[str, list[RecordedEvent]],
) -> Outcome | DomainError:
    """Returns a command's answer once its batch committed: the user's state at its event, or its error.

    `appended` holds the state after each (stream, version) the batch appended; a retry answered
    by an earlier event is folded from `replays`, its user's (opened) history.
    """
    if isinstance(answer, DomainError):
        return answer
    found = appended.get((answer.stream_id, answer.version))
    if found is not None:
        return Outcome(found[0], found[1], answer.replayed)
    events = [event for event in replays[answer.stream_id] if event.version <= answer.version]
    try:
        state = domain.load(answer.stream_id, events)
    except DomainError as error:  # the batch has committed: only this answer is affected
        return error
    assert state is not None
    return Outcome(state, events[-1].position, answer.replayed)


def record(item: Pending, answer: Outcome | BaseException) -> None:
    """Counts a command's outcome and logs it at DEBUG, with its correlation id and position."""
    command = type(item.command).__name__
    if isinstance(answer, Outcome):
        outcome = "replayed" if answer.replayed else "ok"
    else:
        outcome = answer.reason if isinstance(answer, DomainError) else "error"
    metrics.COMMANDS.labels(command, outcome).inc()
    if log.isEnabledFor(logging.DEBUG):
        position = answer.position if isinstance(answer, Outcome) else None
        log.debug(
            "%s %s",
            command,
            outcome,
            extra={"correlation_id": item.correlation_id, "position": position, "command": command, "outcome": outcome},
        )
