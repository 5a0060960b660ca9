"""The event catalogue and codec: event type names and ids, and each type's JSON data."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any, NamedTuple

USER_ADDED = "UserAdded"
USER_EDITED = "UserEdited"
USER_DELETED = "UserDeleted"
USER_FORGOTTEN = "UserForgotten"

# The seed's EventId values; they are also the users.v1.EventType enum numbers.
TYPE_IDS: dict[str, int] = {USER_ADDED: 1, USER_EDITED: 2, USER_DELETED: 3, USER_FORGOTTEN: 4}
TYPE_NAMES: dict[int, str] = {number: name for name, number in TYPE_IDS.items()}

# Event data schema versions: 1 keeps the name in clear (events written before names were
# encrypted); 2 keeps it sealed with the user's data key (eventkit/sealing.py).
CLEAR_SCHEMA_VERSION = 1
SEALED_SCHEMA_VERSION = 2
SCHEMA_VERSION = CLEAR_SCHEMA_VERSION

# Event types that carry no name.
NAMELESS = frozenset({USER_DELETED, USER_FORGOTTEN})


class MalformedEvent(Exception):
    """A known event type whose data cannot be understood (written out of band, or corrupted)."""


# The metadata of an event recorded without any: read-only, so the one default is shared safely.
NO_METADATA: Mapping[str, Any] = MappingProxyType({})


class RecordedEvent(NamedTuple):
    """An event as the store holds it (a named tuple: immutable, and cheap to build a row at a time)."""

    position: int
    stream_id: str
    version: int
    type: str
    data: dict[str, Any]
    record_time: datetime
    metadata: Mapping[str, Any] = NO_METADATA
    schema_version: int = SCHEMA_VERSION
    # True when the name was sealed with a key that no longer exists: the user was forgotten.
    forgotten: bool = False


def encode(event_type: str, name: str | None) -> dict[str, Any]:
    """Returns the JSON data of a new event of `event_type`."""
    if event_type in NAMELESS:
        return {}
    return {"name": name}


def name_of(event_type: str, data: Any) -> str:
    """Returns the user name an event carries ('' for deletions and forgettings); raises MalformedEvent if it has none."""
    if event_type in NAMELESS:
        return ""
    name = data.get("name") if isinstance(data, dict) else None
    if not isinstance(name, str) or not name or "\x00" in name:
        raise MalformedEvent(f"{event_type} data has no valid 'name'")
    return name


def is_known(event_type: str) -> bool:
    """Tells whether this version of the code understands `event_type`."""
    return event_type in TYPE_IDS
