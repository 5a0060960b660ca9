"""Rows of the read model that both the projector (which writes them) and the query service (which reads them) know."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple


class LogRow(NamedTuple):
    """One row of the read-side event log; `type` is the users.v1.EventType number."""

    position: int
    type: int
    user_id: str
    version: int
    name: str
    record_time: datetime
    correlation_id: str | None = None
    # The user was forgotten: `name` is erased (''), not an empty name.
    forgotten: bool = False


class UserRow(NamedTuple):
    """One row of the read model's users table; `position` is the last event applied to it."""

    id: str
    name: str
    version: int
    create_time: datetime
    update_time: datetime
    position: int
