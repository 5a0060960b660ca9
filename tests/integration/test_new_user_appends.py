"""New users are appended by one statement, request ids and all; a retried request id still finds its first attempt."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

from command_service import domain
from command_service.outcomes import Outcome
from command_service.transaction import Transaction
from eventkit.config import Database
from eventkit.errors import RequestIdReused
from eventkit.startup import migrating_connector


class RecordingCursor(psycopg.Cursor[Any]):
    """A real cursor that also writes down each statement it sends (on its connection's `sent` list)."""

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> RecordingCursor:
        text = query.as_string(self) if isinstance(query, sql.Composable) else str(query)
        self.connection.sent.append(text)  # type: ignore[attr-defined]
        super().execute(query, params, **kwargs)
        return self


@pytest.fixture
def conn(event_store: Database) -> Iterator[psycopg.Connection[Any]]:
    connection = migrating_connector(event_store, "event_store")()
    connection.autocommit = True
    connection.cursor_factory = RecordingCursor
    connection.sent = []  # type: ignore[attr-defined]
    yield connection
    connection.close()


def statements(conn: psycopg.Connection[Any]) -> list[str]:
    sent: list[str] = conn.sent  # type: ignore[attr-defined]
    taken, sent[:] = list(sent), []
    return taken


def events(conn: psycopg.Connection[Any]) -> list[tuple[str, str]]:
    rows = conn.execute("SELECT data->>'name', request_id::text FROM events ORDER BY position").fetchall()
    statements(conn)
    return [(name, request) for name, request in rows]


def add(name: str, request_id: str) -> domain.AddUser:
    return domain.AddUser(name=name, request_id=request_id)


def test_new_users_with_request_ids_are_appended_by_one_statement_that_reads_nothing_first(conn) -> None:
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    answers = Transaction().run(conn, [add("Ada", first), add("Grace", second)], [None, None])
    sent = statements(conn)
    assert len(sent) == 1 and sent[0].lstrip().startswith("INSERT INTO events"), sent
    assert [a.position for a in answers if isinstance(a, Outcome)] == [1, 2]
    assert events(conn) == [("Ada", first), ("Grace", second)]


def test_a_retried_request_id_in_a_later_batch_answers_with_its_first_attempt_and_the_rest_is_appended_once(
    conn,
) -> None:
    first = str(uuid.uuid4())
    [original] = Transaction().run(conn, [add("Ada", first)], [None])
    statements(conn)
    fresh = str(uuid.uuid4())
    newcomer, retry = Transaction().run(conn, [add("Linus", fresh), add("Ada", first)], [None, None])
    # The one-statement append collided with the first attempt and rolled back whole; the locked
    # way then read the first attempt (more than one statement).
    assert len(statements(conn)) > 2
    assert isinstance(original, Outcome) and isinstance(retry, Outcome) and isinstance(newcomer, Outcome)
    assert retry.replayed and (retry.state.id, retry.position) == (original.state.id, original.position)
    # (The rolled-back statement used up positions: gaps, which readers already meet after any rollback.)
    assert not newcomer.replayed and newcomer.position > original.position
    assert events(conn) == [("Ada", first), ("Linus", fresh)]


def test_a_request_id_reused_for_another_new_user_is_refused_and_its_batch_still_appends_the_others(conn) -> None:
    reused = str(uuid.uuid4())
    Transaction().run(conn, [add("Ada", reused)], [None])
    fresh = str(uuid.uuid4())
    newcomer, refused = Transaction().run(conn, [add("Linus", fresh), add("Someone else", reused)], [None, None])
    assert isinstance(newcomer, Outcome) and isinstance(refused, RequestIdReused)
    assert events(conn) == [("Ada", reused), ("Linus", fresh)]
