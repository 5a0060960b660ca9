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
    if event.forgotten or event.type == codec.USER_FORGOTTEN:
        # Forgotten (a UserForgotten event, or a name whose key is gone): the user leaves the read
        # model, whether or not it is still there (a deleted user can be forgotten too).
        return None, ""
    if event.type == codec.USER_ADDED:
        name = codec.name_of(event.type, event.data)
        return UserRow(event.stream_id, name, event.version, event.record_time, event.record_time, event.position), name
    if prior is None:
        # The read model has no such user (never added, or deleted): the store holds an event the
        # command service would never have written.
        raise MalformedEvent(f"{event.type} for user {event.stream_id}, who does not exist at version {event.version}")
    if event.type == codec.USER_EDITED:
        name = codec.name_of(event.type, event.data)
        row = UserRow(prior.id, name, event.version, prior.create_time, event.record_time, event.position)
        return row, name
    # UserDeleted: the row goes; its log row keeps the last name the user had.
    return None, prior.name


def fold_batch(events: Sequence[RecordedEvent], start: int, existing: dict[str, UserRow], skips: set[int]) -> Plan:
    """Folds `events` (position order, all after `start`) over the `existing` rows of the users they touch."""
    plan = Plan(position=start)
    state: dict[str, UserRow | None] = {}
    for event in events:
        if event.position in skips:
            plan.skipped_operator += 1
        elif not codec.is_known(event.type):
            plan.skipped_unknown += 1  # forward compatibility: a newer writer's event type
        else:
            prior = state[event.stream_id] if event.stream_id in state else existing.get(event.stream_id)
            try:
                row, name = evolve(prior, event)
            except MalformedEvent as exc:
                plan.malformed = (event.position, str(exc))
                break
            state[event.stream_id] = row
            forgotten = event.forgotten or event.type == codec.USER_FORGOTTEN
            if forgotten and event.stream_id not in plan.forgotten:
                plan.forgotten.append(event.stream_id)
            plan.log.append(
                LogRow(
                    event.position,
                    codec.TYPE_IDS[event.type],
                    event.stream_id,
                    event.version,
                    name,
                    event.record_time,
                    event.metadata.get(METADATA_KEY),
                    forgotten,
                )
            )
        plan.position = event.position
        plan.event_time = event.record_time
    plan.upserts = [row for row in state.values() if row is not None]
    plan.created = {row.id for row in plan.upserts if row.id not in existing}
    plan.deletes = [user for user, row in state.items() if row is None]
    return plan
