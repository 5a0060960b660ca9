"""The `rebuild` command (the seed's `init`): replays every event into fresh tables, then swaps them in atomically.

The fresh tables live in a scratch schema migrated exactly like the live one, so the same batch code
applies events to them (the schema on the search path decides where a batch goes) and the swap moves
whole tables, indexes and names included. The indexes no batch needs are dropped while the history
is bulk-loaded (COPY, large batches) and built once at the end, before the swap. Queries keep reading the live tables until the swap's
transaction commits; they wait at most a couple of seconds on its locks and never fail.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable
from typing import TextIO

import psycopg

from eventkit import db, migrations, startup
from eventkit.config import ProjectorSettings
from eventkit.migrations import grants
from projector_service import events_sql, prefetch, rebuild_sql, status_sql, store
from projector_service.applier import apply_batch
from projector_service.fold import Plan
from projector_service.pipeline import Pipeline
from projector_service.replay import replay_by_user
from projector_service.source import EventSource

log = logging.getLogger(__name__)

SWITCH_LOCK_TIMEOUT_MS = 2000  # the longest a query waits behind the swap's lock request
PROGRESS_EVERY_SECONDS = 2.0


class RebuildBusy(Exception):
    """Another rebuild of the same projection is running."""


def scratch_schema(live: str) -> str:
    """Returns the schema the rebuild fills before the swap."""
    return f"{live[:54]}_rebuild"


class Progress:
    """Prints how far a replay got: events done, rate and time left."""

    def __init__(self, out: TextIO, reader: store.Conn) -> None:
        self._out, self._reader = out, reader
        self.started = self._last = time.monotonic()
        self.done = self.total = 0

    def begin(self) -> None:
        """Says how many events the replay starts with."""
        _, self.total, _ = events_sql.lag(self._reader, 0)
        self._say(f"rebuild: replaying {self.total:,} events into fresh tables")

    def advance(self, count: int, position: int | None = None) -> None:
        """Counts a batch; every few seconds prints events done, rate and time left.

        `position`: the batch's last, from which what is left is counted; without it (the replay
        by shares, out of position order), what is left is the starting total less what is done.
        """
        self.done += count
        now = time.monotonic()
        if now - self._last >= PROGRESS_EVERY_SECONDS:
            self._last = now
            rate = self.done / max(now - self.started, 1e-6)
            remaining = events_sql.lag(self._reader, position)[1] if position is not None else self.total - self.done
            self._say(
                f"rebuild: {self.done:,} events done, {rate:,.0f} events/s, {remaining:,} to go,"
                f" about {remaining / max(rate, 1e-6):,.0f} s left"
            )

    def _say(self, line: str) -> None:
        self._out.write(line + "\n")
        self._out.flush()


def rebuild(settings: ProjectorSettings, connect_read_model: Callable[[], store.Conn], out: TextIO) -> int:
    """Rebuilds the read model from the whole event store while queries go on; returns the final position.

    Creating, swapping and dropping tables is the owner's business, so this runs as the read
    model's owner (READ_MODEL_MIGRATION_DSN) when given; the rebuilt tables get the same grants.
    """
    live, name = settings.read_model.schema, settings.projection_name
    scratch = scratch_schema(live)
    connect_read_model().close()  # the live schema exists (or is migrated) before anything else
    owner = startup.owner(settings.read_model)
    with db.connect(owner) as admin, db.connect(settings.event_store, autocommit=True) as reader:
        admin.autocommit = True
        store.ensure_rows(admin, name)
        if not status_sql.try_lock(admin, f"{live}.{name}.rebuild"):
            raise RebuildBusy(f"another rebuild of {live}.{name} is running")
        rebuild_sql.drop_schema(admin, scratch)  # what a killed rebuild left behind
        try:
            scratch_db = dataclasses.replace(owner, schema=scratch)
            with db.connect(scratch_db) as conn, db.connect(scratch_db, autocommit=True) as planner:
                migrations.apply(conn, "read_model", scratch)
                grants.grant(conn, "read_model", scratch, settings.read_model.roles)  # kept by the swap
                conn.autocommit = True
                store.ensure_rows(conn, name)
                deferred = rebuild_sql.defer_indexes(conn, scratch)
                progress = Progress(out, reader)
                progress.begin()
                source = EventSource.open(settings.event_store, settings.key_store, reader)
                try:
                    position = replay_by_user(conn, source, name, live, settings.rebuild_batch_size, progress.advance)
                    # The events appended meanwhile, batch by batch.
                    position = _replay(settings, conn, source, position, progress, planner=planner)
                    # Built before the switch, outside its transaction: queries never wait for them.
                    rebuild_sql.build_indexes(conn, deferred)
                    position = _switch(settings, conn, source, position, progress)
                finally:
                    source.close()
        finally:
            rebuild_sql.drop_schema(admin, scratch)
    elapsed = time.monotonic() - progress.started
    out.write(
        f"rebuild: done, {progress.done:,} events in {elapsed:,.1f} s; live tables swapped at position {position}\n"
    )
    return position


def _replay(
    s: ProjectorSettings,
    conn: store.Conn,
    source: EventSource,
    position: int,
    progress: Progress,
    upto: int | None = None,
    planner: store.Conn | None = None,
) -> int:
    """Applies batches to the scratch tables until the store (or `upto`) is reached; returns the position.

    The history is folded a batch of `rebuild_batch_size` events at a time (each batch loads the rows
    of the users it touches from the scratch table), so memory stays flat however long it is. With a
    `planner` connection the next batch is folded while this one is written (see pipeline.py);
    without, batch after batch (inside the switch's transaction, where only `conn` may write).
    """
    if upto is not None and position >= upto:
        return position
    name, live = s.projection_name, s.read_model.schema
    with contextlib.closing(prefetch.batches(source.read, position, s.rebuild_batch_size, upto)) as stream:
        if planner is not None:
            return Pipeline(planner, conn, name, live).run(
                stream, position, lambda plan, _: progress.advance(_events_in(plan), plan.position)
            )
        for events in stream:
            position = apply_batch(conn, name, live, events, position).position
            progress.advance(len(events), position)
    return position


def _events_in(plan: Plan) -> int:
    return len(plan.log) + plan.skipped_unknown + plan.skipped_operator


def _switch(s: ProjectorSettings, conn: store.Conn, source: EventSource, position: int, progress: Progress) -> int:
    """Catches the scratch tables up to the live checkpoint under lock and swaps them in, retrying on lock timeouts."""
    live, name = s.read_model.schema, s.projection_name
    while True:
        try:
            with conn.transaction():
                # Holding the live checkpoint row stops the live projector between two batches, so
                # both copies meet at one position: subscribers see neither a gap nor a repeat.
                live_position = rebuild_sql.lock_live(conn, live, name, SWITCH_LOCK_TIMEOUT_MS)
                position = _replay(s, conn, source, position, progress, upto=live_position)
                _, skipped_unknown = store.checkpoint(conn, name)
                rebuild_sql.swap_tables(
                    conn,
                    live,
                    scratch_schema(live),
                    name,
                    position,
                    rebuild_sql.event_time(conn, name),
                    skipped_unknown,
                )
            return position
        except psycopg.errors.LockNotAvailable:
            log.info("live tables busy; catching up and trying the swap again")
            # The rolled-back attempt may have applied batches that are gone now: start from the
            # scratch checkpoint as committed.
            position = _replay(s, conn, source, store.checkpoint(conn, name)[0], progress)
