"""One group-commit transaction: reads what a batch decides on, decides it, appends its events and heads, answers."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import psycopg
from psycopg import sql

from command_service import batch, domain, heads, keyring, metrics, outcomes, store
from command_service.outcomes import Outcome
from eventkit import codec, sealing
from eventkit.codec import RecordedEvent
from eventkit.errors import DomainError
from eventkit.pipelined import pipelined

State = domain.UserState | DomainError | None


class Transaction:
    """Runs one batch of commands as one transaction on the event store (keys sealed in when a keyring is given)."""

    def __init__(self, keys: keyring.Keyring | None = None) -> None:
        # Without a keyring names are stored in clear (schema version 1): only the benchmark's
        # baseline runs so; every service wires one.
        self._keys = keys
        self._new_key = sealing.new_key if keys is not None else None
        self._schema_version = codec.SEALED_SCHEMA_VERSION if keys is not None else codec.CLEAR_SCHEMA_VERSION

    def run(
        self, conn: psycopg.Connection[Any], commands: list[domain.Command], correlation_ids: list[str | None]
    ) -> list[Outcome | DomainError]:
        """Appends the batch and returns each command's outcome or domain error, in order."""
        if not (all(isinstance(c, domain.AddUser) for c in commands) and self._may_skip_retries(commands)):
            return self._locked(conn, commands, correlation_ids)
        answers = self._new_users(conn, commands, correlation_ids)
        retried = [i for i, answer in enumerate(answers) if answer is None]
        # Their request ids were stored already: answered from their first attempts, the locked way.
        again = iter(
            self._locked(conn, [commands[i] for i in retried], [correlation_ids[i] for i in retried]) if retried else []
        )
        return [next(again) if answer is None else answer for answer in answers]

    def _may_skip_retries(self, commands: list[domain.Command]) -> bool:
        # A key stored in a database of its own commits before the INSERT decides which rows to
        # skip: only batches with no request id to skip go that way, so no retry leaves a key behind.
        shared_keys = self._keys is None or self._keys.shared
        return shared_keys or not any(command.request_id for command in commands)

    def _new_users(
        self, conn: psycopg.Connection[Any], commands: list[domain.Command], correlation_ids: list[str | None]
    ) -> list[Outcome | DomainError | None]:
        """Appends a batch of AddUser in one round trip, reading nothing first; None answers a retry left out.

        Why: new users depend on no stream, so only their request ids need the store, and the INSERT
        itself leaves out those already stored (store.insert_unless_retried): no read, and no Python
        work, while the append lock is held. A command answered by one left out (a retry of it in
        the same batch) gets None too.
        """
        decided = batch.plan(commands, {}, {}, correlation_ids, {}, self._new_key)
        appends, creating = self._sealed(conn, decided, {})
        if any(command.request_id for command in commands):
            inserted = store.insert_unless_retried(conn, appends, self._schema_version, creating)
        else:  # nothing to leave out: the INSERT alone is the transaction, its trigger takes the lock
            inserted = store.insert(conn, appends, self._schema_version, None, creating)()
        if inserted.events:
            metrics.LOCK_WAIT_SECONDS.observe(inserted.first_row_after)
            metrics.EVENTS_APPENDED.inc(len(inserted.events))
        after = _states_after({}, _opened(inserted.events, decided))
        return [
            None
            if isinstance(answer, batch.Target) and (answer.stream_id, answer.version) not in after
            else outcomes.answer(answer, after, {})
            for answer in decided.answers
        ]

    def _locked(
        self, conn: psycopg.Connection[Any], commands: list[domain.Command], correlation_ids: list[str | None]
    ) -> list[Outcome | DomainError]:
        """Appends the batch under the append lock taken first: reads the streams and request ids, decides, writes."""
        touched = {c.user_id for c in commands if not isinstance(c, domain.AddUser)}
        request_ids = [c.request_id for c in commands if c.request_id]
        # BEGIN, the lock, the reads and the touched users' keys go in one round trip; the INSERT
        # and COMMIT in another: the append lock is held across two round trips (three when a
        # stream must be refolded or a retry answered from its history).
        with pipelined(conn):
            loading = store.lock_and_load(conn, touched, request_ids)
            fetching_keys = self._keys.fetching(conn, touched) if self._keys is not None else dict
            loaded = loading()
            earlier = loaded.earlier
            # The keys of every user read: to open names, to know whether a stream written in
            # clear so far needs a new key, to key fingerprints, and to check the heads.
            keys = fetching_keys()
            retried = {event.stream_id for event in earlier.values()} - touched
            if retried and self._keys is not None:
                keys |= self._keys.fetch(conn, retried)
            base, refolded = _current(conn, loaded.checked, keys)
            decided = batch.plan(commands, base, earlier, correlation_ids, keys, self._new_key)
            replays = _replayed_histories(conn, decided, keys)
            keyed = (keys.keys() | decided.new_keys.keys()) - decided.forget
            rows = heads.to_write(base, refolded, decided.states, loaded.checked, keyed)
            inserting = self._write(conn, decided, rows, keys)
            if self._keys is not None:
                self._keys.destroy_inside(conn, decided.forget)
        inserted = inserting()
        if self._keys is not None:
            self._keys.destroy_after(decided.forget)
        if inserted.events:
            metrics.LOCK_WAIT_SECONDS.observe(loaded.lock_wait)
            metrics.EVENTS_APPENDED.inc(len(inserted.events))
        after = _states_after(base, _opened(inserted.events, decided))
        return [outcomes.answer(answer, after, replays) for answer in decided.answers]

    def _write(
        self,
        conn: psycopg.Connection[Any],
        decided: batch.Plan,
        head_rows: list[dict[str, object]],
        keys: dict[str, bytes] | None = None,
    ) -> Callable[[], store.Inserted]:
        """Stores the batch's new keys and sends the append of its events, sealed, with its heads (see store.insert)."""
        appends, creating = self._sealed(conn, decided, keys or {})
        return store.insert(conn, appends, self._schema_version, head_rows, creating)

    def _sealed(
        self, conn: psycopg.Connection[Any], decided: batch.Plan, keys: dict[str, bytes]
    ) -> tuple[list[tuple[domain.NewEvent, dict[str, object]]], tuple[sql.Composable, list[Any]] | None]:
        """Returns the batch's appends as stored (names sealed) and the WITH query storing its new keys, if any.

        With keys in a database of their own, the new keys are committed there now, before the events.
        """
        if self._keys is None:
            return decided.appends, None
        creating = self._keys.create(conn, decided.new_keys, store.APPENDED)
        return keyring.seal_all(decided.appends, keys | decided.new_keys), creating


def _opened(recorded: list[RecordedEvent], decided: batch.Plan) -> list[RecordedEvent]:
    """Returns the events recorded with the data as decided (names in clear, not sealed)."""
    clear = {(event.stream_id, event.version): event.data for event, _ in decided.appends}
    return [event._replace(data=clear[(event.stream_id, event.version)]) for event in recorded]


def _current(
    conn: psycopg.Connection[Any], checked: Mapping[str, heads.Checked], keys: Mapping[str, bytes]
) -> tuple[dict[str, State], set[str]]:
    """Returns the touched users' states (from trusted heads, else folded again) and the users refolded."""
    current: dict[str, State] = {}
    stale = set()
    for stream, found in checked.items():
        if found.last is None:
            current[stream] = None  # no events: no such user, whatever a head says
            continue
        state = heads.trusted(stream, found, stream in keys)
        if state is None:
            stale.add(stream)
        else:
            current[stream] = state
    if stale:
        metrics.HEADS_REFOLDED.inc(len(stale))
        current |= batch.fold_all(keyring.open_history(store.load_streams(conn, stale), keys))
    return current, stale


def _replayed_histories(
    conn: psycopg.Connection[Any], decided: batch.Plan, keys: dict[str, bytes]
) -> dict[str, list[RecordedEvent]]:
    """Returns the (opened) histories that answers from earlier events are folded from: retries only."""
    appended = {(event.stream_id, event.version) for event, _ in decided.appends}
    streams = {
        answer.stream_id
        for answer in decided.answers
        if isinstance(answer, batch.Target) and answer.replayed and (answer.stream_id, answer.version) not in appended
    }
    return keyring.open_history(store.load_streams(conn, streams), keys) if streams else {}


def _states_after(
    base: Mapping[str, State], opened: list[RecordedEvent]
) -> dict[tuple[str, int], tuple[domain.UserState, int]]:
    """Returns, for each appended (stream, version), the user's state and the event's position."""
    states: dict[str, domain.UserState | None] = {}
    after = {}
    for event in opened:  # in append order: ascending versions within a stream
        before = states[event.stream_id] if event.stream_id in states else base.get(event.stream_id)
        assert not isinstance(before, DomainError), "nothing is appended to an unreadable stream"
        state = states[event.stream_id] = domain.evolve(before, event)
        after[(event.stream_id, event.version)] = (state, event.position)
    return after
