"""`rebuild` in-process: fresh tables swapped in at the store's head, fencing a live projector that was behind."""

from __future__ import annotations

import io
import logging
import random
import threading
import uuid
from typing import Any

import psycopg
import pytest

from eventkit import config, db, migrations
from eventkit.config import Database
from eventkit.startup import migrating_connector
from projector_service import replay as replay_module
from projector_service import status_sql, store
from projector_service.applier import Fenced, apply_batch
from projector_service.rebuild import RebuildBusy, rebuild, scratch_schema
from projector_service.source import EventSource
from tests.support.projector import (
    KEYS,
    DirectWriter,
    insert_events,
    prepare_event_store,
    projector_env,
    read_model_content,
    replay,
)
from tests.support.waiting import wait_until


def settings(event_store: Database, read_model: Database) -> config.ProjectorSettings:
    return config.projector_settings(projector_env(event_store, read_model, PROJECTOR_BATCH_SIZE="300"))


def written(event_store: Database, seed: int, rounds: int, unknown_too: bool = False) -> None:
    """Writes `rounds` x 200 random events (and, with `unknown_too`, one of an unknown type after each 200)."""
    prepare_event_store(event_store)
    writer = DirectWriter(random.Random(seed))
    with db.connect(event_store, autocommit=True) as conn:
        for _ in range(rounds):
            writer.append(conn, 200)
            if unknown_too:
                insert_events(conn, [(str(uuid.uuid4()), 1, "UserRenamedInTheFuture", {"name": "x"})])


def rebuilt_as_replayed(event_store: Database, read_model: Database, s: config.ProjectorSettings) -> tuple[int, str]:
    """Rebuilds, checks the swapped-in tables against an event-by-event replay; returns the position and the output."""
    out = io.StringIO()
    position = rebuild(s, migrating_connector(read_model, "read_model"), out)
    expected = replay(event_store)
    actual = read_model_content(read_model)
    assert (actual.checkpoint, actual.log, actual.users) == (position, expected.log, expected.users)
    assert position == expected.checkpoint
    return position, out.getvalue()


def test_a_rebuild_ahead_of_the_live_projector_moves_the_checkpoint_and_fences_it(
    event_store: Database, read_model: Database
) -> None:
    written(event_store, 3, 10)
    with db.connect(event_store, autocommit=True) as conn:
        early = EventSource(conn, KEYS).read(0, 500)  # names opened, as the projector reads them
    with db.connect(read_model) as live:
        migrations.apply(live, "read_model", read_model.schema)
        live.autocommit = True
        store.ensure_rows(live, "users")
        behind = apply_batch(live, "users", read_model.schema, early, 0).position  # a live projector 500 events in
        position, out = rebuilt_as_replayed(event_store, read_model, settings(event_store, read_model))
        assert position > behind
        assert "replaying 2,000 events" in out and f"swapped at position {position}" in out
        with pytest.raises(Fenced):  # the live projector's next batch finds the checkpoint moved
            apply_batch(live, "users", read_model.schema, early[:1], behind)
        scratch = live.execute(
            "SELECT count(*) FROM pg_namespace WHERE nspname = %s", [scratch_schema(read_model.schema)]
        )
        assert scratch.fetchone() == (0,), "the scratch schema is dropped after the swap"


def test_a_second_rebuild_of_the_same_projection_is_refused_while_one_runs(
    event_store: Database, read_model: Database
) -> None:
    prepare_event_store(event_store)
    with db.connect(read_model) as holder:
        migrations.apply(holder, "read_model", read_model.schema)
        holder.autocommit = True
        assert status_sql.try_lock(holder, f"{read_model.schema}.users.rebuild")  # as a running rebuild holds it
        with pytest.raises(RebuildBusy):
            rebuild(settings(event_store, read_model), migrating_connector(read_model, "read_model"), io.StringIO())


def test_a_swap_blocked_by_a_long_reader_gives_up_its_lock_request_and_retries_until_it_succeeds(
    event_store: Database, read_model: Database, caplog: pytest.LogCaptureFixture
) -> None:
    prepare_event_store(event_store)
    with db.connect(event_store, autocommit=True) as conn:
        DirectWriter(random.Random(5)).append(conn, 300)
    with db.connect(read_model) as reader:
        migrations.apply(reader, "read_model", read_model.schema)
        reader.commit()
        reader.execute("SELECT count(*) FROM users")  # a long read: its transaction keeps the table locked
        outcome: list[int | BaseException] = []

        def run() -> None:
            try:
                outcome.append(
                    rebuild(
                        settings(event_store, read_model), migrating_connector(read_model, "read_model"), io.StringIO()
                    )
                )
            except BaseException as exc:
                outcome.append(exc)

        caplog.set_level(logging.INFO, logger="projector_service.rebuild")
        thread = threading.Thread(target=run)
        thread.start()
        wait_until(lambda: any("busy" in r.getMessage() for r in caplog.records), 60, message="the swap retrying")
        assert reader.execute("SELECT count(*) FROM users").fetchone() == (0,)  # the reader is never failed
        reader.commit()
        thread.join(60)
    expected = replay(event_store)
    assert outcome == [expected.checkpoint]
    assert read_model_content(read_model).log == expected.log


def index_definitions(conn: psycopg.Connection[Any], schema: str) -> set[str]:
    """Returns the schema's index definitions on users and event_log, without the schema's name."""
    rows = conn.execute(
        "SELECT indexdef FROM pg_indexes WHERE schemaname = %s AND tablename IN ('users', 'event_log')", [schema]
    )
    return {row[0].replace(f"{schema}.", "") for row in rows}


def test_a_rebuild_bulk_loads_in_large_batches_and_the_swapped_tables_have_every_index_of_a_migrated_schema(
    event_store: Database, read_model: Database
) -> None:
    written(event_store, 5, 15)
    with db.connect(read_model) as conn:
        migrations.apply(conn, "read_model", read_model.schema)
        conn.autocommit = True
        migrated = index_definitions(conn, read_model.schema)
        env = projector_env(event_store, read_model, PROJECTOR_REBUILD_BATCH_SIZE="1000")
        rebuilt_as_replayed(event_store, read_model, config.projector_settings(env))
        assert index_definitions(conn, read_model.schema) == migrated
        assert {"users_pkey", "users_name_key", "event_log_pkey", "event_log_user_key"} <= {
            row[0]
            for row in conn.execute("SELECT indexname FROM pg_indexes WHERE schemaname = %s", [read_model.schema])
        }
        # The primary key is a constraint again, not only a unique index: a duplicate position is refused.
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute("INSERT INTO event_log SELECT * FROM event_log LIMIT 1")


def test_a_rebuild_folding_ranges_by_shares_of_users_matches_a_replay_event_by_event_and_counts_unknown_events(
    event_store: Database, read_model: Database
) -> None:
    # Batches of 20 events make ranges of 400 in four shares of users: users recur within a range
    # (written once) and across ranges (read back and merged), with sealed names, edits, deletions
    # and forgettings, and events of a type this code does not know.
    written(event_store, 11, 15, unknown_too=True)
    with db.connect(event_store, autocommit=True) as conn:
        head = conn.execute("SELECT max(position) FROM events").fetchone()[0]
    assert head > 5 * replay_module.SHARES * replay_module.SHARE_BATCHES * 20
    env = projector_env(event_store, read_model, PROJECTOR_REBUILD_BATCH_SIZE="20")
    position, _ = rebuilt_as_replayed(event_store, read_model, config.projector_settings(env))
    with db.connect(read_model) as conn:
        assert store.checkpoint(conn, "users") == (position, 15)
