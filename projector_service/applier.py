"""Applies one batch of events to a read model in one transaction, fenced by the checkpoint's compare-and-set."""

from __future__ import annotations

from collections.abc import Sequence

from eventkit.codec import RecordedEvent
from projector_service import fold, store
from projector_service.fold import Plan


class Fenced(Exception):
    """The checkpoint is not where this projector left it: another projector moved it, so this one must stop."""

    def __init__(self, expected: int, found: int) -> None:
        super().__init__(f"checkpoint moved by another projector: expected {expected}, found {found}")
        self.expected = expected
        self.found = found


class Stalled(Exception):
    """A known event cannot be applied; everything before it has been committed."""

    def __init__(self, position: int, reason: str, reached: int) -> None:
        super().__init__(f"event at position {position} cannot be applied: {reason}")
        self.position = position
        self.reason = reason
        self.reached = reached


def apply_batch(conn: store.Conn, name: str, live_schema: str, events: Sequence[RecordedEvent], expected: int) -> Plan:
    """Applies `events` (all after `expected`) and moves the checkpoint in one transaction; returns what it did.

    The checkpoint row is locked and compared first: a projector whose checkpoint moved under it
    (a former leader) raises Fenced and changes nothing, so no event is ever applied twice.
    Raises Stalled, after committing the events before it, when an event cannot be applied.
    """
    with conn.transaction():
        found = store.lock_checkpoint(conn, name)
        if found != expected:
            raise Fenced(expected, found)
        skips = store.operator_skips(conn, live_schema, name, expected, events[-1].position) if events else set()
        existing = store.load_users(conn, fold.streams_to_load(events))
        plan = fold.fold_batch(events, expected, existing, skips)
        if plan.position != expected:
            store.write_plan(conn, name, plan)
    if plan.malformed is not None:
        raise Stalled(plan.malformed[0], plan.malformed[1], plan.position)
    return plan
