"""The stored name key: migration 0003 fills it for existing users, and the projector and a rebuild write it."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime

from eventkit import db, migrations
from eventkit.config import Database
from eventkit.namekey import name_key
from eventkit.startup import migrating_connector
from projector_service import events_sql, store
from projector_service.applier import apply_batch
from projector_service.rebuild import rebuild
from tests.integration.test_projector_rebuild import settings
from tests.support.projector import insert_events, prepare_event_store

NAMES = ["Émile", "ΣΟΦΊΑ", "Straße", "ǅemal", "E\u0301tienne", "ada"]


def keys_of(read_model: Database) -> dict[str, str]:
    """Returns each user's name and stored key."""
    with db.connect(read_model) as conn:
        return dict(conn.execute("SELECT name, name_key FROM users").fetchall())


def test_migration_0003_gives_existing_users_their_key_then_requires_it(read_model: Database) -> None:
    now = datetime.now(UTC)
    with db.connect(read_model) as conn:
        assert migrations.apply(conn, "read_model", read_model.schema, upto=2) == [
            "0001_read_model.sql",
            "0002_projector.sql",
        ]
        conn.commit()
        # Rows as a projector before 0003 wrote them: no key. More than one backfill batch.
        rows = [(str(uuid.uuid4()), NAMES[i % len(NAMES)], 1, now, now, i + 1) for i in range(25_000)]
        with conn.cursor().copy(
            "COPY users (id, name, version, create_time, update_time, position) FROM STDIN"
        ) as copy:
            for row in rows:
                copy.write_row(row)
        conn.commit()
        assert "0003_name_key.sql" in migrations.apply(conn, "read_model", read_model.schema)
        conn.commit()
        missing = conn.execute("SELECT count(*) FROM users WHERE name_key IS NULL").fetchone()
        nullable = conn.execute(
            "SELECT is_nullable, collation_name FROM information_schema.columns"
            " WHERE table_schema = %s AND table_name = 'users' AND column_name = 'name_key'",
            [read_model.schema],
        ).fetchone()
        index = conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = %s AND indexname = 'users_name_key'",
            [read_model.schema],
        ).fetchone()
    assert missing == (0,) and nullable == ("NO", "C")
    assert index is not None and "(name_key, id)" in index[0]
    assert keys_of(read_model) == {name: name_key(name) for name in NAMES}


def test_the_projector_and_a_rebuild_both_write_the_key(event_store: Database, read_model: Database) -> None:
    prepare_event_store(event_store)
    ids = [str(uuid.uuid4()) for _ in NAMES]
    with db.connect(event_store) as conn:
        insert_events(conn, [(user, 1, "UserAdded", {"name": name.lower()}) for user, name in zip(ids, NAMES)])
        insert_events(conn, [(user, 2, "UserEdited", {"name": name}) for user, name in zip(ids, NAMES)])
        conn.commit()
        events = events_sql.read_events(conn, 0, 100)
    expected = {name: name_key(name) for name in NAMES}
    with db.connect(read_model) as live:
        migrations.apply(live, "read_model", read_model.schema)
        live.autocommit = True
        store.ensure_rows(live, "users")
        apply_batch(live, "users", read_model.schema, events[: len(NAMES)], 0)  # the adds, then the edits
        apply_batch(live, "users", read_model.schema, events[len(NAMES) :], len(NAMES))
    assert keys_of(read_model) == expected
    with db.connect(read_model, autocommit=True) as conn:
        conn.execute("UPDATE users SET name_key = 'stale'")  # whatever the live table holds, a rebuild recomputes it
    rebuild(settings(event_store, read_model), migrating_connector(read_model, "read_model"), io.StringIO())
    assert keys_of(read_model) == expected
