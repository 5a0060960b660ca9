"""Writes events into the event store with plain SQL, as the command service would, for projector tests."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from eventkit import codec, sealing
from eventkit.config import Database
from eventkit.keystore import KeyStore
from eventkit.startup import migrate
from tests.support.command import key_store_of


def prepare_event_store(event_store: Database) -> None:
    """Creates the event store's tables and the key table beside them (what the command service does at start)."""
    migrate(event_store, "event_store")
    migrate(key_store_of(event_store), "key_store")


# The key table as the command service keeps it by default (the event store's database, schema user_keys).
KEYS = KeyStore(Database("", "user_keys", 1), shares_event_store=True)


def insert_events(
    conn: psycopg.Connection[Any], rows: list[tuple[str, int, str, Any]], schema_version: int = 1
) -> list[int]:
    """Appends (stream_id, version, type, data) rows in one statement of the caller's transaction; returns positions."""
    if not rows:
        return []
    cur = conn.execute(
        "INSERT INTO events (stream_id, version, type, data, schema_version)"
        " SELECT *, %s FROM unnest(%s::uuid[], %s::int8[], %s::text[], %s::jsonb[]) RETURNING position",
        [schema_version, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], [Jsonb(r[3]) for r in rows]],
    )
    return [row[0] for row in cur]


@dataclass
class DirectWriter:
    """Writes random valid user events with plain SQL, keeping track of its own users' versions.

    As the command service does: names sealed with a key per user (schema version 2), the key
    created in the transaction of the user's first event, and some users forgotten (their key
    destroyed in the UserForgotten event's transaction). `sealed=False` writes clear-text events.
    """

    rng: random.Random
    sealed: bool = True
    versions: dict[str, int] = field(default_factory=dict)  # live users -> current version
    ids: list[str] = field(default_factory=list)  # the same users, for O(1) random picks
    keys: dict[str, bytes] = field(default_factory=dict)

    def append_open(self, conn: psycopg.Connection[Any], size: int) -> list[int]:
        """Inserts `size` events in the non-autocommit `conn`'s open transaction; the caller commits or rolls back."""
        rows, self.versions, self.ids = self._plan(size)
        return self._write(conn, rows)

    def append(self, conn: psycopg.Connection[Any], size: int, rollback: bool = False) -> list[int]:
        """Appends `size` random events in one transaction (rolled back if asked); returns their positions."""
        rows, versions, ids = self._plan(size)
        with conn.transaction(force_rollback=rollback):
            positions = self._write(conn, rows)
        if not rollback:
            self.versions, self.ids = versions, ids
        return positions

    def _write(self, conn: psycopg.Connection[Any], rows: list[tuple[str, int, str, Any]]) -> list[int]:
        if not self.sealed:
            return insert_events(conn, rows)
        new_keys = {user: self.keys.setdefault(user, sealing.new_key()) for user, version, _, _ in rows if version == 1}
        KEYS.create(conn, new_keys)
        stored = [(user, v, kind, sealing.seal(self.keys[user], user, v, kind, data)) for user, v, kind, data in rows]
        positions = insert_events(conn, stored, codec.SEALED_SCHEMA_VERSION)
        KEYS.destroy(conn, [user for user, _, kind, _ in rows if kind == codec.USER_FORGOTTEN])
        return positions

    def _plan(self, size: int) -> tuple[list[tuple[str, int, str, Any]], dict[str, int], list[str]]:
        versions, ids = dict(self.versions), list(self.ids)
        rows: list[tuple[str, int, str, Any]] = []
        for _ in range(size):
            roll = self.rng.random()
            if not ids or roll < 0.4:
                user = str(uuid.uuid4())
                rows.append((user, 1, "UserAdded", {"name": f"user {self.rng.randrange(10**6)}"}))
                versions[user] = 1
                ids.append(user)
                continue
            index = self.rng.randrange(len(ids))
            user = ids[index]
            versions[user] += 1
            if roll < 0.85:
                rows.append((user, versions[user], "UserEdited", {"name": f"renamed {self.rng.randrange(10**6)}"}))
            else:
                ending = "UserForgotten" if self.sealed and roll < 0.9 else "UserDeleted"
                rows.append((user, versions.pop(user), ending, {}))
                ids[index] = ids[-1]
                ids.pop()
        return rows, versions, ids
