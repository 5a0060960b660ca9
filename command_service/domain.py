"""The users domain: commands, the state folded from a user's events, and what each command decides."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from eventkit import codec, ids
from eventkit.codec import RecordedEvent
from eventkit.errors import NotFound, UnreadableHistory, VersionConflict


@dataclass(frozen=True)
class AddUser:
    """Add a user with a new id."""

    name: str
    request_id: str | None = None


@dataclass(frozen=True)
class EditUser:
    """Rename a user, optionally only at an expected version (0 = any)."""

    user_id: str
    name: str
    expected_version: int = 0
    request_id: str | None = None


@dataclass(frozen=True)
class DeleteUser:
    """Delete a user, optionally only at an expected version (0 = any)."""

    user_id: str
    expected_version: int = 0
    request_id: str | None = None


@dataclass(frozen=True)
class ForgetUser:
    """Forget a user for good: its names become unreadable everywhere (crypto-shredding)."""

    user_id: str
    request_id: str | None = None


Command = AddUser | EditUser | DeleteUser | ForgetUser


@dataclass(frozen=True)
class UserState:
    """A user as its events leave it."""

    id: str
    name: str
    version: int
    deleted: bool
    create_time: datetime
    update_time: datetime
    # True once the user's names cannot be read: a UserForgotten event, or a data key that is gone.
    forgotten: bool = False
    # The version of the user's UserForgotten event (0: none), the answer to forgetting it again.
    forgotten_version: int = 0


@dataclass(frozen=True)
class NewEvent:
    """An event a command decided to append (position and time are the store's to give)."""

    stream_id: str
    version: int
    type: str
    data: dict[str, object]


def evolve(state: UserState | None, event: RecordedEvent) -> UserState:
    """Folds one event into the state before it."""
    if event.type == codec.USER_ADDED:
        name = "" if event.forgotten else codec.name_of(event.type, event.data)
        return UserState(
            event.stream_id, name, event.version, False, event.record_time, event.record_time, event.forgotten
        )
    if state is None:
        raise codec.MalformedEvent(f"{event.type} at version {event.version} precedes UserAdded")
    if event.type == codec.USER_EDITED:
        if event.forgotten or state.forgotten:
            return replace(state, name="", version=event.version, update_time=event.record_time, forgotten=True)
        name = codec.name_of(event.type, event.data)
        return replace(state, name=name, version=event.version, deleted=False, update_time=event.record_time)
    if event.type == codec.USER_DELETED:
        return replace(state, version=event.version, deleted=True, update_time=event.record_time)
    if event.type == codec.USER_FORGOTTEN:
        return replace(
            state,
            name="",
            version=event.version,
            update_time=event.record_time,
            forgotten=True,
            forgotten_version=event.version,
        )
    # An event type this code does not know leaves the state as it is, but moves the version on.
    return replace(state, version=event.version, update_time=event.record_time)


def fold(events: Iterable[RecordedEvent]) -> UserState | None:
    """Folds a stream's events, in version order, into the user's state."""
    state: UserState | None = None
    for event in events:
        state = evolve(state, event)
    return state


def load(stream_id: str, events: Iterable[RecordedEvent]) -> UserState | None:
    """Folds a stored stream; one this code cannot read raises UnreadableHistory, never a crash."""
    try:
        return fold(events)
    except codec.MalformedEvent as exc:
        raise UnreadableHistory(
            f"user {stream_id}: its stored events cannot be read ({exc})", user_id=stream_id
        ) from None


def decide(command: Command, state: UserState | None) -> NewEvent | None:
    """Returns the one event `command` appends (None: a user already forgotten), or raises NotFound / VersionConflict."""
    if isinstance(command, AddUser):
        return NewEvent(ids.new_id(), 1, codec.USER_ADDED, codec.encode(codec.USER_ADDED, command.name))
    if isinstance(command, ForgetUser):
        # A deleted user can still be forgotten: deletion is soft, its names are still readable.
        if state is None:
            raise NotFound(f"user {command.user_id} not found", user_id=command.user_id)
        if state.forgotten_version:
            return None  # forgetting twice changes nothing; the first UserForgotten answers
        return NewEvent(state.id, state.version + 1, codec.USER_FORGOTTEN, codec.encode(codec.USER_FORGOTTEN, None))
    if state is None or state.deleted or state.forgotten:
        raise NotFound(f"user {command.user_id} not found", user_id=command.user_id)
    if command.expected_version and command.expected_version != state.version:
        raise VersionConflict(command.expected_version, state.version)
    if isinstance(command, EditUser):
        return NewEvent(state.id, state.version + 1, codec.USER_EDITED, codec.encode(codec.USER_EDITED, command.name))
    return NewEvent(state.id, state.version + 1, codec.USER_DELETED, codec.encode(codec.USER_DELETED, None))


def carries_name(command: Command) -> bool:
    """Tells whether the command holds personal data (a name), which only keyed digests may keep."""
    return isinstance(command, AddUser | EditUser)


def fingerprint(command: Command, key: bytes | None = None) -> str:
    """Returns a digest of what the command asks, so a reused request id with another request is caught.

    With the user's data key it is an HMAC: a plain hash of a short name could be reversed by trying
    names, and would outlive the key that ForgetUser destroys.
    """
    fields = {k: v for k, v in vars(command).items() if k != "request_id"}
    canonical = json.dumps([type(command).__name__, fields], sort_keys=True, ensure_ascii=False).encode()
    if key is not None:
        return "hmac:" + hmac.new(key, canonical, hashlib.sha256).hexdigest()
    return hashlib.sha256(canonical).hexdigest()
