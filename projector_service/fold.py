"""Folds a batch of events into read-model changes: pure, no I/O, so it is tested without a database."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from eventkit import codec
from eventkit.codec import MalformedEvent, RecordedEvent
from eventkit.correlation import METADATA_KEY
from eventkit.rows import LogRow, UserRow


@dataclass
class Plan:
    """What one batch changes: final user rows, deleted ids, log rows, and how far it got."""

    position: int
    event_time: datetime | None = None
    upserts: list[UserRow] = field(default_factory=list)
    # The users among `upserts` that had no row before this batch, as far as the fold was told:
    # their rows can be inserted, not merged.
    created: set[str] = field(default_factory=set)
    deletes: list[str] = field(default_factory=list)
    log: list[LogRow] = field(default_factory=list)
    # Users whose names must be erased from every earlier event-log row (they were forgotten).
    forgotten: list[str] = field(default_factory=list)
    skipped_unknown: int = 0
    skipped_operator: int = 0
    # The first event that cannot be applied: (position, reason). The plan stops just before it.
    malformed: tuple[int, str] | None = None


def streams_to_load(events: Iterable[RecordedEvent]) -> set[str]:
    """Returns the users whose current row the fold needs: those whose first event here is not UserAdded."""
    seen: set[str] = set()
    needed: set[str] = set()
    for event in events:
        if event.stream_id not in seen:
            seen.add(event.stream_id)
            if event.type != codec.USER_ADDED:
                needed.add(event.stream_id)
    return needed


def evolve(prior: UserRow | None, event: RecordedEvent) -> tuple[UserRow | None, str]:
    """Returns a user's row after a known event (None once deleted or forgotten) and the name its log row carries."""
    position, user, version, kind, data, at, _, _, forgotten = event
    if forgotten or kind == codec.USER_FORGOTTEN:
        # Forgotten (a UserForgotten event, or a name whose key is gone): the user leaves the read
        # model, whether or not it is still there (a deleted user can be forgotten too).
        return None, ""
    if kind == codec.USER_ADDED:
        name = codec.name_of(kind, data)
        return UserRow(user, name, version, at, at, position), name
    if prior is None:
        # The read model has no such user (never added, or deleted): the store holds an event the
        # command service would never have written.
        raise MalformedEvent(f"{kind} for user {user}, who does not exist at version {version}")
    if kind == codec.USER_EDITED:
        name = codec.name_of(kind, data)
        return UserRow(prior.id, name, version, prior.create_time, at, position), name
    # UserDeleted: the row goes; its log row keeps the last name the user had.
    return None, prior.name


def fold_batch(events: Sequence[RecordedEvent], start: int, existing: dict[str, UserRow], skips: set[int]) -> Plan:
    """Folds `events` (position order, all after `start`) over the `existing` rows of the users they touch."""
    plan = Plan(position=start)
    state: dict[str, UserRow | None] = {}
    # Runs once per event projected: local names, and each event unpacked once, cost less than lookups.
    log, known, last = plan.log, codec.TYPE_IDS, None
    for event in events:
        position, user, version, kind, _, at, metadata, _, opened_forgotten = event
        if position in skips:
            plan.skipped_operator += 1
        elif kind not in known:
            plan.skipped_unknown += 1  # forward compatibility: a newer writer's event type
        else:
            try:
                row, name = evolve(state[user] if user in state else existing.get(user), event)
            except MalformedEvent as exc:
                plan.malformed = (position, str(exc))
                break
            state[user] = row
            forgotten = opened_forgotten or kind == codec.USER_FORGOTTEN
            if forgotten and user not in plan.forgotten:
                plan.forgotten.append(user)
            log.append(LogRow(position, known[kind], user, version, name, at, metadata.get(METADATA_KEY), forgotten))
        last = event
    if last is not None:
        plan.position, plan.event_time = last.position, last.record_time
    plan.upserts = [row for row in state.values() if row is not None]
    plan.created = {row.id for row in plan.upserts if row.id not in existing}
    plan.deletes = [user for user, row in state.items() if row is None]
    return plan
