"""Checks and normalises the fields of incoming commands; raises InvalidArgument naming the field."""

from __future__ import annotations

import unicodedata

from eventkit.errors import InvalidArgument
from eventkit.ids import parse_id

__all__ = ["check_expected_version", "clean_name", "parse_id", "parse_request_id"]

MAX_NAME_LENGTH = 200


def clean_name(raw: str, field: str = "name") -> str:
    """Returns the trimmed name, or raises if it is empty, too long, or holds control characters."""
    name = raw.strip()  # surrounding white space (tabs and newlines included) is trimmed, not refused
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        raise InvalidArgument(field, "must not contain control characters")
    if not name:
        raise InvalidArgument(field, "must not be empty")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidArgument(field, f"must be at most {MAX_NAME_LENGTH} characters, got {len(name)}")
    return name


def parse_request_id(raw: str) -> str | None:
    """Returns the canonical form of an optional request id, or None when absent."""
    return parse_id(raw, "request_id") if raw else None


def check_expected_version(value: int) -> int:
    """Returns the expected version (0 = any), or raises if negative."""
    if value < 0:
        raise InvalidArgument("expected_version", "must be 0 (any) or a positive version")
    return value
