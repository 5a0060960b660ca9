"""One batch against real PostgreSQL, written in one round trip or by COPY: atomic with its checkpoint, fenced by compare-and-set (its events' content: test_projector_batch_events)."""

from __future__ import annotations

import threading
import uuid
from typing import NamedTuple

import psycopg
import pytest

from eventkit import db
from eventkit.channels import PROJECTED_CHANNEL
from eventkit.codec import RecordedEvent
from eventkit.config import Database
from projector_service import batch_sql, store
from projector_service.applier import Fenced, apply_batch, commit_plan
from projector_service.fold import fold_batch
from tests.support.projector import appended, migrated_read_model
from tests.support.protocol import frontend_messages, round_trips
from tests.support.waiting import wait_until

NAME = "users"


class Size(NamedTuple):
    """A batch's size, which decides how it is written (batch_sql.fits_one_trip): a few events in one round trip, more by COPY."""

    users: int
    in_one_trip: bool


@pytest.fixture(params=[Size(1, True), Size(40, False)], ids=["one-trip", "copy"])
def size(request: pytest.FixtureRequest) -> Size:
    """Runs a test once with each way of writing a batch."""
    return request.param


def added_and_edited(event_store: Database, size: Size, extra: int = 0) -> tuple[list[str], list[RecordedEvent]]:
    """Appends UserAdded then UserEdited for size.users (+ extra) new users; returns their ids and the events.

    Checks that the events, as one batch from checkpoint 0, are written the way `size` says.
    """
    ids = [str(uuid.uuid4()) for _ in range(size.users + extra)]
    rows = [(user, 1, "UserAdded", {"name": f"user {i}"}) for i, user in enumerate(ids)]
    rows += [(user, 2, "UserEdited", {"name": f"renamed {i}"}) for i, user in enumerate(ids)]
    events = appended(event_store, rows)
    if not extra:
        assert batch_sql.fits_one_trip(fold_batch(events, 0, {}, set())) is size.in_one_trip
    return ids, events


def test_a_batch_commits_with_its_checkpoint_and_notifies_the_new_position_at_commit(
    event_store: Database, read_model: Database, size: Size
) -> None:
    ids, events = added_and_edited(event_store, size)
    with migrated_read_model(read_model, NAME) as conn, db.connect(read_model, autocommit=True) as listener:
        listener.execute(f"LISTEN {PROJECTED_CHANNEL}")
        plan = apply_batch(conn, NAME, read_model.schema, events, 0)
        (note,) = list(listener.notifies(timeout=10, stop_after=1))  # run out: a paused generator holds the connection
        assert note.payload == str(plan.position) == str(events[-1].position)
        assert store.checkpoint(conn, NAME) == (events[-1].position, 0)
        found = {row[0]: row[1:] for row in conn.execute("SELECT id::text, name, version, name_key FROM users")}
        assert found == {user: (f"renamed {i}", 2, f"renamed {i}") for i, user in enumerate(ids)}
        logged = conn.execute(
            "SELECT position, user_id::text, version, name FROM event_log ORDER BY position"
        ).fetchall()
        assert logged == [(e.position, e.stream_id, e.version, e.data["name"]) for e in events]


def test_a_batch_of_a_few_events_is_written_in_one_round_trip_and_a_larger_one_by_copy(
    event_store: Database, read_model: Database, size: Size
) -> None:
    _, events = added_and_edited(event_store, size)
    plan = fold_batch(events, 0, {}, set())
    with migrated_read_model(read_model, NAME) as conn:
        sent = frontend_messages(conn, lambda: commit_plan(conn, NAME, plan, 0))
        assert store.checkpoint(conn, NAME)[0] == events[-1].position
    trips = round_trips(sent)
    if size.in_one_trip:
        # The lock first, the rows, the announcement, the checkpoint last; BEGIN and COMMIT travel with them.
        assert trips == [["BEGIN", "SELECT", "INSERT", "INSERT", "SELECT", "UPDATE", "COMMIT"]], sent
    else:
        assert len(trips) > 1 and "COPY" in [statement for trip in trips for statement in trip], sent


def test_a_batch_over_rows_already_there_merges_and_deletes_them(
    event_store: Database, read_model: Database, size: Size
) -> None:
    ids, first = added_and_edited(event_store, size, extra=2)  # at least one user kept and one deleted
    kept, dropped = ids[: len(ids) // 2], ids[len(ids) // 2 :]
    rows = [(user, 3, "UserEdited", {"name": f"again {i}"}) for i, user in enumerate(kept)]
    rows += [(user, 3, "UserDeleted", {}) for user in dropped]
    events = appended(event_store, rows)[len(first) :]
    existing = {row.id: row for row in fold_batch(first, 0, {}, set()).upserts}
    assert batch_sql.fits_one_trip(fold_batch(events, first[-1].position, existing, set())) is size.in_one_trip
    with migrated_read_model(read_model, NAME) as conn:
        apply_batch(conn, NAME, read_model.schema, first, 0)
        apply_batch(conn, NAME, read_model.schema, events, first[-1].position)
        found = dict(conn.execute("SELECT id::text, name FROM users").fetchall())
        assert found == {user: f"again {i}" for i, user in enumerate(kept)}
        assert store.checkpoint(conn, NAME) == (events[-1].position, 0)


def test_a_batch_applied_inside_the_callers_transaction_stays_in_it(
    event_store: Database, read_model: Database, size: Size
) -> None:
    # The rebuild's switch applies its last batches inside the transaction that swaps the tables:
    # a batch must not commit that transaction, whatever its size.
    _, events = added_and_edited(event_store, size)
    with migrated_read_model(read_model, NAME) as conn:
        with pytest.raises(RuntimeError, match="rolled back"), conn.transaction():
            apply_batch(conn, NAME, read_model.schema, events, 0)
            assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
            raise RuntimeError("rolled back")
        assert store.checkpoint(conn, NAME) == (0, 0)
        assert conn.execute("SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM event_log)").fetchone() == (
            0,
            0,
        )


def test_a_projector_whose_checkpoint_moved_is_fenced_and_changes_nothing(
    event_store: Database, read_model: Database, size: Size
) -> None:
    _, events = added_and_edited(event_store, size)
    with (
        migrated_read_model(read_model, NAME) as leader,
        migrated_read_model(read_model, NAME) as former_leader,
        db.connect(read_model, autocommit=True) as listener,
    ):
        apply_batch(leader, NAME, read_model.schema, events, 0)
        leader.execute("UPDATE users SET name = 'changed since'")
        listener.execute(f"LISTEN {PROJECTED_CHANNEL}")
        with pytest.raises(Fenced):
            apply_batch(former_leader, NAME, read_model.schema, events, 0)  # it still believes the checkpoint is 0
        assert leader.execute("SELECT count(*) FROM event_log").fetchone() == (len(events),)
        assert leader.execute("SELECT DISTINCT name FROM users").fetchall() == [("changed since",)]
        assert store.checkpoint(leader, NAME) == (events[-1].position, 0)
        # Notifications arrive in commit order: a marker sent after the fenced batch's commit comes
        # first only if that batch announced nothing.
        leader.execute("SELECT pg_notify(%s, 'marker')", [PROJECTED_CHANNEL])
        assert [note.payload for note in listener.notifies(timeout=10, stop_after=1)] == ["marker"]


def test_of_two_projectors_racing_on_one_checkpoint_only_the_first_applies(
    event_store: Database, read_model: Database, size: Size
) -> None:
    _, events = added_and_edited(event_store, size)
    with migrated_read_model(read_model, NAME) as first, migrated_read_model(read_model, NAME) as second:
        outcome: list[BaseException | None] = []

        def race() -> None:
            try:
                apply_batch(second, NAME, read_model.schema, events, 0)
                outcome.append(None)
            except BaseException as exc:
                outcome.append(exc)

        with first.transaction():
            assert store.lock_checkpoint(first, NAME) == 0
            racer = threading.Thread(target=race)
            racer.start()
            # The second projector now waits on the checkpoint row that the first holds.
            wait_until(
                lambda: (
                    first.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
                    ).fetchone()[0]
                    == 1
                ),
                30,
                message="the second projector blocked on the checkpoint row",
            )
            batch_sql.write_plan(first, NAME, fold_batch(events, 0, {}, set()))
        racer.join(30)
        assert isinstance(outcome[0], Fenced)
        assert first.execute("SELECT count(*) FROM event_log").fetchone() == (len(events),)


def test_a_batch_whose_session_is_killed_mid_write_leaves_nothing_and_is_applied_once_by_the_next(
    event_store: Database, read_model: Database, size: Size
) -> None:
    blocked_in = "INSERT INTO even" if size.in_one_trip else 'COPY "event_log"'  # pg_stat_activity's left(query, 16)
    ids, events = added_and_edited(event_store, size)
    with (
        migrated_read_model(read_model, NAME) as blocker,
        migrated_read_model(read_model, NAME) as doomed,
        db.connect(read_model, autocommit=True) as watcher,
    ):
        pid = doomed.info.backend_pid
        failure: list[BaseException] = []

        def apply() -> None:
            try:
                apply_batch(doomed, NAME, read_model.schema, events, 0)
            except BaseException as exc:
                failure.append(exc)

        with blocker.transaction():
            # The log's rows come after the users': holding the log blocks the batch there, with
            # half its rows written inside its open transaction.
            blocker.execute("LOCK TABLE event_log IN SHARE MODE")
            worker = threading.Thread(target=apply)
            worker.start()
            wait_until(
                lambda: (
                    # From another session: pg_stat_activity is read once per transaction.
                    watcher.execute(
                        "SELECT wait_event_type, left(query, 16) FROM pg_stat_activity WHERE pid = %s", [pid]
                    ).fetchone()
                    == ("Lock", blocked_in)
                ),
                30,
                message="the batch blocked writing the event log",
            )
            watcher.execute("SELECT pg_terminate_backend(%s)", [pid])
            worker.join(30)
        assert failure and isinstance(failure[0], psycopg.OperationalError)
    with migrated_read_model(read_model, NAME) as conn:
        assert store.checkpoint(conn, NAME)[0] == 0
        assert conn.execute("SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM event_log)").fetchone() == (
            0,
            0,
        )
        apply_batch(conn, NAME, read_model.schema, events, 0)  # the next projector, from the same checkpoint
        assert store.checkpoint(conn, NAME)[0] == events[-1].position
        logged = [row[0] for row in conn.execute("SELECT position FROM event_log ORDER BY position")]
        assert logged == [e.position for e in events]
        names = dict(conn.execute("SELECT id::text, name FROM users").fetchall())
        assert names == {user: f"renamed {i}" for i, user in enumerate(ids)}
