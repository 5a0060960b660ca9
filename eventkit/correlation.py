"""The correlation id: read from call metadata (or a W3C traceparent), else made, and kept for the current call."""

from __future__ import annotations

import contextvars
import re
import uuid
from collections.abc import Iterable
from typing import Any

from eventkit.errors import InvalidArgument
from eventkit.randomness import random_bytes

HEADER = "x-correlation-id"
TRACEPARENT = "traceparent"
# Stored in each event's metadata under this key, and carried on the streamed Event.
METADATA_KEY = "correlation_id"

# Printable, no spaces, short: it lands in logs, in event metadata and in response headers.
_VALID = re.compile(r"^[A-Za-z0-9._:/+=@-]{1,128}$")
# version-traceid-parentid-flags; an all-zero trace id is invalid (W3C Trace Context, section 3.2).
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}")

current: contextvars.ContextVar[str | None] = contextvars.ContextVar("correlation_id", default=None)


def new() -> str:
    """Returns a fresh id: 32 hex digits, so it is also a valid W3C trace id."""
    return uuid.UUID(bytes=random_bytes(16), version=4).hex


def from_metadata(metadata: Iterable[tuple[str, Any]] | None) -> str | None:
    """Returns the caller's correlation id: `x-correlation-id`, else the trace id of `traceparent`, else None.

    A malformed `x-correlation-id` is refused (INVALID_ARGUMENT); a malformed `traceparent` is
    ignored, as W3C Trace Context asks of a receiver (it starts a new trace instead).
    """
    given: str | None = None
    trace: str | None = None
    for key, value in metadata or ():
        if key == HEADER:
            given = value if isinstance(value, str) else value.decode("ascii", "replace")
        elif key == TRACEPARENT and isinstance(value, str):
            found = _TRACEPARENT.match(value.strip())
            if found and found.group(1) != "0" * 32:
                trace = found.group(1)
    if given is not None:
        if not _VALID.match(given):
            raise InvalidArgument(HEADER, "must be 1 to 128 letters, digits or ._:/+=@- characters")
        return given
    return trace


def get() -> str | None:
    """Returns the correlation id of the call being handled in this thread or task, if any."""
    return current.get()
