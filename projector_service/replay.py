"""The rebuild's first pass: the history up to the store's head, in ranges, each folded a share of its users at a time."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable

from eventkit.codec import RecordedEvent
from eventkit.rows import UserRow
from projector_service import batch_sql, events_sql, fold, prefetch, store
from projector_service.applier import Stalled, commit_plan
from projector_service.fold import Plan
from projector_service.source import EventSource

# Each range of the history is split into this many shares of users: each share re-reads the
# range (skipping the other shares' rows, about 0.6 us a row for PostgreSQL here), and saves
# reading back and merging every user the range touches more than once (about 10 us a row).
SHARES = 4
# A share holds about this many rebuild batches of events: its users are what memory holds.
SHARE_BATCHES = 5

# Called after each batch with the number of events it held.
Advanced = Callable[[int], None]


def replay_by_user(
    conn: store.Conn, source: EventSource, name: str, live_schema: str, batch_size: int, advanced: Advanced
) -> int:
    """Replays every event up to the store's head into the empty scratch tables; returns that head.

    The history is cut into ranges of SHARES x SHARE_BATCHES batches. In each range the users are
    split into SHARES shares by a hash of their ids; a share's events are read in position order
    and folded in memory, and each user's row is written once when the share is done (new users by
    COPY, the ones an earlier range wrote by one merge), however often the range changes it. Log
    rows go in batch by batch. Memory holds one share's users; the work grows with the history.
    The checkpoint moves once, from 0 to the head, when everything is in: a rebuild killed before
    leaves a scratch schema the next one drops. A malformed event raises Stalled (the rebuild
    stops there, as a batch-at-a-time replay does).
    """
    head = events_sql.head(source.events)  # not lag(): no count of the whole store
    skips = store.operator_skips(conn, live_schema, name, 0, head) if head else set()
    done = Plan(position=head)
    last = 0  # the highest position folded: the head's event gives the checkpoint its time
    span = SHARES * SHARE_BATCHES * batch_size
    for start in range(0, head, span):
        for number in range(SHARES):
            read = functools.partial(source.read, share=events_sql.Share(SHARES, number))
            with contextlib.closing(prefetch.batches(read, start, batch_size, min(start + span, head))) as stream:
                share = _Share()
                for events in stream:
                    plan = share.fold(conn, events, skips)
                    batch_sql.copy_log(conn, plan.log)
                    if plan.forgotten:
                        batch_sql.erase_names(conn, plan.forgotten)
                    done.skipped_unknown += plan.skipped_unknown
                    if events[-1].position > last:
                        last, done.event_time = events[-1].position, plan.event_time
                    advanced(len(events))
                with conn.transaction():  # the merge's temporary rows last until the commit
                    batch_sql.write_users(conn, share.plan())
    commit_plan(conn, name, done, 0)
    return head


class _Share:
    """The users one share of a range has touched so far, as they are now."""

    def __init__(self) -> None:
        self.rows: dict[str, UserRow] = {}  # present now
        self.gone: set[str] = set()  # deleted or forgotten in this range
        self.stored: set[str] = set()  # found in the tables (an earlier range wrote them)
        self.asked: set[str] = set()  # looked up in the tables, found or not

    def fold(self, conn: store.Conn, events: list[RecordedEvent], skips: set[int]) -> Plan:
        """Folds a batch over what the share holds, first reading the rows of users earlier ranges wrote."""
        needed = fold.streams_to_load(events) - self.asked - self.rows.keys() - self.gone
        if needed:
            found = store.load_users(conn, needed)
            self.rows.update(found)
            self.stored.update(found)
            self.asked.update(needed)
        plan = fold.fold_batch(events, 0, self.rows, skips)
        if plan.malformed is not None:
            raise Stalled(plan.malformed[0], plan.malformed[1], 0)
        for row in plan.upserts:
            self.rows[row.id] = row
            self.gone.discard(row.id)
        for user in plan.deletes:
            self.rows.pop(user, None)
            self.gone.add(user)
        return plan

    def plan(self) -> Plan:
        """Returns the share's user rows as one plan: new ones inserted, earlier ones merged, gone ones deleted."""
        rows = list(self.rows.values())
        return Plan(
            position=0,
            upserts=rows,
            created={row.id for row in rows if row.id not in self.stored},
            deletes=[user for user in self.gone if user in self.stored],
        )
