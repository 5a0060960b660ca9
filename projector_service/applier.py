"""Applies one batch of events to a read model in one transaction, fenced by the checkpoint's compare-and-set."""

from __future__ import annotations

from collections.abc import Sequence

import psycopg

from eventkit.codec import RecordedEvent
from eventkit.rows import UserRow
from projector_service import batch_sql, fold, store
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


# A user's row as the batch in flight leaves it (None: deleted or forgotten), for the plan after it.
Carried = dict[str, UserRow | None]


def plan_batch(
    conn: store.Conn, name: str, live_schema: str, events: Sequence[RecordedEvent], expected: int, carried: Carried
) -> Plan:
    """Folds `events` (all after `expected`) into the changes they make, reading what it needs outside any transaction.

    Users in `carried` are taken from it (a batch still being written changed them); the others are
    read from the read model. Reading before the checkpoint is locked is safe: only a projector
    holding the checkpoint writes users, and it moves the checkpoint forward in the same
    transaction, so a plan built on rows another projector changed meets a moved checkpoint and is
    fenced at commit_plan (a rebuild's swap can keep the position, but swaps in the same fold).
    """
    skips = store.operator_skips(conn, live_schema, name, expected, events[-1].position) if events else set()
    existing = store.load_users(conn, fold.streams_to_load(events) - carried.keys())
    existing.update((user, row) for user, row in carried.items() if row is not None)
    return fold.fold_batch(events, expected, existing, skips)


def carried_by(plan: Plan) -> Carried:
    """Returns the rows a plan leaves its users with, for the plan that follows it."""
    carried: Carried = {user: None for user in plan.deletes}
    carried.update((row.id, row) for row in plan.upserts)
    return carried


def commit_plan(conn: store.Conn, name: str, plan: Plan, expected: int) -> None:
    """Writes a plan and moves the checkpoint from `expected` in one transaction, or raises Fenced and writes nothing.

    The checkpoint row is locked and compared first: a projector whose checkpoint moved under it
    (a former leader) changes nothing, so no event is ever applied twice.
    """
    # A live batch of a few events: one round trip, not nine. Only on an autocommit connection
    # outside any transaction: the one trip's own COMMIT would end a caller's (the rebuild's switch).
    idle = conn.autocommit and conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    if idle and batch_sql.fits_one_trip(plan):
        found = batch_sql.commit_in_one_trip(conn, name, plan, expected)
        if found != expected:
            raise Fenced(expected, found)
        return
    with conn.transaction():
        found = store.lock_checkpoint(conn, name)
        if found != expected:
            raise Fenced(expected, found)
        if plan.position != expected:
            batch_sql.write_plan(conn, name, plan)


def apply_batch(conn: store.Conn, name: str, live_schema: str, events: Sequence[RecordedEvent], expected: int) -> Plan:
    """Applies `events` (all after `expected`) and moves the checkpoint in one transaction; returns what it did.

    Raises Fenced (nothing written) when the checkpoint moved, and Stalled, after committing the
    events before it, when an event cannot be applied.
    """
    plan = plan_batch(conn, name, live_schema, events, expected, {})
    commit_plan(conn, name, plan, expected)
    if plan.malformed is not None:
        raise Stalled(plan.malformed[0], plan.malformed[1], plan.position)
    return plan
