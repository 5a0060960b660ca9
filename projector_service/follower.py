"""The leader's loop: LISTEN, catch up from the checkpoint, then follow new events; heartbeat and stall handling."""

from __future__ import annotations

import contextlib
import itertools
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from eventkit import db, tracing
from eventkit.backoff import Backoff
from eventkit.codec import TYPE_NAMES
from eventkit.config import ProjectorSettings
from eventkit.server import Health
from projector_service import events_sql, metrics, prefetch, status_sql, store
from projector_service.applier import Stalled
from projector_service.fold import Plan
from projector_service.pipeline import Pipeline
from projector_service.source import EventSource

log = logging.getLogger(__name__)

PROGRESS_EVERY_SECONDS = 10.0  # how often a long catch-up logs how far it got


class Follower:
    """Applies events while this process leads; returns on stop, raises when a connection or the fence fails."""

    def __init__(
        self,
        settings: ProjectorSettings,
        health: Health,
        stop: Callable[[], bool],
        identity: str,
        lock: store.Conn,
        connect_read_model: Callable[[], store.Conn],
    ) -> None:
        self._s = settings
        self._name = settings.projection_name
        self._health = health
        self._stopping = stop
        self._identity = identity
        self._lock = lock
        self._connect_read_model = connect_read_model
        self._serving: bool | None = None
        self._stalled: Stalled | None = None
        self._cleared = False  # the status table's stall cleared in this session
        self._next_heartbeat = 0.0
        self._head, self._queue_usage = 0, 0.0  # the event store's, as last sampled
        self.ready = False  # connected to both databases at least once in this session
        self.position = 0

    def run(self) -> None:
        """Opens this session's connections, then follows until stopped."""
        with contextlib.ExitStack() as opened:
            self._work = self._connect_read_model()
            opened.callback(self._work.close)
            self._work.autocommit = True
            status_sql.name_session(self._work, f"projector-work {self._identity}")
            store.ensure_rows(self._work, self._name)
            # Folds the next batch (reading the rows it needs) while the work connection writes this one.
            self._planner = self._connect_read_model()
            opened.callback(self._planner.close)
            self._planner.autocommit = True
            status_sql.name_session(self._planner, f"projector-plan {self._identity}")
            status_sql.heartbeat(self._lock, self._name, self._identity, first=True)
            self._listen = db.connect(self._s.event_store, autocommit=True)
            opened.callback(self._listen.close)
            status_sql.name_session(self._listen, f"projector-listen {self._identity}")
            # LISTEN before the first read: an event committed after it wakes us, one committed
            # before it is found by the read. Nothing falls between the two.
            events_sql.listen(self._listen)
            self._reader = db.connect(self._s.event_store, autocommit=True)
            opened.callback(self._reader.close)
            status_sql.name_session(self._reader, f"projector-read {self._identity}")
            self._source = EventSource.open(self._s.event_store, self._s.key_store, self._reader)
            opened.callback(self._source.close)
            # Each wake-up reads and commits in threads of its own; kept for the session, they are
            # shut down (waiting for work in flight) before the connections they use close.
            self._reading = opened.enter_context(ThreadPoolExecutor(max_workers=1, thread_name_prefix="prefetch"))
            self._committing = opened.enter_context(ThreadPoolExecutor(max_workers=1, thread_name_prefix="commit"))
            self.position = store.checkpoint(self._work, self._name)[0]
            self.ready = True
            log.info(
                "leading: catching up from checkpoint %d",
                self.position,
                extra={"checkpoint": self.position, "identity": self._identity},
            )
            # Catching up is healthy progress: a long backlog must not fail a liveness probe.
            self._set_serving(True)
            metrics.CHECKPOINT.set(self.position)
            self._follow()

    def _follow(self) -> None:
        backoff = Backoff(self._s.poll_interval, self._s.retry_max)
        woken, next_poll, retry_at = True, 0.0, 0.0  # woken: catch up at once after LISTEN (and reconnects)
        while not self._stopping():
            now = time.monotonic()
            if self._stalled is not None:
                # Notifications do not hurry a retry (they would hammer a bad event); a skip does.
                due = now >= retry_at or self._skip_recorded()
            else:
                due = woken or now >= next_poll
            if due:
                next_poll = now + self._s.poll_interval
                try:
                    self._catch_up()
                    self._resume()
                    backoff.reset()
                except Stalled as exc:
                    self._stall(exc)
                    retry_at = time.monotonic() + backoff.next()
            self._heartbeat()
            wake_at = min(next_poll, self._next_heartbeat, retry_at if self._stalled else next_poll)
            # A notification only wakes us; the loop then reads the table. A lost one costs at most
            # one poll interval.
            timeout = max(wake_at - time.monotonic(), 0.01)
            woken = bool(list(self._listen.notifies(timeout=timeout, stop_after=1)))

    def _catch_up(self) -> None:
        """Applies batches until the store has no more events after the checkpoint."""
        started = time.monotonic()
        done, report_at = 0, started + PROGRESS_EVERY_SECONDS
        pipeline = Pipeline(
            self._planner, self._work, self._name, self._s.read_model.schema, around=_traced, pool=self._committing
        )

        def committed(plan: Plan, seconds: float) -> None:
            nonlocal done, report_at
            observe_batch(plan, seconds)
            self.position = plan.position
            self._heartbeat()
            done += len(plan.log) + plan.skipped_unknown + plan.skipped_operator
            if time.monotonic() >= report_at:
                report_at = time.monotonic() + PROGRESS_EVERY_SECONDS
                self._report(done, started)

        read = prefetch.batches(self._source.read, self.position, self._s.batch_size, pool=self._reading)
        with contextlib.closing(read) as stream:
            try:
                pipeline.run(itertools.takewhile(lambda _: not self._stopping(), stream), self.position, committed)
            except Stalled as exc:
                self.position = exc.reached
                metrics.CHECKPOINT.set(self.position)
                raise
        if self._stopping():
            return
        # The last read found the store's end (a short or empty batch): no lag at this instant,
        # without waiting for the next sample.
        self._head = max(self._head, self.position)
        observe_store(events_sql.Sample(self._head, 0.0, self._queue_usage), self.position)

    def _report(self, done: int, started: float) -> None:
        """Logs a long catch-up's progress: events done, rate, and time left."""
        _, remaining, _ = events_sql.lag(self._reader, self.position)
        rate = done / max(time.monotonic() - started, 1e-6)
        log.info(
            "catching up: %d events applied, %.0f events/s, %d to go, about %.0f s left",
            done,
            rate,
            remaining,
            remaining / max(rate, 1e-6),
            extra={"checkpoint": self.position, "events_done": done, "rate": round(rate), "remaining": remaining},
        )

    def _skip_recorded(self) -> bool:
        stalled = self._stalled
        assert stalled is not None
        return bool(
            store.operator_skips(
                self._work, self._s.read_model.schema, self._name, stalled.position - 1, stalled.position
            )
        )

    def _stall(self, exc: Stalled) -> None:
        if self._stalled is None or self._stalled.position != exc.position:
            log.error(
                "stalled: %s; fix it, or skip it with `python -m projector_service skip %d`",
                exc,
                exc.position,
                extra={"position": exc.position, "reason": exc.reason, "checkpoint": exc.reached},
            )
            status_sql.record_stall(self._work, self._name, exc.position, str(exc))
        else:
            log.warning(
                "still stalled at position %d", exc.position, extra={"position": exc.position, "reason": exc.reason}
            )
        self._stalled = exc
        metrics.STALLED.set(1)
        metrics.STALLED_POSITION.set(exc.position)
        self._set_serving(False)

    def _resume(self) -> None:
        if self._stalled is not None:
            log.info(
                "resumed after the stall at position %d",
                self._stalled.position,
                extra={"position": self._stalled.position, "checkpoint": self.position},
            )
        if self._stalled is not None or not self._cleared:
            # Also once per session: a stall recorded before a restart may have been skipped since.
            status_sql.clear_stall(self._work, self._name)
            self._stalled, self._cleared = None, True
            metrics.STALLED.set(0)
            metrics.STALLED_POSITION.set(0)
        self._set_serving(True)

    def _heartbeat(self) -> None:
        now = time.monotonic()
        if now >= self._next_heartbeat:
            # On the lock's connection: if that connection is gone, so is the lock, and this raises.
            status_sql.heartbeat(self._lock, self._name, self._identity)
            status_sql.record_store_head(self._lock, self._reader, self._name)
            self._next_heartbeat = now + self._s.heartbeat_interval
            sample = events_sql.sample(self._reader, self.position)
            self._head, self._queue_usage = sample.head, sample.notification_queue_usage
            observe_store(sample, self.position)

    def _set_serving(self, serving: bool) -> None:
        if serving != self._serving:
            self._health.set(serving)
            self._serving = serving


def _traced(plan: Plan) -> contextlib.AbstractContextManager[Any]:
    """One span per applied event around the commit of its batch, when tracing is on."""
    work = [(row.correlation_id, {"position": row.position}) for row in plan.log] if tracing.enabled() else []
    return tracing.spans("projector.apply", work)


def observe_batch(plan: Plan, seconds: float) -> None:
    """Counts a committed batch; logs each applied event at DEBUG with its correlation id and position."""
    metrics.BATCH_SECONDS.observe(seconds)
    metrics.APPLIED.inc(len(plan.log))
    metrics.UNKNOWN_SKIPPED.inc(plan.skipped_unknown)
    metrics.OPERATOR_SKIPPED.inc(plan.skipped_operator)
    metrics.CHECKPOINT.set(plan.position)
    if log.isEnabledFor(logging.DEBUG):
        for row in plan.log:
            log.debug(
                "applied %s",
                TYPE_NAMES.get(row.type, row.type),
                extra={"correlation_id": row.correlation_id, "position": row.position, "user_id": row.user_id},
            )


def observe_store(sample: events_sql.Sample, checkpoint: int) -> None:
    """Sets the head, lag and NOTIFY-queue gauges from one sample of the event store."""
    metrics.STORE_HEAD.set(sample.head)
    metrics.LAG_EVENTS.set(max(sample.head - checkpoint, 0))
    metrics.LAG_SECONDS.set(sample.lag_seconds)
    metrics.NOTIFY_QUEUE.set(sample.notification_queue_usage)
