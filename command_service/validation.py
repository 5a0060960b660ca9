"""Checks and normalises the fields of incoming commands; raises InvalidArgument naming the field."""

from __future__ import annotations

import unicodedata

from eventkit import text
from eventkit.errors import InvalidArgument
from eventkit.ids import parse_id

__all__ = ["check_expected_version", "clean_name", "parse_id", "parse_request_id"]

MAX_NAME_LENGTH = 200


def clean_name(raw: str, field: str = "name") -> str:
    """Returns the trimmed name in NFC, or raises if it is empty, invisible, too long, or holds control characters."""
    name = text.normalize(raw.strip())  # surrounding white space (tabs, newlines) is trimmed, not refused
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        raise InvalidArgument(field, "must not contain control characters")
    if text.has_bidi_control(name):
        raise InvalidArgument(field, "must not contain bidirectional control characters (U+202A-U+202E, U+2066-U+2069)")
    if not name:
        raise InvalidArgument(field, "must not be empty")
    if not text.has_visible(name):
        raise InvalidArgument(field, "must contain a visible character (it holds only invisible or combining ones)")
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
