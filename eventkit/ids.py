"""Makes and parses the UUIDs that identify users and requests, the same way in every service."""

from __future__ import annotations

import time
import uuid

from eventkit.errors import InvalidArgument
from eventkit.randomness import random_bytes


def parse_id(raw: str, field: str = "id") -> str:
    """Returns the canonical form of a required UUID, or raises InvalidArgument naming the field."""
    if not raw:
        raise InvalidArgument(field, "is required")
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        raise InvalidArgument(field, "must be a UUID") from None


def new_id() -> str:
    """Returns a new UUIDv7 (RFC 9562): a millisecond timestamp, then 74 random bits.

    Ids made one after another sort together, so the index entries of new users (the events'
    (stream_id, version) key, the stream heads) go to a few hot pages instead of a random page of an
    index larger than memory: with random (v4) ids, appends on a 10-million-event store ran at 0.76x
    the empty store's rate. The price: an id tells when its user was added, which GetUser's
    create_time already tells anyone who can read the user.
    """
    value = (time.time_ns() // 1_000_000 & 0xFFFF_FFFF_FFFF) << 80 | int.from_bytes(random_bytes(10), "big")
    value = value & ~(0xF << 76) | 0x7 << 76  # version 7
    value = value & ~(0x3 << 62) | 0x2 << 62  # the RFC 9562 variant
    return str(uuid.UUID(int=value))
