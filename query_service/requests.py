"""Checks and normalises the fields of incoming queries; raises InvalidArgument naming the field."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from eventkit import text
from eventkit.codec import TYPE_NAMES
from eventkit.errors import InvalidArgument
from eventkit.ids import parse_id

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
MAX_BATCH_SIZE = 1000
MAX_BATCH_DELAY_SECONDS = 1.0
MAX_PREFIX_LENGTH = 200  # names are at most 200 characters: a longer prefix matches nothing


def page_size(value: int) -> int:
    """Returns the page size to serve: 0 means the default, larger than the maximum is capped."""
    if value < 0:
        raise InvalidArgument("page_size", "must not be negative")
    return min(value or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def name_prefix(raw: str) -> str:
    """Returns the name prefix to filter on ('' for all users), in the normal form names are stored in."""
    raw = text.normalize(raw)
    if any(unicodedata.category(ch) == "Cc" for ch in raw):
        raise InvalidArgument("name_prefix", "must not contain control characters")
    if len(raw) > MAX_PREFIX_LENGTH:
        raise InvalidArgument("name_prefix", f"must be at most {MAX_PREFIX_LENGTH} characters")
    return raw


def min_position(value: int) -> int:
    """Returns the position a read must reflect (0: no wait)."""
    if value < 0:
        raise InvalidArgument("min_position", "must not be negative")
    return value


@dataclass(frozen=True)
class Filter:
    """Which events a subscriber wants: some types (None: all) of one user (None: all)."""

    types: frozenset[int] | None
    user_id: str | None

    def accepts(self, event_type: int, user_id: str) -> bool:
        """Tells whether an event of this type and user passes the filter."""
        return (self.types is None or event_type in self.types) and (self.user_id is None or user_id == self.user_id)


def stream_filter(event_types: list[int], user_id: str) -> Filter:
    """Returns the filter of a StreamEvents request."""
    unknown = [t for t in event_types if t not in TYPE_NAMES]
    if unknown:
        raise InvalidArgument("event_types", f"unknown event type {unknown[0]}")
    return Filter(frozenset(event_types) or None, parse_id(user_id, "user_id") if user_id else None)


def after_position(has_value: bool, value: int) -> int | None:
    """Returns the position a replay starts after, or None for live events only."""
    if not has_value:
        return None
    if value < 0:
        raise InvalidArgument("after_position", "must not be negative")
    return value


@dataclass(frozen=True)
class Batching:
    """How many events a stream message may carry, and how long an event may wait to fill one."""

    size: int = 1
    delay: float = 0.0


def batching(size: int, delay_seconds: int, delay_nanos: int) -> Batching:
    """Returns a StreamEvents request's batching: one event per message unless it asks for more."""
    if size < 0:
        raise InvalidArgument("max_batch_size", "must not be negative")
    if delay_seconds < 0 or delay_nanos < 0:
        raise InvalidArgument("max_batch_delay", "must not be negative")
    # Larger values are capped, as page_size is: a batch never holds more, nor waits longer.
    size = min(max(size, 1), MAX_BATCH_SIZE)
    delay = min(delay_seconds + delay_nanos / 1e9, MAX_BATCH_DELAY_SECONDS)
    return Batching(size, delay if size > 1 else 0.0)
