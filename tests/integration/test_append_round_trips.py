"""How few round trips an append takes with the append lock held, and that the short ways keep every guarantee.

New users go in one message that reads nothing first (retries are left out of it and answered by
their first attempts); other batches in two round trips, BEGIN with the reads and COMMIT with the INSERT.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
from psycopg import pq

from command_service import domain, keyring
from command_service.outcomes import Outcome
from command_service.transaction import Transaction
from eventkit.config import Database
from eventkit.errors import RequestIdReused
from eventkit.pipelined import pipelined
from tests.support.command import key_store_of
from tests.support.protocol import frontend_messages, round_trips
from tests.support.waiting import wait_until


@pytest.fixture
def sealed(event_store: Database) -> Iterator[tuple[psycopg.Connection[Any], Transaction]]:
    """A connection to the event store and a Transaction sealing names with keys stored beside the events."""
    connect, keys = wired(event_store)
    connection = connect()
    yield connection, Transaction(keys)
    connection.close()


def wired(event_store: Database) -> tuple[Callable[[], psycopg.Connection[Any]], keyring.Keyring]:
    """Returns connect() (autocommit connections, as the appender's) and the keyring, keys beside the events."""
    keys_beside = dataclasses.replace(key_store_of(event_store), migration_dsn=event_store.dsn)
    connect, keys = keyring.wire(event_store, keys_beside)

    def autocommit() -> psycopg.Connection[Any]:
        connection = connect()
        connection.autocommit = True
        return connection

    return autocommit, keys


def stored(conn: psycopg.Connection[Any]) -> tuple[list[tuple[int, str, str]], int]:
    """Returns the events (position, stream, request id) in position order, and how many keys are stored."""
    rows = conn.execute("SELECT position, stream_id::text, request_id::text FROM events ORDER BY position").fetchall()
    (keys,) = conn.execute("SELECT count(*) FROM user_keys.user_keys").fetchone() or (0,)
    return [(position, stream, request) for position, stream, request in rows], keys


def add(name: str, request_id: str) -> domain.AddUser:
    return domain.AddUser(name=name, request_id=request_id)


def new_ids(count: int) -> list[str]:
    return [str(uuid.uuid4()) for _ in range(count)]


def test_new_users_with_request_ids_are_appended_by_one_message_that_locks_then_inserts(sealed) -> None:
    conn, transaction = sealed
    first, second = new_ids(2)
    # A correlation id is the caller's text: quotes and backslashes reach the statement unharmed.
    awkward = 'it\'s a \\ "test"'
    answers: list[Any] = []
    sent = frontend_messages(
        conn, lambda: answers.extend(transaction.run(conn, [add("Ada", first), add("Grace", second)], [awkward, None]))
    )
    assert len(sent) == 1 and sent[0].split()[1] == "Query", sent  # one message, simple protocol: one round trip
    assert sent[0].index("pg_advisory_xact_lock") < sent[0].index("INSERT INTO events"), sent
    assert [a.position for a in answers if isinstance(a, Outcome)] == [1, 2]
    events, keys = stored(conn)
    assert [(s, r) for _, s, r in events] == [(answers[0].state.id, first), (answers[1].state.id, second)]
    assert keys == 2
    assert conn.execute("SELECT metadata->>'correlation_id' FROM events WHERE position = 1").fetchone() == (awkward,)


def test_a_retry_in_a_later_batch_is_answered_by_its_first_attempt_and_uses_up_no_position_or_key(sealed) -> None:
    conn, transaction = sealed
    first, fresh = new_ids(2)
    [original] = transaction.run(conn, [add("Ada", first)], [None])
    newcomer, retry, retry_again = transaction.run(
        conn, [add("Linus", fresh), add("Ada", first), add("Ada", first)], [None, None, None]
    )
    assert isinstance(original, Outcome) and isinstance(newcomer, Outcome)
    for answer in (retry, retry_again):
        assert isinstance(answer, Outcome) and answer.replayed
        assert (answer.state.id, answer.state.name, answer.position) == (original.state.id, "Ada", original.position)
    assert not newcomer.replayed and newcomer.position == original.position + 1  # no hole where the retry was
    events, keys = stored(conn)
    assert events == [(1, original.state.id, first), (2, newcomer.state.id, fresh)]
    assert keys == 2  # the retry's would-be new user left no key behind
    # The next append follows on without a gap either.
    [later] = transaction.run(conn, [add("Barbara", new_ids(1)[0])], [None])
    assert isinstance(later, Outcome) and later.position == 3


def test_a_batch_of_nothing_but_retries_appends_nothing(sealed) -> None:
    conn, transaction = sealed
    requests = new_ids(3)
    originals = transaction.run(conn, [add(f"User {i}", r) for i, r in enumerate(requests)], [None] * 3)
    retries = transaction.run(conn, [add(f"User {i}", r) for i, r in enumerate(requests)], [None] * 3)
    assert [(a.state.id, a.position) for a in retries if isinstance(a, Outcome) and a.replayed] == [
        (a.state.id, a.position) for a in originals if isinstance(a, Outcome)
    ]
    events, keys = stored(conn)
    assert len(events) == 3 and keys == 3


def test_a_request_id_reused_for_another_new_user_is_refused_and_its_batch_still_appends_the_others(sealed) -> None:
    conn, transaction = sealed
    reused, fresh = new_ids(2)
    [original] = transaction.run(conn, [add("Ada", reused)], [None])
    newcomer, refused = transaction.run(conn, [add("Linus", fresh), add("Someone else", reused)], [None, None])
    assert isinstance(original, Outcome) and isinstance(newcomer, Outcome) and isinstance(refused, RequestIdReused)
    events, keys = stored(conn)
    assert events == [(1, original.state.id, reused), (2, newcomer.state.id, fresh)]
    assert keys == 2


def test_an_edit_goes_in_two_round_trips_begin_with_the_reads_and_commit_with_the_insert(sealed) -> None:
    conn, transaction = sealed
    [added] = transaction.run(conn, [add("Ada", new_ids(1)[0])], [None])
    assert isinstance(added, Outcome)
    edits = [
        domain.EditUser(user_id=added.state.id, name=name, expected_version=version, request_id=new_ids(1)[0])
        for version, name in ((1, "Ada B"), (2, "Ada C"))
    ]
    transaction.run(conn, [edits[0]], [None])  # the first edit writes the user's stream head
    answers: list[Any] = []
    sent = frontend_messages(conn, lambda: answers.extend(transaction.run(conn, [edits[1]], [None])))
    # BEGIN, the lock, the head check, the request-id lookup and the user's key; then INSERT and COMMIT.
    assert round_trips(sent) == [["BEGIN", "WITH", "SELECT", "SELECT", "SELECT"], ["WITH", "COMMIT"]], sent
    [edited] = answers
    assert isinstance(edited, Outcome) and (edited.state.name, edited.state.version) == ("Ada C", 3)
    assert conn.info.transaction_status == pq.TransactionStatus.IDLE


@pytest.mark.parametrize("failure", ["statement", "python"])
def test_a_failure_inside_the_pipelined_transaction_rolls_all_of_it_back(sealed, failure: str) -> None:
    conn, _ = sealed
    user = new_ids(1)[0]
    store_key = "INSERT INTO user_keys.user_keys (user_id, key) VALUES (%s, %s)"
    expected = psycopg.errors.UniqueViolation if failure == "statement" else RuntimeError
    with pytest.raises(expected), pipelined(conn):
        conn.execute(store_key, [user, bytes(32)])
        if failure == "statement":
            conn.execute(store_key, [user, bytes(32)])  # the same user again: fails at the commit's sync
        else:
            raise RuntimeError("the block failed")
    assert conn.info.transaction_status == pq.TransactionStatus.IDLE
    assert conn.execute("SELECT count(*) FROM user_keys.user_keys").fetchone() == (0,)


def test_two_writers_racing_with_one_request_id_append_it_once_and_leave_no_hole(event_store: Database) -> None:
    """Two command services (two connections) get the same retry while the append lock is held elsewhere."""
    connect, keys = wired(event_store)
    writers = [connect(), connect()]
    holder = connect()
    try:
        request_id = new_ids(1)[0]
        holder.autocommit = False  # its transaction holds the append lock until the COMMIT below
        holder.execute("SELECT pg_advisory_xact_lock('events'::regclass::oid::bigint)")
        with ThreadPoolExecutor(max_workers=2) as pool:
            racing = [pool.submit(Transaction(keys).run, conn, [add("Ada", request_id)], [None]) for conn in writers]
            # Both wait for the lock (the held one), so neither has read the store yet.
            wait_until(lambda: _waiting_for_the_lock(holder) == 2, message="both writers to wait for the append lock")
            holder.execute("COMMIT")
            answers = [future.result(timeout=30) for future in racing]
        assert all(isinstance(answer, list) and isinstance(answer[0], Outcome) for answer in answers), answers
        first, second = (answer[0] for answer in answers)
        assert (first.state.id, first.position) == (second.state.id, second.position) == (first.state.id, 1)
        assert sorted([first.replayed, second.replayed]) == [False, True]
        events, stored_keys = stored(writers[0])
        assert events == [(1, first.state.id, request_id)] and stored_keys == 1
        # No position was used up by the one left out: the next append takes 2.
        [later] = Transaction(keys).run(writers[0], [add("Grace", new_ids(1)[0])], [None])
        assert isinstance(later, Outcome) and later.position == 2
    finally:
        for conn in [*writers, holder]:
            conn.close()


def _waiting_for_the_lock(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND database = "
        "(SELECT oid FROM pg_database WHERE datname = current_database())"
    ).fetchone()
    return int(row[0]) if row else 0


def test_with_keys_in_a_database_of_their_own_a_retried_add_leaves_no_second_key(
    event_store: Database, new_database
) -> None:
    """There a key commits before the INSERT; a batch with request ids must decide retries first (the locked way)."""
    keys_dsn = new_database("keys")
    connect, keys = keyring.wire(
        event_store, Database(dsn=keys_dsn, schema="user_keys", pool_size=1, migration_dsn=keys_dsn)
    )
    conn = connect()
    conn.autocommit = True
    try:
        request_id = new_ids(1)[0]
        [first] = Transaction(keys).run(conn, [add("Ada", request_id)], [None])
        [retry] = Transaction(keys).run(conn, [add("Ada", request_id)], [None])
        assert isinstance(first, Outcome) and isinstance(retry, Outcome) and retry.replayed
        assert (retry.state.id, retry.position) == (first.state.id, first.position)
        with psycopg.connect(keys_dsn) as keys_conn:
            assert keys_conn.execute("SELECT count(*) FROM user_keys.user_keys").fetchone() == (1,)
    finally:
        conn.close()
        keys.close()
