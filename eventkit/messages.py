"""Builds API messages that both sides of the system return."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from eventkit.timestamps import to_timestamp
from users.v1 import resources_pb2


class UserLike(Protocol):
    """Anything that knows a user's fields: the command side's folded state, the read model's row."""

    # Read-only properties, so frozen dataclasses and named tuples satisfy the protocol.
    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def create_time(self) -> datetime: ...
    @property
    def update_time(self) -> datetime: ...


def user_message(user: UserLike) -> resources_pb2.User:
    """Returns the API's User for a user's state or row."""
    return resources_pb2.User(
        id=user.id,
        name=user.name,
        version=user.version,
        create_time=to_timestamp(user.create_time),
        update_time=to_timestamp(user.update_time),
    )
