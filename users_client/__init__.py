"""A typed Python client for the users.v1 API, and the `users` command line built on it."""

from __future__ import annotations

from users_client.client import UsersClient, addresses_from_env, new_request_id
from users_client.errors import (
    DeadlineExceeded,
    InvalidArgument,
    NotFound,
    OutOfRange,
    RequestIdReused,
    Unavailable,
    UsersError,
    VersionConflict,
)
from users_client.models import CaughtUp, Deleted, Event, Heartbeat, Page, User, Written
from users_client.retrying import RetryPolicy

__all__ = [
    "CaughtUp",
    "DeadlineExceeded",
    "Deleted",
    "Event",
    "Heartbeat",
    "InvalidArgument",
    "NotFound",
    "OutOfRange",
    "Page",
    "RequestIdReused",
    "RetryPolicy",
    "Unavailable",
    "User",
    "UsersClient",
    "UsersError",
    "VersionConflict",
    "Written",
    "addresses_from_env",
    "new_request_id",
]
