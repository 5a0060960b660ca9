"""The Core issue's ordering race, run through the projector: racing writers, rollbacks, an insert held open."""

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
    prepare_event_store,
    read_model_content,
    replay,
    start_projector,
    wait_caught_up,
)
from tests.support.waiting import wait_until

WRITERS = 8
TRANSACTIONS = 25
ROUNDS = 3


def waiting_on_the_append_lock(event_store: Database) -> int:
    with db.connect(event_store, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock' AND wait_event = 'advisory'"
        ).fetchone()
    return row[0] if row else 0


def race(event_store: Database, seed: int, rolled_back: list[int], errors: list[BaseException]) -> None:
    """Appends small transactions, a quarter of them rolled back after drawing their positions."""
    rng = random.Random(seed)
    writer = DirectWriter(rng)
    try:
        with db.connect(event_store, autocommit=True) as conn:
            for _ in range(TRANSACTIONS):
                rollback = rng.random() < 0.25
                positions = writer.append(conn, rng.randint(1, 5), rollback=rollback)
                if rollback:
                    rolled_back.extend(positions)
    except BaseException as exc:
        errors.append(exc)


def test_no_event_is_skipped_when_writers_race_roll_back_and_one_insert_is_held_open(
    services: Callable[..., ServiceProcess], event_store: Database, read_model: Database
) -> None:
    prepare_event_store(event_store)
    start_projector(services, event_store, read_model, PROJECTOR_POLL_INTERVAL_SECONDS="0.05")
    rolled_back: list[int] = []
    errors: list[BaseException] = []
    for round_ in range(ROUNDS):
        with db.connect(event_store) as held:
            # This transaction draws a position and stays open while the racing writers pile up.
            held_positions = DirectWriter(random.Random(round_)).append_open(held, 3)
            writers = [
                threading.Thread(target=race, args=(event_store, round_ * 100 + n, rolled_back, errors))
                for n in range(WRITERS)
            ]
            for thread in writers:
                thread.start()
            wait_until(
                lambda: waiting_on_the_append_lock(event_store) >= WRITERS // 2,
                60,
                message="writers queued behind the open insert",
            )
            assert checkpoint(read_model) < min(held_positions)
            held.commit()
        for thread in writers:
            thread.join(120)
    assert not errors, errors
    wait_caught_up(event_store, read_model, 60)
    expected, actual = replay(event_store), read_model_content(read_model)
    assert rolled_back and not set(rolled_back) & set(actual.log)
    assert len(expected.log) > ROUNDS * WRITERS * TRANSACTIONS  # the committed events, several per transaction
    assert set(actual.log) == set(expected.log)  # zero skipped, as set equality with the store
    assert actual.log == expected.log and actual.users == expected.users
