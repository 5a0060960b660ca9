"""One batch of events the command service would not write: a malformed one stalls it, names are read as the fold would read them, a second UserAdded is merged."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from eventkit.config import Database
from projector_service import store
from projector_service.applier import Stalled, apply_batch
from projector_service.fold import fold_batch
from tests.support.projector import appended, migrated_read_model

NAME = "users"


def test_a_malformed_event_stalls_the_batch_after_committing_the_events_before_it(
    event_store: Database, read_model: Database
) -> None:
    good = str(uuid.uuid4())
    events = appended(
        event_store,
        [
            (good, 1, "UserAdded", {"name": "Ann"}),
            (str(uuid.uuid4()), 1, "UserAdded", {}),
            (good, 2, "UserEdited", {"name": "Bea"}),
        ],
    )
    with migrated_read_model(read_model, NAME) as conn:
        with pytest.raises(Stalled) as stalled:
            apply_batch(conn, NAME, read_model.schema, events, 0)
        assert (stalled.value.position, stalled.value.reached) == (events[1].position, events[0].position)
        assert store.checkpoint(conn, NAME)[0] == events[0].position
        assert conn.execute("SELECT name FROM users").fetchall() == [("Ann",)]


@pytest.mark.parametrize(
    ("data", "read_as"),
    [
        ({"name": "Ada"}, {"name": "Ada"}),
        ({"name": "Ada", "note": [1, 2]}, {"name": "Ada"}),  # only what the fold reads comes back
        ({"name": 42}, {}),  # not a string: no name, as the fold would judge it
        ({"name": None}, {}),
        ({"name": {"first": "Ada"}}, {}),
        (["Ada"], {}),  # not an object
        ("Ada", {}),
        ({"sealed_name": "c2VhbGVk"}, {"sealed_name": "c2VhbGVk"}),
        ({"sealed_name": 7}, {}),
        ({"name": "Ada", "sealed_name": "c2VhbGVk"}, {"name": "Ada", "sealed_name": "c2VhbGVk"}),
    ],
)
def test_the_projector_reads_only_names_that_are_strings_and_folds_the_rest_as_the_json_would_fold(
    event_store: Database, data: Any, read_as: dict[str, str]
) -> None:
    user = str(uuid.uuid4())
    (event,) = appended(event_store, [(user, 1, "UserAdded", data)])
    assert event.data == read_as
    # PostgreSQL picked the fields out: the fold reaches the verdict it reaches on the whole document.
    from_document = fold_batch([event._replace(data=data)], 0, {}, set())
    from_store = fold_batch([event], 0, {}, set())
    assert from_store.malformed == from_document.malformed
    assert from_store.upserts == from_document.upserts


def test_a_second_user_added_for_an_existing_user_is_merged_over_the_row_not_refused(
    event_store: Database, read_model: Database
) -> None:
    # New users go straight into the table by COPY; one that exists after all (a UserAdded written
    # out of band for a user the read model has) sends the batch's users through the merge.
    user, other = str(uuid.uuid4()), str(uuid.uuid4())
    events = appended(
        event_store,
        [
            (user, 1, "UserAdded", {"name": "Ann"}),
            (user, 2, "UserAdded", {"name": "Again"}),
            (other, 1, "UserAdded", {"name": "Other"}),
        ],
    )
    with migrated_read_model(read_model, NAME) as conn:
        apply_batch(conn, NAME, read_model.schema, events[:1], 0)
        plan = apply_batch(conn, NAME, read_model.schema, events[1:], events[0].position)
        assert plan.created == {user, other}  # the fold did not know the user already had a row
        rows = conn.execute("SELECT id::text, name, version FROM users ORDER BY name").fetchall()
        assert rows == [(user, "Again", 2), (other, "Other", 1)]
        assert store.checkpoint(conn, NAME) == (events[-1].position, 0)
        assert conn.execute("SELECT count(*) FROM event_log").fetchone() == (3,)
