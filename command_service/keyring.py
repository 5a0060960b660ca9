"""The command service's side of crypto-shredding: its users' keys, where they live, and sealing events with them."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import psycopg
from psycopg import sql

from command_service.domain import NewEvent
from eventkit import codec, sealing, startup
from eventkit.codec import RecordedEvent
from eventkit.config import Database
from eventkit.keystore import KeyStore
from eventkit.startup import migrating_connector

Conn = psycopg.Connection[Any]


class Keyring:
    """Reads, creates and destroys users' keys, in the event store's transaction when they share a database.

    When the keys live in a database of their own, no transaction spans both, so the order decides
    what a crash leaves: a new key commits before the events sealed with it (a crash leaves at most
    an unused key, never an unreadable event), and a destroyed key goes after the UserForgotten
    event commits (a crash leaves the key behind, and a retried ForgetUser destroys it).
    """

    def __init__(self, store: KeyStore, connect: Callable[[], Conn] | None = None) -> None:
        self.store = store
        self._connect = connect
        self._conn: Conn | None = None

    @property
    def shared(self) -> bool:
        """True when keys change in the event store's own transactions."""
        return self.store.shares_event_store

    def _keys_conn(self, events: Conn | None) -> Conn:
        if self.shared:
            assert events is not None
            return events
        if self._conn is None or self._conn.closed:
            assert self._connect is not None, "a key store in another database needs a connect()"
            self._conn = self._connect()
            self._conn.autocommit = True
        return self._conn

    def fetch(self, events: Conn, user_ids: Iterable[str]) -> dict[str, bytes]:
        """Returns the existing keys of these users."""
        return self.store.fetch(self._keys_conn(events), user_ids)

    def fetching(self, events: Conn, user_ids: Iterable[str]) -> Callable[[], dict[str, bytes]]:
        """Returns a function giving the existing keys of these users, as read after what `events` ran before.

        Beside the events the read is sent now, after the statements already on `events` (in its
        pipeline: in the same round trip); in another database it happens when the function is
        called, so a caller holding the append lock by then sees every key committed before it.
        """
        if self.shared:
            return self.store.fetching(events, user_ids)
        ids = list(user_ids)
        return lambda: self.store.fetch(self._keys_conn(None), ids)

    def create(self, events: Conn, keys: Mapping[str, bytes], appended: str) -> tuple[sql.Composable, list[Any]] | None:
        """Stores new keys, or (shared database) returns the WITH clause that stores them in the events' INSERT.

        There the clause follows the WITH query named `appended` and stores the keys of the users it
        appended to (see KeyStore.creating). In another database they are committed at once, before
        the events sealed with them.
        """
        if self.shared:
            return self.store.creating(keys, appended)
        self.store.create(self._keys_conn(events), keys)
        return None

    def destroy_inside(self, events: Conn, user_ids: Iterable[str]) -> None:
        """Destroys keys in the event store's open transaction (shared database only; otherwise see destroy_after)."""
        if self.shared:
            self.store.destroy(events, user_ids)

    def destroy_after(self, user_ids: Iterable[str]) -> None:
        """Destroys keys once the events are committed (a key store in another database)."""
        if not self.shared:
            self.store.destroy(self._keys_conn(None), user_ids)

    def close(self) -> None:
        """Closes the key store's own connection, if any."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def seal_all(
    appends: list[tuple[NewEvent, dict[str, object]]], keys: Mapping[str, bytes]
) -> list[tuple[NewEvent, dict[str, object]]]:
    """Returns the appends with each name sealed under its user's key (the stored form)."""
    return [
        (
            event
            if event.type in codec.NAMELESS
            else dataclasses.replace(
                event, data=sealing.seal(keys[event.stream_id], event.stream_id, event.version, event.type, event.data)
            ),
            meta,
        )
        for event, meta in appends
    ]


def open_history(history: dict[str, list[RecordedEvent]], keys: Mapping[str, bytes]) -> dict[str, list[RecordedEvent]]:
    """Returns the streams with their names opened (or marked forgotten)."""
    return {stream: sealing.open_events(events, keys) for stream, events in history.items()}


def wire(event_store: Database, key_store: Database) -> tuple[Callable[[], Conn], Keyring]:
    """Returns the appender's connect() and its Keyring; both bring their tables up to date on first use."""
    connect_events = migrating_connector(event_store, "event_store")
    keys = KeyStore.beside(key_store, event_store)
    key_table_ready = threading.Event()

    def connect() -> Conn:
        conn = connect_events()
        # The key table must exist before the first append, also when it shares the event store.
        if keys.shares_event_store and not key_table_ready.is_set():
            startup.prepare(key_store, "key_store")  # as the owner when given its DSN, else a version check
            key_table_ready.set()
        return conn

    return connect, Keyring(keys, None if keys.shares_event_store else migrating_connector(key_store, "key_store"))
