"""The pipeline against real PostgreSQL: batch N+1 folded while N commits, same result as one batch after another."""

from __future__ import annotations

import contextlib
import random
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from eventkit import db
from eventkit.config import Database
from projector_service import events_sql, prefetch, store
from projector_service.applier import Fenced, Stalled, apply_batch
from projector_service.fold import Plan
from projector_service.pipeline import Pipeline
from tests.support.projector import (
    DirectWriter,
    insert_events,
    migrated_read_model,
    prepare_event_store,
    read_model_content,
    replay,
)

NAME = "users"


def run(event_store: Database, read_model: Database, size: int, start: int = 0) -> tuple[int, list[Plan]]:
    """Runs one pipeline over the whole store in batches of `size`; returns its position and the plans committed."""
    committed: list[Plan] = []
    with (
        migrated_read_model(read_model, NAME) as writer,
        db.connect(read_model, autocommit=True) as planner,
        db.connect(event_store, autocommit=True) as reader,
    ):

        def read(after: int, limit: int, upto: int | None) -> list[Any]:
            return events_sql.read_events(reader, after, limit, upto)

        with contextlib.closing(prefetch.batches(read, start, size)) as stream:
            pipeline = Pipeline(planner, writer, NAME, read_model.schema)
            position = pipeline.run(stream, start, lambda plan, _: committed.append(plan))
    return position, committed


def added_users(event_store: Database, count: int) -> list[Any]:
    """Stores `count` UserAdded events of distinct users; returns the first 10 as read back."""
    prepare_event_store(event_store)
    with db.connect(event_store, autocommit=True) as conn:
        insert_events(conn, [(str(uuid.uuid4()), 1, "UserAdded", {"name": f"user {i}"}) for i in range(count)])
        return events_sql.read_events(conn, 0, 10)


def test_batches_folded_while_the_one_before_commits_give_the_read_model_a_replay_gives(
    event_store: Database, read_model: Database
) -> None:
    prepare_event_store(event_store)
    writer = DirectWriter(random.Random(11), sealed=False)
    with db.connect(event_store, autocommit=True) as conn:
        for _ in range(30):
            writer.append(conn, 100)  # few users, many edits and deletions: most batches touch the last one's users
    position, committed = run(event_store, read_model, 37)
    expected = replay(event_store)
    actual = read_model_content(read_model)
    assert position == expected.checkpoint == actual.checkpoint
    assert (actual.log, actual.users) == (expected.log, expected.users)
    assert [plan.position for plan in committed] == sorted({plan.position for plan in committed})
    assert len(committed) == -(-3000 // 37)


def test_a_pipeline_whose_checkpoint_another_projector_moved_is_fenced_and_writes_nothing(
    event_store: Database, read_model: Database
) -> None:
    first = added_users(event_store, 100)
    with migrated_read_model(read_model, NAME) as other:
        apply_batch(other, NAME, read_model.schema, first, 0)  # another leader got there first
        with pytest.raises(Fenced):
            run(event_store, read_model, 10)  # believes the checkpoint is still 0
        assert other.execute("SELECT count(*) FROM event_log").fetchone() == (10,)
        assert store.checkpoint(other, NAME)[0] == first[-1].position


def test_a_malformed_event_in_a_later_batch_stalls_after_committing_everything_before_it(
    event_store: Database, read_model: Database
) -> None:
    prepare_event_store(event_store)
    rows: list[tuple[str, int, str, Any]] = [(str(uuid.uuid4()), 1, "UserAdded", {"name": f"u{i}"}) for i in range(25)]
    rows.insert(17, (str(uuid.uuid4()), 1, "UserAdded", {}))  # no name: cannot be applied
    with db.connect(event_store, autocommit=True) as conn:
        positions = insert_events(conn, rows)
    with pytest.raises(Stalled) as stalled:
        run(event_store, read_model, 5)
    assert (stalled.value.position, stalled.value.reached) == (positions[17], positions[16])
    with migrated_read_model(read_model, NAME) as conn:
        assert store.checkpoint(conn, NAME)[0] == positions[16]
        assert conn.execute("SELECT count(*) FROM users").fetchone() == (17,)


def test_on_a_kept_pool_an_error_goes_up_only_once_the_commit_in_flight_has_ended(
    event_store: Database, read_model: Database
) -> None:
    first = added_users(event_store, 20)
    raising, order = threading.Event(), list[str]()

    def failing_read() -> Iterator[list[Any]]:
        yield first
        raising.set()
        raise RuntimeError("the event store went away")

    @contextlib.contextmanager
    def held(_: Plan) -> Iterator[None]:
        # The commit runs on until the next read has failed: the error meets a commit in flight.
        assert raising.wait(timeout=10)
        yield
        order.append("committed")

    with (
        migrated_read_model(read_model, NAME) as writer,
        db.connect(read_model, autocommit=True) as planner,
        ThreadPoolExecutor(max_workers=1) as pool,
    ):
        pipeline = Pipeline(planner, writer, NAME, read_model.schema, around=held, pool=pool)
        with pytest.raises(RuntimeError, match="went away"):
            pipeline.run(failing_read(), 0, lambda plan, _: None)
        order.append("raised")
        # The pool outlives the run, so nothing else would have waited for the commit: run() did.
        assert order == ["committed", "raised"]
        assert store.checkpoint(writer, NAME)[0] == first[-1].position
