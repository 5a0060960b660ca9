"""The event store's own guarantees, checked on a real PostgreSQL: order, immutability, NOTIFY, migrations."""

from __future__ import annotations

import random
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from eventkit import db, migrations
from eventkit.channels import EVENTS_CHANNEL
from eventkit.config import Database
from tests.support.waiting import wait_until

INSERT = "INSERT INTO events (stream_id, version, type, data) VALUES (%s, 1, 'UserAdded', %s) RETURNING position"


@pytest.fixture
def store(event_store: Database) -> Database:
    with db.connect(event_store) as conn:
        migrations.apply(conn, "event_store", event_store.schema)
    return event_store


def insert_one(conn: psycopg.Connection[Any]) -> int:
    return conn.execute(INSERT, [uuid.uuid4(), Jsonb({"name": "n"})]).fetchone()[0]


class Follower:
    """Reads 'everything after my checkpoint' in a loop, as a projector would, and remembers what it saw."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.checkpoint = 0
        self.seen: list[int] = []

    def poll(self) -> None:
        with db.connect(self.database, autocommit=True) as conn:
            rows = conn.execute("SELECT position FROM events WHERE position > %s ORDER BY position", [self.checkpoint])
            for (position,) in rows:
                self.seen.append(position)
                self.checkpoint = position


def committed_positions(database: Database) -> set[int]:
    with db.connect(database) as conn:
        return {row[0] for row in conn.execute("SELECT position FROM events")}


def test_a_follower_misses_nothing_under_racing_writers_rollbacks_and_a_held_transaction(store: Database) -> None:
    follower = Follower(store)
    done = threading.Event()
    rng = random.Random(7)

    def writer(seed: int) -> None:
        local = random.Random(seed)
        with db.connect(store) as conn:
            for _ in range(60):
                with conn.transaction(force_rollback=local.random() < 0.25):
                    for _ in range(local.randint(1, 3)):
                        insert_one(conn)

    def follow() -> None:
        while not done.is_set():
            follower.poll()

    # One transaction takes a position and stays open while the other writers run.
    held = db.connect(store)
    held_position = insert_one(held)
    follower_thread = threading.Thread(target=follow)
    follower_thread.start()
    with ThreadPoolExecutor(8) as pool:
        writers = [pool.submit(writer, rng.randrange(1 << 30)) for _ in range(8)]
        follower.poll()
        assert held_position not in follower.seen
        held.commit()
        held.close()
        for finished in writers:
            finished.result()
    done.set()
    follower_thread.join()
    follower.poll()

    committed = committed_positions(store)
    assert held_position in committed
    assert set(follower.seen) == committed
    assert len(follower.seen) == len(committed)
    assert follower.seen == sorted(follower.seen)


def test_a_later_writer_waits_for_an_open_append_so_positions_become_visible_in_order(store: Database) -> None:
    follower = Follower(store)
    first = db.connect(store)
    first_position = insert_one(first)
    second_result: list[int] = []
    second = threading.Thread(target=lambda: second_result.append(insert_one_committed(store)))
    second.start()
    wait_until(lambda: lock_waiters(store) >= 1, timeout=30, message="the second writer to queue on the append lock")
    follower.poll()
    assert follower.seen == []
    first.commit()
    first.close()
    second.join(30)
    follower.poll()
    assert follower.seen == [first_position, second_result[0]]
    assert second_result[0] > first_position


def insert_one_committed(database: Database) -> int:
    with db.connect(database) as conn:
        position = insert_one(conn)
        conn.commit()
        return position


def lock_waiters(database: Database) -> int:
    with db.connect(database, autocommit=True) as conn:
        return conn.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted").fetchone()[0]


def test_without_the_append_lock_a_follower_would_skip_an_event(store: Database) -> None:
    """The control experiment: it shows the race the lock exists for is real, so the tests above can fail."""
    with db.connect(store) as conn:
        conn.execute("ALTER TABLE events DISABLE TRIGGER events_append_lock")
        conn.commit()
    follower = Follower(store)
    slow = db.connect(store)
    skipped = insert_one(slow)
    insert_one_committed(store)
    follower.poll()
    slow.commit()
    slow.close()
    follower.poll()
    assert skipped not in follower.seen
    assert skipped in committed_positions(store)


@pytest.mark.parametrize("statement", ["UPDATE events SET type = 'X'", "DELETE FROM events", "TRUNCATE events"])
def test_events_are_immutable_in_the_database_itself(store: Database, statement: str) -> None:
    insert_one_committed(store)
    with (
        db.connect(store) as conn,
        pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState, match="events are immutable"),
    ):
        conn.execute(statement)


def test_an_appending_transaction_sends_one_small_notification_however_many_events(store: Database) -> None:
    with db.connect(store, autocommit=True) as listener:
        listener.execute(f"LISTEN {EVENTS_CHANNEL}")
        with db.connect(store) as writer:
            for _ in range(3):
                insert_one(writer)
            writer.execute(INSERT.replace("RETURNING position", ""), [uuid.uuid4(), Jsonb({"name": "x" * 10000})])
            writer.commit()
        received = list(listener.notifies(timeout=2))
    assert len(received) == 1
    assert received[0].channel == EVENTS_CHANNEL and received[0].payload == ""


def test_versions_are_unique_per_stream(store: Database) -> None:
    stream = uuid.uuid4()
    with db.connect(store) as conn:
        conn.execute(INSERT, [stream, Jsonb({"name": "a"})])
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute(INSERT, [stream, Jsonb({"name": "b"})])


def test_migrations_started_by_several_replicas_at_once_apply_once(event_store: Database) -> None:
    def migrate(_: int) -> list[str]:
        with db.connect(event_store) as conn:
            return migrations.apply(conn, "event_store", event_store.schema)

    with ThreadPoolExecutor(6) as pool:
        applied = list(pool.map(migrate, range(6)))
    assert sorted(len(names) for names in applied) == [0, 0, 0, 0, 0, len(max(applied, key=len))]
    assert max(applied, key=len)[0] == "0001_events.sql"
