"""The projector SIGKILLed again and again while concurrent writers append: nothing lost, nothing applied twice."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable

from eventkit import db
from eventkit.config import Database
from tests.support.processes import ServiceProcess
from tests.support.projector import (
    DirectWriter,
    checkpoint,
    explained_by,
    prepare_event_store,
    read_model_content,
    replay,
    start_projector,
    wait_caught_up,
)
from tests.support.waiting import wait_until

TOTAL_EVENTS = 20_000
WRITERS = 4
KILLS = 12


class Allowance:
    """How many events the writers may have written so far: the kill loop raises it a step per cycle."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._allowed = 0
        self._taken = 0

    def raise_to(self, allowed: int) -> None:
        with self._cond:
            self._allowed = allowed
            self._cond.notify_all()

    def take(self, wanted: int) -> int:
        """Blocks until some events may be written; returns how many (0 once the total is written)."""
        with self._cond:
            self._cond.wait_for(lambda: self._taken < self._allowed or self._taken >= TOTAL_EVENTS)
            granted = min(wanted, self._allowed - self._taken, TOTAL_EVENTS - self._taken)
            self._taken += max(granted, 0)
            return max(granted, 0)


def write(event_store: Database, allowance: Allowance, seed: int, errors: list[BaseException]) -> None:
    """Appends random batches of 1-40 events (every tenth one rolled back) until the total is written."""
    rng = random.Random(seed)
    writer = DirectWriter(rng)
    try:
        with db.connect(event_store, autocommit=True) as conn:
            while size := allowance.take(rng.randint(1, 40)):
                if rng.random() < 0.1:
                    writer.append(conn, rng.randint(1, 5), rollback=True)  # leaves a gap in the positions
                writer.append(conn, size)
    except BaseException as exc:
        errors.append(exc)


def test_the_read_model_equals_a_fresh_replay_after_the_projector_is_killed_at_random_moments(
    services: Callable[..., ServiceProcess], event_store: Database, read_model: Database
) -> None:
    prepare_event_store(event_store)
    rng = random.Random(20_000)
    allowance, errors = Allowance(), []
    writers = [threading.Thread(target=write, args=(event_store, allowance, seed, errors)) for seed in range(WRITERS)]
    for thread in writers:
        thread.start()
    kills = 0
    try:
        for cycle in range(KILLS):
            allowance.raise_to(TOTAL_EVENTS * (cycle + 1) // KILLS)  # new events for every life
            before = checkpoint(read_model)
            projector = start_projector(services, event_store, read_model, wait=False, PROJECTOR_BATCH_SIZE="100")
            # A random moment to crash at, chosen by progress rather than by time: some number of
            # 100-event batches into this life, so kills land before, between and inside batches.
            target = before + rng.randint(1, TOTAL_EVENTS // KILLS // 2)
            wait_until(lambda: checkpoint(read_model) >= target, 60, 0.005, message="the projector applying batches")
            projector.kill()
            kills += 1
        allowance.raise_to(TOTAL_EVENTS)
        for thread in writers:
            thread.join(120)
        assert not errors, errors
        final = start_projector(services, event_store, read_model)
        with explained_by(final):
            wait_caught_up(event_store, read_model, 120)
    finally:
        allowance.raise_to(TOTAL_EVENTS)
    assert kills >= 10
    expected, actual = replay(event_store), read_model_content(read_model)
    assert len(expected.log) == TOTAL_EVENTS  # every committed event, none of the rolled-back ones
    assert actual.log == expected.log  # each known event's position exactly once, with the right content
    assert actual.users == expected.users
    assert actual.checkpoint == expected.checkpoint
