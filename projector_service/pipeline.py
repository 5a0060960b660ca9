"""Applies a run of batches with the next one folded while this one is written, on two read-model connections."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

from eventkit.codec import RecordedEvent
from projector_service import store
from projector_service.applier import Carried, Stalled, carried_by, commit_plan, plan_batch
from projector_service.fold import Plan

# Called in the caller's thread after each batch has committed: the plan and how long its write took.
Committed = Callable[[Plan, float], None]
# Returns a context (a tracing span, say) that each plan's commit runs in.
Around = Callable[[Plan], contextlib.AbstractContextManager[Any]]


class Pipeline:
    """Folds batch N+1 (reads on `planner`) while batch N commits (on `writer`, in a thread of its own).

    Python's fold and PostgreSQL's writes overlap instead of waiting for each other. Batch N+1 is
    folded over the rows batch N leaves (carried in memory), never over rows read while N is in
    flight; every other user it reads is one N does not touch. Each commit still locks and compares
    the checkpoint, so a fenced batch writes nothing and the batches after it are dropped unwritten.
    """

    def __init__(
        self,
        planner: store.Conn,
        writer: store.Conn,
        name: str,
        live_schema: str,
        around: Around | None = None,
        pool: ThreadPoolExecutor | None = None,
    ) -> None:
        self._planner, self._writer = planner, writer
        self._name, self._live_schema = name, live_schema
        self._around = around
        # One worker that commits; a caller that runs often passes one it keeps (see prefetch.batches).
        self._pool = pool

    def run(self, batches: Iterable[list[RecordedEvent]], start: int, committed: Committed) -> int:
        """Applies the batches in order from checkpoint `start`; returns the position the last commit reached.

        Raises Fenced or a database error (a commit still running is waited for first), or Stalled
        after committing the events before the one that cannot be applied.
        """
        position, carried = start, Carried()
        last: Plan | None = None
        with contextlib.ExitStack() as owned:
            pool = self._pool or owned.enter_context(ThreadPoolExecutor(max_workers=1, thread_name_prefix="commit"))
            pending: tuple[Plan, Future[float]] | None = None
            try:
                for events in batches:
                    plan = plan_batch(self._planner, self._name, self._live_schema, events, position, carried)
                    if pending is not None:
                        committed(pending[0], pending[1].result())
                    pending = (plan, pool.submit(self._commit, plan, position))
                    position, carried = plan.position, carried_by(plan)
                    if plan.malformed is not None:
                        break
                if pending is not None:
                    last, commit, pending = pending[0], pending[1], None
                    committed(last, commit.result())
            finally:
                if pending is not None:
                    wait([pending[1]])  # an error goes up once the commit in flight has ended
        if last is not None and last.malformed is not None:
            raise Stalled(last.malformed[0], last.malformed[1], last.position)
        return position

    def _commit(self, plan: Plan, expected: int) -> float:
        started = time.perf_counter()
        with self._around(plan) if self._around else contextlib.nullcontext():
            commit_plan(self._writer, self._name, plan, expected)
        return time.perf_counter() - started
