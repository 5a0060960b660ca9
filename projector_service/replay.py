"""The rebuild's first pass: the history up to the store's head, folded a share of the users at a time."""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Callable

from eventkit.rows import UserRow
from projector_service import fold, prefetch, store
from projector_service.applier import Stalled, commit_plan
from projector_service.fold import Plan
from projector_service.source import EventSource

# A share holds about this many rebuild batches of events: its users are what memory holds.
SHARE_BATCHES = 5

# Called after each batch with the number of events it held.
Advanced = Callable[[int], None]


def replay_by_user(
    conn: store.Conn, source: EventSource, name: str, live_schema: str, batch_size: int, advanced: Advanced
) -> int:
    """Replays every event up to the store's head into the empty scratch tables; returns that head.

    The users are split into shares by a hash of their ids. Each share's events are read in
    position order and folded in memory, and each user's row is written once, by COPY, when its
    share is done: no row is read back or merged, which is where a batch-at-a-time replay spends
    most of its time when users recur far apart in the history. Memory holds one share's users
    (about SHARE_BATCHES batches of events), however long the history; each share reads the whole
    range, skipping the other shares' rows. Log rows go in batch by batch.
    The checkpoint moves once, from 0 to the head, when every share is in: a rebuild killed before
    leaves a scratch schema the next one drops. A malformed event raises Stalled (the rebuild
    stops there, as a batch-at-a-time replay does).
    """
    head, total, _ = store.lag(source.events, 0)
    shares = max(1, math.ceil(total / (batch_size * SHARE_BATCHES)))
    skips = store.operator_skips(conn, live_schema, name, 0, head) if total else set()
    done = Plan(position=head)
    last = 0  # the highest position folded: the head's event gives the checkpoint its time
    for index in range(shares):
        users: dict[str, UserRow] = {}
        read = functools.partial(source.read, share=store.Share(shares, index))
        with contextlib.closing(prefetch.batches(read, 0, batch_size, head)) as stream:
            for events in stream:
                plan = fold.fold_batch(events, 0, users, skips)
                if plan.malformed is not None:
                    raise Stalled(plan.malformed[0], plan.malformed[1], 0)
                users.update((row.id, row) for row in plan.upserts)
                for user in plan.deletes:
                    users.pop(user, None)  # a user forgotten after its deletion has no row to drop
                store.copy_log(conn, plan.log)
                if plan.forgotten:
                    store.erase_names(conn, plan.forgotten)
                done.skipped_unknown += plan.skipped_unknown
                if events[-1].position > last:
                    last, done.event_time = events[-1].position, plan.event_time
                advanced(len(events))
        store.insert_users(conn, users.values())
    commit_plan(conn, name, done, 0)
    return head
