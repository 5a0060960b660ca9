"""Decides a batch of concurrent commands in arrival order against the streams they touch (pure)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from command_service import domain
from eventkit import codec
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
    """What one batch does: the events to append, the keys to create and destroy, each command's target or error."""

    appends: list[tuple[domain.NewEvent, dict[str, object]]] = field(default_factory=list)
    answers: list[Target | DomainError] = field(default_factory=list)
    new_keys: dict[str, bytes] = field(default_factory=dict)
    # The state of every user the batch decided on, as its new events leave it (times provisional).
    states: dict[str, domain.UserState | None] = field(default_factory=dict)
    # Users whose keys go (forgotten now, or again: a retry also finishes a key left behind).
    forget: set[str] = field(default_factory=set)


def _user_id(command: domain.Command) -> str | None:
    return getattr(command, "user_id", None)


def plan(
    commands: list[domain.Command],
    current: Mapping[str, domain.UserState | DomainError | None],
    earlier_requests: dict[str, RecordedEvent],
    correlation_ids: list[str | None] | None = None,
    keys: dict[str, bytes] | None = None,
    new_key: Callable[[], bytes] | None = None,
) -> Plan:
    """Plans `commands` in order; `current` holds the touched users' states, `earlier_requests` events by request id.

    A user's state in `current` may be the error its history raised when folded (see fold_all):
    only the commands that touch that user fail with it.

    Each new event's metadata keeps its command's correlation id (`correlation_ids`, in command order).

    A command decided earlier in the batch is visible to later ones: two edits of one user at the
    same expected version in one batch give one success and one conflict, as they would apart.
    With `new_key` (encryption on), every stream that gets a named event has a key in `keys` or
    `new_keys`, and fingerprints of named commands are keyed with it (see domain.fingerprint).
    """
    result = Plan()
    states = result.states
    known_keys = dict(keys or {})

    def state_of(stream: str) -> domain.UserState | None:
        if stream not in states:
            found = current.get(stream)
            if isinstance(found, DomainError):
                raise found
            states[stream] = found
        return states[stream]

    def print_of(command: domain.Command, stream: str) -> str | None:
        """The command's fingerprint under `stream`'s key; None when the key needed is gone."""
        if new_key is None or not domain.carries_name(command):
            return domain.fingerprint(command)
        key = known_keys.get(stream)
        return domain.fingerprint(command, key) if key is not None else None

    pending: dict[str, tuple[str, Target]] = {
        request_id: (str(event.metadata.get("fingerprint", "")), Target(event.stream_id, event.version, True))
        for request_id, event in earlier_requests.items()
    }
    correlations = correlation_ids or [None] * len(commands)
    for command, correlation_id in zip(commands, correlations):
        if command.request_id and command.request_id in pending:
            seen_print, target = pending[command.request_id]
            retry_print = print_of(command, target.stream_id)
            # A forgotten user's key is gone, so a retry cannot be compared: its original answers.
            same = retry_print is None or retry_print == seen_print
            result.answers.append(target if same else RequestIdReused(_REUSED))
            if same and isinstance(command, domain.ForgetUser):
                result.forget.add(target.stream_id)
            continue
        stream = _user_id(command)
        try:
            event = domain.decide(command, state_of(stream) if stream else None)
        except DomainError as error:
            result.answers.append(error)
            continue
        if event is None:  # ForgetUser of a user already forgotten
            state = state_of(str(stream))
            assert state is not None
            result.answers.append(Target(state.id, state.forgotten_version, True))
            result.forget.add(state.id)
            continue
        if new_key is not None and event.type not in codec.NAMELESS and event.stream_id not in known_keys:
            known_keys[event.stream_id] = result.new_keys[event.stream_id] = new_key()
        if event.type == codec.USER_FORGOTTEN:
            result.forget.add(event.stream_id)
        states[event.stream_id] = domain.evolve(states.get(event.stream_id), _provisional(event))
        fingerprint = print_of(command, event.stream_id)
        metadata: dict[str, object] = {"fingerprint": fingerprint, "command": type(command).__name__}
        if correlation_id:
            metadata[METADATA_KEY] = correlation_id
        if command.request_id:
            metadata["request_id"] = command.request_id
            pending[command.request_id] = (str(fingerprint), Target(event.stream_id, event.version, True))
        result.appends.append((event, metadata))
        result.answers.append(Target(event.stream_id, event.version))
    return result


def fold_all(history: Mapping[str, list[RecordedEvent]]) -> dict[str, domain.UserState | DomainError | None]:
    """Folds each stream (opened) into its user's state, or the error its unreadable history raises."""
    current: dict[str, domain.UserState | DomainError | None] = {}
    for stream, events in history.items():
        try:
            current[stream] = domain.load(stream, events)
        except DomainError as error:
            current[stream] = error
    return current


def _provisional(event: domain.NewEvent) -> RecordedEvent:
    # Times do not matter for deciding; the stored record time replaces this once appended.
    return RecordedEvent(0, event.stream_id, event.version, event.type, event.data, datetime.now(UTC))
