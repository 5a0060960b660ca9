"""All SQL of the key store (the user_keys table): read by the command service and the projector, written by the command service."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from eventkit.config import Database


@dataclass(frozen=True)
class KeyStore:
    """Where the user_keys table lives, and whether it shares the event store's database (and so its transactions)."""

    database: Database
    shares_event_store: bool

    @classmethod
    def beside(cls, keys: Database, event_store: Database) -> KeyStore:
        """Returns the key store at `keys`, noting whether it is in the same database as `event_store`."""
        return cls(keys, keys.dsn == event_store.dsn)

    def _table(self) -> sql.Composed:
        # Qualified, so the statements run on an event-store connection (another search path) too.
        return sql.SQL("{}.user_keys").format(sql.Identifier(self.database.schema))

    def fetch(self, conn: psycopg.Connection[Any], user_ids: Iterable[str]) -> dict[str, bytes]:
        """Returns the keys of these users that exist (a forgotten user has none)."""
        return self.fetching(conn, user_ids)()

    def fetching(self, conn: psycopg.Connection[Any], user_ids: Iterable[str]) -> Callable[[], dict[str, bytes]]:
        """Sends the read of these users' keys now; returns a function that gives them (see fetch).

        In a pipeline the read then travels with the statements queued before and after it.
        """
        ids = sorted(set(user_ids))
        if not ids:
            return dict
        rows = conn.execute(
            sql.SQL("SELECT user_id::text, key FROM {} WHERE user_id = ANY(%s::uuid[])").format(self._table()), [ids]
        )
        return lambda: {user: bytes(key) for user, key in rows}

    def create(self, conn: psycopg.Connection[Any], keys: Mapping[str, bytes]) -> None:
        """Stores new keys; a user that already has one is a bug upstream, so it raises (unique violation)."""
        if not keys:
            return
        conn.execute(
            sql.SQL("INSERT INTO {} (user_id, key) SELECT * FROM unnest(%s::uuid[], %s::bytea[])").format(
                self._table()
            ),
            [list(keys), list(keys.values())],
        )

    def creating(self, keys: Mapping[str, bytes], appended: str) -> tuple[sql.Composable, list[Any]] | None:
        """Returns a WITH query (and its parameters) that stores new keys within the statement it is part of.

        So that a user's key and its first events commit in one statement: one round trip, and no
        transaction held open (with the append lock) across a second one. Only the keys of users
        found in the `stream_id` column of the earlier WITH query named `appended` are stored: a
        new user whose event the statement did not append (a retry it skipped) leaves no key behind.
        """
        if not keys:
            return None
        query = sql.SQL(
            "new_keys AS (INSERT INTO {} (user_id, key) SELECT k.user_id, k.key"
            " FROM unnest(%s::uuid[], %s::bytea[]) AS k(user_id, key)"
            " WHERE k.user_id IN (SELECT stream_id::uuid FROM {}))"
        )
        return query.format(self._table(), sql.Identifier(appended)), [list(keys), list(keys.values())]

    def destroy(self, conn: psycopg.Connection[Any], user_ids: Iterable[str]) -> None:
        """Deletes these users' keys (idempotent): their sealed names can never be opened again."""
        ids = sorted(set(user_ids))
        if ids:
            conn.execute(sql.SQL("DELETE FROM {} WHERE user_id = ANY(%s::uuid[])").format(self._table()), [ids])
