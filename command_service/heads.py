"""Stream heads: when a stored head may stand for a user's history, and the head a batch leaves (pure)."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from command_service import domain
from eventkit.errors import DomainError

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Last(NamedTuple):
    """A stream's last event as the store has it: what a head must match."""

    version: int
    position: int
    record_time: datetime


@dataclass(frozen=True)
class Head:
    """A stream_heads row (see 0002_stream_heads.sql): the fold of a user's events up to `version`."""

    stream_id: str
    version: int
    position: int
    deleted: bool
    forgotten: bool
    forgotten_version: int
    keyed: bool  # the user's data key existed when the events were folded
    create_time: datetime
    checksum: str


class Checked(NamedTuple):
    """A touched stream's stored head (None: none) and its last event (None: no events at all)."""

    head: Head | None
    last: Last | None


def checksum(stream_id: str, state: domain.UserState, keyed: bool) -> str:
    """Returns the digest a head carries of its own columns (position aside: the store checks that)."""
    # Integer microseconds, not text: the same instant reads back identically whatever the session's TimeZone.
    created = (state.create_time - _EPOCH) // timedelta(microseconds=1)
    fields = (stream_id, state.version, state.deleted, state.forgotten, state.forgotten_version, keyed, created)
    return hashlib.blake2b(repr(fields).encode(), digest_size=16).hexdigest()


def trusted(stream_id: str, checked: Checked, keyed_now: bool) -> domain.UserState | None:
    """Returns the state a head stands for when it matches the store and itself; None when it must be refolded."""
    head, last = checked
    if head is None or last is None:
        return None
    if (head.version, head.position, head.keyed) != (last.version, last.position, keyed_now):
        return None
    # No name: deciding needs none, and an answer's name comes from its own event (see outcomes.answer).
    state = domain.UserState(
        stream_id,
        "",
        head.version,
        head.deleted,
        head.create_time,
        last.record_time,
        head.forgotten,
        head.forgotten_version,
    )
    return state if checksum(stream_id, state, head.keyed) == head.checksum else None


def to_write(
    base: Mapping[str, domain.UserState | DomainError | None],
    refolded: Collection[str],
    final: Mapping[str, domain.UserState | None],
    checked: Mapping[str, Checked],
    keyed: Collection[str],
) -> list[dict[str, object]]:
    """Returns the head rows a batch writes: for each existing user it refolded or appended to.

    `base` holds the states before the batch, `final` after it (as the batch decided them). A row
    whose position is None takes the position of the event the batch appends at its version.
    """
    rows: list[dict[str, object]] = []
    for stream, before in base.items():
        after = final.get(stream, before)
        if not isinstance(before, domain.UserState) or not isinstance(after, domain.UserState):
            continue  # no user (yet), or a history nobody can read: no head
        changed = after.version != before.version
        if not changed and stream not in refolded:
            continue
        last = checked[stream].last
        assert last is not None, "a user with a state has events"
        is_keyed = stream in keyed
        rows.append(
            {
                "s": stream,
                "v": after.version,
                "p": None if changed else last.position,
                "d": after.deleted,
                "f": after.forgotten,
                "fv": after.forgotten_version,
                "k": is_keyed,
                "c": after.create_time.isoformat(),
                "x": checksum(stream, after, is_keyed),
            }
        )
    return rows
