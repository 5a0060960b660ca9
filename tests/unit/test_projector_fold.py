"""The projector's batch fold, without a database: what each event does to the users and the event log."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from eventkit.codec import RecordedEvent
from eventkit.rows import UserRow
from projector_service.fold import fold_batch, streams_to_load

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def event(position: int, user: str, version: int, kind: str, data: object) -> RecordedEvent:
    return RecordedEvent(position, user, version, kind, data, T0 + timedelta(seconds=position))  # type: ignore[arg-type]


def test_an_added_then_edited_user_keeps_its_create_time_and_takes_the_last_name() -> None:
    user = str(uuid.uuid4())
    events = [event(1, user, 1, "UserAdded", {"name": "Ann"}), event(2, user, 2, "UserEdited", {"name": "Bea"})]
    plan = fold_batch(events, 0, {}, set())
    assert plan.upserts == [UserRow(user, "Bea", 2, T0 + timedelta(seconds=1), T0 + timedelta(seconds=2), 2)]
    assert [(row.position, row.type, row.name) for row in plan.log] == [(1, 1, "Ann"), (2, 2, "Bea")]
    assert (plan.position, plan.event_time, plan.malformed) == (2, T0 + timedelta(seconds=2), None)


def test_an_edit_of_a_user_from_an_earlier_batch_starts_from_its_existing_row() -> None:
    user = str(uuid.uuid4())
    existing = {user: UserRow(user, "Ann", 1, T0, T0, 1)}
    plan = fold_batch([event(5, user, 2, "UserEdited", {"name": "Cid"})], 4, existing, set())
    assert plan.upserts == [UserRow(user, "Cid", 2, T0, T0 + timedelta(seconds=5), 5)]


def test_a_deleted_user_is_removed_and_its_log_row_keeps_the_last_name() -> None:
    user = str(uuid.uuid4())
    plan = fold_batch(
        [event(1, user, 1, "UserAdded", {"name": "Ann"}), event(2, user, 2, "UserDeleted", {})], 0, {}, set()
    )
    assert plan.upserts == [] and plan.deletes == [user]
    assert [(row.type, row.name) for row in plan.log] == [(1, "Ann"), (3, "Ann")]


def test_an_unknown_event_type_is_skipped_and_counted_but_the_position_moves_past_it() -> None:
    plan = fold_batch([event(7, str(uuid.uuid4()), 1, "UserPromoted", {"level": 3})], 6, {}, set())
    assert (plan.skipped_unknown, plan.log, plan.upserts, plan.position) == (1, [], [], 7)


def test_a_malformed_known_event_stops_the_batch_just_before_it() -> None:
    good, bad = str(uuid.uuid4()), str(uuid.uuid4())
    events = [
        event(1, good, 1, "UserAdded", {"name": "Ann"}),
        event(2, bad, 1, "UserAdded", {}),
        event(3, good, 2, "UserEdited", {"name": "Bea"}),
    ]
    plan = fold_batch(events, 0, {}, set())
    assert plan.position == 1 and [row.name for row in plan.upserts] == ["Ann"]
    assert plan.malformed is not None and plan.malformed[0] == 2 and "name" in plan.malformed[1]


def test_an_edit_of_a_user_the_read_model_does_not_have_is_malformed() -> None:
    plan = fold_batch([event(3, str(uuid.uuid4()), 2, "UserEdited", {"name": "Bea"})], 2, {}, set())
    assert plan.malformed is not None and plan.malformed[0] == 3 and plan.position == 2


def test_an_operator_skip_passes_over_a_malformed_event() -> None:
    user = str(uuid.uuid4())
    events = [
        event(4, user, 1, "UserAdded", {"name": 42}),
        event(5, str(uuid.uuid4()), 1, "UserAdded", {"name": "Dee"}),
    ]
    plan = fold_batch(events, 3, {}, {4})
    assert plan.malformed is None and plan.skipped_operator == 1 and [row.position for row in plan.log] == [5]


def test_only_users_whose_first_event_in_the_batch_is_not_an_add_are_loaded() -> None:
    added, edited = str(uuid.uuid4()), str(uuid.uuid4())
    events = [
        event(1, added, 1, "UserAdded", {"name": "A"}),
        event(2, added, 2, "UserDeleted", {}),
        event(3, edited, 4, "UserEdited", {"name": "E"}),
    ]
    assert streams_to_load(events) == {edited}


def test_many_events_of_one_user_in_a_batch_become_one_row_change_and_one_log_row_each() -> None:
    ann, bob = str(uuid.uuid4()), str(uuid.uuid4())
    events = [event(1, ann, 1, "UserAdded", {"name": "Ann"}), event(2, bob, 1, "UserAdded", {"name": "Bob"})]
    events += [event(3 + i, ann, 2 + i, "UserEdited", {"name": f"Ann {i}"}) for i in range(5)]
    events.append(event(8, bob, 2, "UserDeleted", {}))
    plan = fold_batch(events, 0, {}, set())
    assert plan.upserts == [UserRow(ann, "Ann 4", 6, T0 + timedelta(seconds=1), T0 + timedelta(seconds=7), 7)]
    assert plan.deletes == [bob]  # added and deleted in one batch: one delete, no upsert
    assert [row.position for row in plan.log] == list(range(1, 9))
    assert plan.log[-1].name == "Bob"  # the deletion's log row keeps the last name
