"""Decides a batch of concurrent commands in arrival order against the streams they touch (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC

from command_service import domain
from eventkit.codec import RecordedEvent
from eventkit.correlation import METADATA_KEY
from eventkit.errors import DomainError, RequestIdReused

_REUSED = "request_id was already used for a different request"


@dataclass(frozen=True)
class Target:
    """The (stream, version) whose event answers a command: a new one, or the original of a retry."""

    stream_id: str
    version: int
    replayed: bool = False  # a retry answered from the store: nothing new appended


@dataclass
class Plan:
    """What one batch does: the events to append, and for each command its target or its error."""

    appends: list[tuple[domain.NewEvent, dict[str, object]]] = field(default_factory=list)
    answers: list[Target | DomainError] = field(default_factory=list)


def _user_id(command: domain.Command) -> str | None:
    return getattr(command, "user_id", None)


def plan(
    commands: list[domain.Command],
    history: dict[str, list[RecordedEvent]],
    earlier_requests: dict[str, RecordedEvent],
    correlation_ids: list[str | None] | None = None,
) -> Plan:
    """Plans `commands` in order; `history` holds the touched streams, `earlier_requests` events by request id.

    Each new event's metadata keeps its command's correlation id (`correlation_ids`, in command order).

    A command decided earlier in the batch is visible to later ones: two edits of one user at the
    same expected version in one batch give one success and one conflict, as they would apart.
    """
    result = Plan()
    states: dict[str, domain.UserState | None] = {}

    def state_of(stream: str) -> domain.UserState | None:
        # Folded on first use, so an unreadable stream fails only the commands that touch it.
        if stream not in states:
            states[stream] = domain.load(stream, history.get(stream, []))
        return states[stream]

    pending: dict[str, tuple[str, Target]] = {
        request_id: (str(event.metadata.get("fingerprint", "")), Target(event.stream_id, event.version, True))
        for request_id, event in earlier_requests.items()
    }
    correlations = correlation_ids or [None] * len(commands)
    for command, correlation_id in zip(commands, correlations):
        print_ = domain.fingerprint(command)
        if command.request_id and command.request_id in pending:
            seen_print, target = pending[command.request_id]
            result.answers.append(target if seen_print == print_ else RequestIdReused(_REUSED))
            continue
        stream = _user_id(command)
        try:
            event = domain.decide(command, state_of(stream) if stream else None)
        except DomainError as error:
            result.answers.append(error)
            continue
        states[event.stream_id] = domain.evolve(states.get(event.stream_id), _provisional(event))
        metadata: dict[str, object] = {"fingerprint": print_, "command": type(command).__name__}
        if correlation_id:
            metadata[METADATA_KEY] = correlation_id
        if command.request_id:
            metadata["request_id"] = command.request_id
            pending[command.request_id] = (print_, Target(event.stream_id, event.version, True))
        result.appends.append((event, metadata))
        result.answers.append(Target(event.stream_id, event.version))
    return result


def _provisional(event: domain.NewEvent) -> RecordedEvent:
    # Times do not matter for deciding; the stored record time replaces this once appended.
    from datetime import datetime

    return RecordedEvent(0, event.stream_id, event.version, event.type, event.data, datetime.now(UTC))
