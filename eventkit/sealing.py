"""Crypto-shredding: seals a user's name in event data with the user's own key (AES-256-GCM), and opens it again.

The envelope (position, stream, version, type, time) stays in clear; only the name is sealed. Once
the user's key is destroyed, no one can open that user's names again: the events stay immutable,
the personal data in them is gone.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from eventkit import codec
from eventkit.codec import RecordedEvent
from eventkit.randomness import random_bytes

KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # GCM's standard nonce; random, since one key seals only a handful of names
SEALED_FIELD = "sealed_name"


def new_key() -> bytes:
    """Returns a fresh random data key for one user."""
    return AESGCM.generate_key(bit_length=KEY_BYTES * 8)


def _binding(stream_id: str, version: int, event_type: str) -> bytes:
    # Authenticated with the ciphertext, so a sealed name copied into another event (another user,
    # version or type) does not open.
    return f"users.v1|{stream_id}|{version}|{event_type}".encode()


def seal(key: bytes, stream_id: str, version: int, event_type: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """Returns the stored (schema version 2) form of an event's data: the name sealed, nothing else in clear."""
    if event_type in codec.NAMELESS:
        return dict(data)
    nonce = random_bytes(NONCE_BYTES)
    sealed = AESGCM(key).encrypt(nonce, str(data["name"]).encode(), _binding(stream_id, version, event_type))
    return {SEALED_FIELD: base64.b64encode(nonce + sealed).decode("ascii")}


def is_sealed(event: RecordedEvent) -> bool:
    """Tells whether the event's name is sealed (schema version 2 and a type that carries a name)."""
    return event.schema_version >= codec.SEALED_SCHEMA_VERSION and event.type not in codec.NAMELESS


def sealed_streams(events: Iterable[RecordedEvent]) -> set[str]:
    """Returns the users whose keys are needed to open these events."""
    return {event.stream_id for event in events if is_sealed(event)}


def open_event(event: RecordedEvent, keys: Mapping[str, bytes]) -> RecordedEvent:
    """Returns the event with its name in clear, or marked forgotten (no name) when the user's key is gone.

    A sealed name that does not open with the key (tampered, or moved from another event) leaves
    data without a name, which the folds report as a malformed event.
    """
    if not is_sealed(event):
        return event
    key = keys.get(event.stream_id)
    if key is None:
        return event._replace(data={}, forgotten=True)
    raw = event.data.get(SEALED_FIELD) if isinstance(event.data, dict) else None
    if not isinstance(raw, str):
        return event._replace(data={"unopenable": True})
    try:
        blob = base64.b64decode(raw, validate=True)
        name = AESGCM(key).decrypt(
            blob[:NONCE_BYTES], blob[NONCE_BYTES:], _binding(event.stream_id, event.version, event.type)
        )
        return event._replace(data={"name": name.decode()})
    except (InvalidTag, ValueError, UnicodeDecodeError):
        return event._replace(data={"unopenable": True})


def open_events(events: Iterable[RecordedEvent], keys: Mapping[str, bytes]) -> list[RecordedEvent]:
    """Opens every event (see open_event)."""
    return [open_event(event, keys) for event in events]
