"""The Python half of read-model migration 0003: fills name_key of the existing users, then constrains and indexes it."""

from __future__ import annotations

from typing import Any

import psycopg

from eventkit.namekey import name_key

BATCH = 10_000


def fill(conn: psycopg.Connection[Any]) -> None:
    """Gives every user its name key (in batches by id), then makes the column NOT NULL and builds its index."""
    after = "00000000-0000-0000-0000-000000000000"
    while True:
        rows = conn.execute(
            "SELECT id::text, name FROM users WHERE id > %s::uuid ORDER BY id LIMIT %s", [after, BATCH]
        ).fetchall()
        if not rows:
            break
        conn.execute(
            "UPDATE users SET name_key = k.key FROM unnest(%s::uuid[], %s::text[]) AS k(id, key) WHERE users.id = k.id",
            [[row[0] for row in rows], [name_key(row[1]) for row in rows]],
        )
        after = rows[-1][0]
    conn.execute("ALTER TABLE users ALTER COLUMN name_key SET NOT NULL")
    # Built after the backfill: one sort instead of an index update per row.
    conn.execute("CREATE INDEX users_name_key ON users (name_key, id)")
