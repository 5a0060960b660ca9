"""Parses the UUIDs that identify users and requests, the same way in every service."""

from __future__ import annotations

import uuid

from eventkit.errors import InvalidArgument


def parse_id(raw: str, field: str = "id") -> str:
    """Returns the canonical form of a required UUID, or raises InvalidArgument naming the field."""
    if not raw:
        raise InvalidArgument(field, "is required")
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise InvalidArgument(field, "must be a UUID") from None
