"""Plain, typed values the client returns instead of protobuf messages, and their conversions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from google.protobuf import timestamp_pb2

from users.v1 import query_service_pb2, resources_pb2


def _type_name(enum_name: str) -> str:
    # EVENT_TYPE_USER_ADDED -> UserAdded: the catalogue's names follow from the proto enum, so a
    # type added to the proto needs no change here.
    return "".join(part.capitalize() for part in enum_name.removeprefix("EVENT_TYPE_").split("_"))


EVENT_TYPES: dict[str, int] = {
    _type_name(name): number for name, number in resources_pb2.EventType.items() if number != 0
}
EVENT_TYPE_NAMES: dict[int, str] = {number: name for name, number in EVENT_TYPES.items()}


def _time(stamp: timestamp_pb2.Timestamp, present: bool) -> datetime | None:
    return stamp.ToDatetime(tzinfo=UTC) if present else None


@dataclass(frozen=True)
class User:
    """A user as the service shows it."""

    id: str
    name: str
    version: int
    create_time: datetime | None
    update_time: datetime | None

    @classmethod
    def from_proto(cls, user: resources_pb2.User) -> User:
        """Returns the User a users.v1.User message carries."""
        return cls(
            id=user.id,
            name=user.name,
            version=user.version,
            create_time=_time(user.create_time, user.HasField("create_time")),
            update_time=_time(user.update_time, user.HasField("update_time")),
        )


@dataclass(frozen=True)
class Written:
    """The result of adding or editing a user: the user after the command and its event's position."""

    user: User
    position: int


@dataclass(frozen=True)
class Deleted:
    """The result of deleting a user."""

    id: str
    version: int
    position: int


@dataclass(frozen=True)
class Page:
    """One page of users and the token of the next page ('' on the last page)."""

    users: list[User]
    next_page_token: str


@dataclass(frozen=True)
class Event:
    """One event from the stream; `type` is its catalogue name, such as 'UserAdded'."""

    position: int
    type: str
    user_id: str
    version: int
    name: str
    record_time: datetime | None
    forgotten: bool = False  # the user was forgotten: the name is erased, not empty

    @classmethod
    def from_proto(cls, event: resources_pb2.Event) -> Event:
        """Returns the Event a users.v1.Event message carries."""
        return cls(
            position=event.position,
            type=EVENT_TYPE_NAMES.get(event.type, f"Unknown({event.type})"),
            user_id=event.user_id,
            version=event.version,
            name=event.name,
            record_time=_time(event.record_time, event.HasField("record_time")),
            forgotten=event.forgotten,
        )


@dataclass(frozen=True)
class CaughtUp:
    """The stream has replayed everything up to `position`; what follows is live."""

    position: int


@dataclass(frozen=True)
class Heartbeat:
    """Everything up to `position` that matches the filter has been sent."""

    position: int


StreamItem = Event | CaughtUp | Heartbeat


def stream_item(message: query_service_pb2.StreamEventsResponse) -> StreamItem | None:
    """Returns what one stream message carries, or None for a kind this client does not know."""
    kind = message.WhichOneof("kind")
    if kind == "event":
        return Event.from_proto(message.event)
    if kind == "caught_up":
        return CaughtUp(message.caught_up.position)
    if kind == "heartbeat":
        return Heartbeat(message.heartbeat.position)
    return None


def event_type_number(name: str) -> resources_pb2.EventType:
    """Returns the EventType number for a name such as 'UserAdded' or 'added' (case-insensitive)."""
    wanted = name.strip().lower()
    for type_name, number in EVENT_TYPES.items():
        if wanted in (type_name.lower(), type_name.lower().removeprefix("user")):
            return resources_pb2.EventType.ValueType(number)
    choices = ", ".join(EVENT_TYPES)
    raise ValueError(f"unknown event type {name!r} (choose from {choices})")


def as_json(value: Any) -> Any:
    """Returns a JSON-ready form of a client value: snake_case keys, RFC 3339 UTC times."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, (list, tuple)):
        return [as_json(item) for item in value]
    if isinstance(value, dict):
        return {key: as_json(item) for key, item in value.items()}
    if hasattr(value, "__dataclass_fields__"):
        return {key: as_json(getattr(value, key)) for key in value.__dataclass_fields__}
    return value
