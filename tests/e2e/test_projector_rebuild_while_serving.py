"""`rebuild` swaps in freshly replayed tables while commands, queries and an event-log subscriber carry on."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from typing import Any

from eventkit import db
from eventkit.config import Database
from tests.support.processes import ServiceProcess
from tests.support.projector import (
    DirectWriter,
    command_writes,
    prepare_event_store,
    projector_command,
    read_model_content,
    replay,
    start_command_service,
    start_projector,
    wait_caught_up,
)
from tests.support.waiting import wait_until

PRELOADED = 20_000


class Queries(threading.Thread):
    """Runs one query in a loop until stopped, checking each answer; counts answers and keeps failures."""

    def __init__(self, read_model: Database, ask: Callable[[Any], None], stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.read_model, self.ask, self.stop = read_model, ask, stop
        self.answers, self.failures = 0, []  # type: int, list[BaseException]

    def run(self) -> None:
        with db.connect(self.read_model, autocommit=True) as conn:
            while not self.stop.is_set():
                try:
                    self.ask(conn)
                    self.answers += 1
                except BaseException as exc:
                    self.failures.append(exc)


def test_a_rebuild_swaps_in_a_fresh_replay_while_writes_and_queries_continue(
    services: Callable[..., ServiceProcess], event_store: Database, read_model: Database
) -> None:
    prepare_event_store(event_store)
    with db.connect(event_store, autocommit=True) as conn:
        preload = DirectWriter(random.Random(7))
        for _ in range(PRELOADED // 500):
            preload.append(conn, 500)
    command = start_command_service(services, event_store)
    start_projector(services, event_store, read_model)
    wait_caught_up(event_store, read_model, 120)
    # Users nobody touches any more: every GetUser-like query must find each of them, swap or not.
    stable = dict(random.Random(1).sample(sorted(preload.versions.items()), 50))

    def get_user(conn: Any) -> None:
        for user, version in stable.items():
            row = conn.execute("SELECT version FROM users WHERE id = %s", [user]).fetchone()
            assert row == (version,), f"user {user}: {row}"

    def list_users(conn: Any) -> None:
        rows = conn.execute("SELECT id FROM users ORDER BY name_key, id LIMIT 50").fetchall()
        assert len(rows) == 50

    seen: list[int] = []

    def subscribe(conn: Any) -> None:
        # What StreamEvents does: read the event log after the last position sent, up to the checkpoint.
        rows = conn.execute(
            "SELECT position FROM event_log WHERE position > %s AND position <="
            " (SELECT position FROM projection_checkpoint WHERE name = 'users') ORDER BY position LIMIT 1000",
            [seen[-1] if seen else 0],
        ).fetchall()
        seen.extend(row[0] for row in rows)

    stop_queries, stop_writes = threading.Event(), threading.Event()
    queries = [Queries(read_model, ask, stop_queries) for ask in (get_user, list_users, subscribe)]
    writers = [
        threading.Thread(target=command_writes, args=(command.address, 10**6, seed, stop_writes)) for seed in (1, 2)
    ]
    for thread in queries + writers:
        thread.start()
    try:
        before = [q.answers for q in queries]
        rebuilt = projector_command(event_store, read_model, "rebuild", timeout=300)
        assert rebuilt.returncode == 0, rebuilt.stderr
        during = [q.answers - b for q, b in zip(queries, before)]
        stop_writes.set()
        for thread in writers:
            thread.join(60)
        wait_caught_up(event_store, read_model, 60)
        expected = replay(event_store)
        wait_until(lambda: seen and seen[-1] == max(expected.log), 60, message="the subscriber reaching the head")
    finally:
        stop_writes.set()
        stop_queries.set()
    for thread in queries:
        thread.join(30)
    assert [q.failures for q in queries] == [[], [], []]
    assert all(during), f"queries answered during the rebuild: {during}"
    assert "replaying" in rebuilt.stdout and "swapped at position" in rebuilt.stdout
    assert seen == sorted(expected.log), "the subscriber saw a gap or a duplicate"
    actual = read_model_content(read_model)
    assert actual.log == expected.log and actual.users == expected.users
