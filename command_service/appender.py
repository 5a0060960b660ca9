"""Group commit: one writer thread appends the commands that arrive together in one transaction."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import psycopg

from command_service import answers, domain, keyring, metrics, outcomes, store
from command_service.outcomes import Outcome, Pending
from command_service.transaction import Transaction
from eventkit import tracing

log = logging.getLogger(__name__)

# How long a stopping server waits for a cancelled batch to roll back, and for the writer to end.
CANCEL_WAIT_SECONDS = 2.0


@dataclass(frozen=True)
class Timeouts:
    """Bounds on the append path, in seconds: waiting for the append lock, and any one statement."""

    lock: float = 5.0
    statement: float = 10.0


# A unique violation can only come from a writer that bypassed the append lock; the batch is then
# decided again against what that writer committed.
_ATTEMPTS = 3


class Appender:
    """Collects commands from many threads and appends them in batches.

    Why: a durable commit costs a WAL flush, and under the append lock writers queue one behind the
    other. One transaction per batch pays the flush, the lock and the NOTIFY once for every
    command that arrived while the previous batch was committing.
    """

    def __init__(
        self,
        connect: Callable[[], psycopg.Connection[Any]],
        batch_max: int = 256,
        timeouts: Timeouts = Timeouts(),
        keys: keyring.Keyring | None = None,
    ) -> None:
        self._connect = connect
        self._batch_max = batch_max
        self._timeouts = timeouts
        self._keys = keys
        self._transaction = Transaction(keys)
        self._queue: queue.SimpleQueue[Pending | None] = queue.SimpleQueue()
        self._conn: psycopg.Connection[Any] | None = None
        self._head = 0  # the highest position seen, for the head gauge
        self._thread = threading.Thread(target=self._run, name="appender", daemon=True)
        self._lock = threading.Lock()
        self._in_flight: list[Future[Outcome]] = []
        self._settled = threading.Event()
        self._abandoned = False
        self._stuck = False  # the writer is blocked on a database that answered not even the cancel
        self._on_answered: Callable[[list[Future[Outcome]]], None] | None = None

    def on_answered(self, hook: Callable[[list[Future[Outcome]]], None]) -> None:
        """Calls `hook` with the futures of every group of commands just answered (a batch, or a stop's refusals).

        Why: a server on an event loop then learns of a whole batch in one wake-up, not one per command.
        """
        self._on_answered = hook

    def _answer(self, answered: list[tuple[Future[Outcome], Outcome | BaseException]]) -> None:
        for future, answer in answered:
            answers.resolve(future, answer)
        if self._on_answered is not None and answered:
            self._on_answered([future for future, _ in answered])

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = CANCEL_WAIT_SECONDS) -> None:
        """Finishes the batches already queued (for up to `timeout` seconds), then closes the connection."""
        self._queue.put(None)
        self._thread.join(0 if self._stuck else timeout)
        left: list[tuple[Future[Outcome], Outcome | BaseException]] = []
        while True:  # commands queued behind the stop are answered, never left waiting
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                left.append((item.future, answers.refused()))
        self._answer(left)
        if not self._thread.is_alive() and self._conn is not None:
            # Closed only by its own thread's end: a connection blocked in a call is never closed under it.
            self._conn.close()
        if self._keys is not None:
            self._keys.close()

    def abandon(self) -> None:
        """Ends the work of a stopping server: queued commands and the batch in flight answer UNAVAILABLE.

        The batch in flight is cancelled in the database first, and answered only once its rollback
        is confirmed, so it never commits after its callers were told UNAVAILABLE. Only when the
        database does not even answer the cancel are its callers told that the outcome is unknown.
        """
        self._abandoned = True
        with self._lock:
            batch, conn = list(self._in_flight), self._conn
            self._settled.clear()
        if not batch:
            return
        if conn is not None:
            try:
                conn.cancel_safe(timeout=CANCEL_WAIT_SECONDS)
            except Exception as exc:  # unreachable or hung: what follows still bounds the stop
                log.warning("cancelling the batch in flight failed", extra={"error": str(exc).strip()})
        if not self._settled.wait(CANCEL_WAIT_SECONDS):
            self._stuck = True
            log.warning("the event store does not answer; batch outcome unknown", extra={"commands": len(batch)})
            self._answer([(future, answers.outcome_unknown()) for future in batch])

    def submit(self, command: domain.Command, correlation_id: str | None = None) -> Future[Outcome]:
        """Queues a command (its event keeps `correlation_id`); the future gives its Outcome or raises its DomainError."""
        future: Future[Outcome] = Future()
        if self._abandoned:
            future.set_exception(answers.refused())
        else:
            self._queue.put(Pending(command, future, correlation_id))
        return future

    def _run(self) -> None:
        try:
            self._connection()  # now, not at the first command: the head gauge is right from the start
        except Exception as exc:  # whatever it is, the first batch meets it again and answers for it
            log.warning("event store not ready at start", extra={"error": str(exc).strip()})
            self._discard_connection()
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                return
            pending = [first]
            while len(pending) < self._batch_max:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                pending.append(item)
            if self._abandoned:
                self._answer([(item.future, answers.refused()) for item in pending])
            else:
                self._settle(pending)

    def _settle(self, pending: list[Pending]) -> None:
        commands = [item.command for item in pending]
        metrics.BATCH_SIZE.observe(len(commands))
        started = time.perf_counter()
        with self._lock:
            self._in_flight = [item.future for item in pending]
        results: list[Outcome | BaseException]
        # One span per command, each in its command's trace, all around the one transaction.
        traced = [(item.correlation_id, {"command": type(item.command).__name__}) for item in pending]
        try:
            with tracing.spans("command.append", traced if tracing.enabled() else []):
                results = self._append(commands, [item.correlation_id for item in pending])
        except (psycopg.errors.QueryCanceled, psycopg.errors.LockNotAvailable) as exc:
            # A timeout, or the cancel of a stopping server: the server rolled the transaction back.
            log.warning("append cancelled", extra={"error": str(exc).strip()})
            results = [answers.timed_out() for _ in pending]
        except psycopg.OperationalError as exc:
            # The outcome of a commit cut off mid-way is unknown; request ids make the retry safe.
            log.warning("event store unreachable", extra={"error": str(exc).strip()})
            self._discard_connection()
            results = [answers.unreachable() for _ in pending]
        except Exception as exc:
            log.exception("append failed")
            self._discard_connection()
            results = [exc] * len(pending)
        metrics.BATCH_SECONDS.observe(time.perf_counter() - started)
        for item, answer in zip(pending, results):
            outcomes.record(item, answer)
            if isinstance(answer, Outcome):
                self._saw(answer.position)
        self._answer([(item.future, answer) for item, answer in zip(pending, results)])
        with self._lock:
            self._in_flight = []
            self._settled.set()

    def _append(
        self, commands: list[domain.Command], correlation_ids: list[str | None]
    ) -> list[Outcome | BaseException]:
        for attempt in range(_ATTEMPTS):
            try:
                return list(self._transaction.run(self._connection(), commands, correlation_ids))
            except psycopg.errors.UniqueViolation:
                if attempt == _ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            conn = self._connect()
            conn.autocommit = True  # transactions are explicit, or one statement long
            store.limit_waits(conn, self._timeouts.lock, self._timeouts.statement)
            self._conn = conn
            self._saw(store.head(conn))
        return self._conn

    def _saw(self, position: int) -> None:
        if position > self._head:
            self._head = position
            metrics.STORE_HEAD.set(position)

    def _discard_connection(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
