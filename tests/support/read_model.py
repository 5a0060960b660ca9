"""A tiny test-only projection: writes the read model the way the projector does, without an event store."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg

from eventkit import db
from eventkit.channels import PROJECTED_CHANNEL
from eventkit.config import Database
from eventkit.namekey import name_key
from eventkit.startup import migrate

ADDED, EDITED, DELETED = 1, 2, 3


class TinyProjection:
    """Applies user events to users, event_log and the checkpoint in one transaction, then NOTIFYs.

    Positions are handed out here, one per event, in commit order; `skip` moves the checkpoint
    past positions that leave no event-log row (events the projector does not know).
    """

    def __init__(self, database: Database, name: str = "users") -> None:
        self.name = name
        self.database = database
        migrate(database, "read_model")
        self.conn: psycopg.Connection[Any] = db.connect(database, autocommit=True)
        with self.conn.transaction():
            self.conn.execute("INSERT INTO projection_checkpoint (name) VALUES (%s) ON CONFLICT DO NOTHING", [name])
        row = self.conn.execute("SELECT position FROM projection_checkpoint WHERE name = %s", [name]).fetchone()
        self.position = int(row[0]) if row else 0
        self.versions: dict[str, int] = {}

    def close(self) -> None:
        self.conn.close()

    def add(self, name: str) -> tuple[str, int]:
        """Adds a user; returns (id, position)."""
        user_id = str(uuid.uuid4())
        return user_id, self.apply([(ADDED, user_id, name)])

    def edit(self, user_id: str, name: str) -> int:
        return self.apply([(EDITED, user_id, name)])

    def delete(self, user_id: str) -> int:
        return self.apply([(DELETED, user_id, "")])

    def apply(self, events: list[tuple[int, str, str]], skipped: int = 0) -> int:
        """Applies (type, user_id, name) events in one batch, then `skipped` row-less positions; returns the checkpoint."""
        now = datetime.now(UTC)
        with self.conn.transaction():
            for event_type, user_id, name in events:
                self.position += 1
                version = self.versions.get(user_id, 0) + 1
                self.versions[user_id] = version
                self._apply_one(event_type, user_id, name, version, now)
            self.position += skipped
            self.conn.execute(
                "UPDATE projection_checkpoint SET position = %s, updated_time = now() WHERE name = %s",
                [self.position, self.name],
            )
            self.conn.execute("SELECT pg_notify(%s, %s)", [PROJECTED_CHANNEL, str(self.position)])
        return self.position

    def _apply_one(self, event_type: int, user_id: str, name: str, version: int, now: datetime) -> None:
        if event_type == ADDED:
            self.conn.execute(
                "INSERT INTO users (id, name, name_key, version, create_time, update_time, position)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s)",
                [user_id, name, name_key(name), version, now, now, self.position],
            )
        elif event_type == EDITED:
            self.conn.execute(
                "UPDATE users SET name = %s, name_key = %s, version = %s, update_time = %s, position = %s WHERE id = %s",
                [name, name_key(name), version, now, self.position, user_id],
            )
        else:
            self.conn.execute("DELETE FROM users WHERE id = %s", [user_id])
        self.conn.execute(
            "INSERT INTO event_log (position, type, user_id, version, name, record_time) VALUES (%s, %s, %s, %s, %s, %s)",
            [self.position, event_type, user_id, version, name, now],
        )

    def skip(self, count: int) -> int:
        """Moves the checkpoint past `count` positions that leave no event-log row."""
        return self.apply([], skipped=count)

    def age(self, seconds: float) -> None:
        """Makes the projector look last seen `seconds` ago (no heartbeat since)."""
        with self.conn.transaction():
            self.conn.execute(
                "UPDATE projection_checkpoint SET updated_time = now() - make_interval(secs => %s) WHERE name = %s",
                [seconds, self.name],
            )
