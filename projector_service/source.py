"""Where the projector reads events from: the event store, with each sealed name opened by its user's key."""

from __future__ import annotations

from eventkit import db, sealing
from eventkit.codec import RecordedEvent
from eventkit.config import Database
from eventkit.keystore import KeyStore
from projector_service import events_sql, store


class EventSource:
    """Reads events after a position and opens their names; a user whose key is gone comes back forgotten.

    Keys are read after the events: a key destroyed in between only makes the names unreadable a
    little earlier, and the UserForgotten event that destroyed it follows in the store anyway.
    """

    def __init__(self, events: store.Conn, keys: KeyStore, keys_conn: store.Conn | None = None) -> None:
        self.events = events
        self._keys = keys
        self._keys_conn = keys_conn if keys_conn is not None else events

    @classmethod
    def open(cls, event_store: Database, key_store: Database, events: store.Conn) -> EventSource:
        """Returns a source on `events`, with a connection of its own to the key store when it is another database."""
        keys = KeyStore.beside(key_store, event_store)
        return cls(events, keys, None if keys.shares_event_store else db.connect(key_store, autocommit=True))

    def read(
        self, after: int, limit: int, upto: int | None = None, share: events_sql.Share | None = None
    ) -> list[RecordedEvent]:
        """Returns up to `limit` events after `after` (at most `upto`; of one share's users), in position order, names opened."""
        events = events_sql.read_events(self.events, after, limit, upto, share)
        needed = sealing.sealed_streams(events)
        return sealing.open_events(events, self._keys.fetch(self._keys_conn, needed) if needed else {})

    def close(self) -> None:
        """Closes the key store's own connection (the events connection belongs to the caller)."""
        if self._keys_conn is not self.events:
            self._keys_conn.close()
