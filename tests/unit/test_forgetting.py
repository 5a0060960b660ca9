"""Crypto-shredding without a database: sealing names, opening them, and what the folds make of a forgotten user."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from command_service import batch, domain
from eventkit import codec, sealing
from eventkit.codec import RecordedEvent
from eventkit.errors import NotFound, RequestIdReused, UnreadableHistory
from projector_service.fold import fold_batch

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def sealed(key: bytes, user: str, version: int, kind: str, name: str | None = None, position: int = 0) -> RecordedEvent:
    data = sealing.seal(key, user, version, kind, codec.encode(kind, name))
    at = T0 + timedelta(seconds=version)
    return RecordedEvent(position or version, user, version, kind, data, at, {}, codec.SEALED_SCHEMA_VERSION)


def test_a_sealed_name_is_not_in_the_data_and_opens_with_its_users_key() -> None:
    user, key = str(uuid.uuid4()), sealing.new_key()
    event = sealed(key, user, 1, codec.USER_ADDED, "Ada Lovelace")
    assert "Ada" not in str(event.data) and set(event.data) == {sealing.SEALED_FIELD}
    opened = sealing.open_event(event, {user: key})
    assert (opened.data, opened.forgotten) == ({"name": "Ada Lovelace"}, False)


def test_two_seals_of_one_name_differ_so_equal_names_are_not_visible() -> None:
    user, key = str(uuid.uuid4()), sealing.new_key()
    assert sealed(key, user, 1, codec.USER_ADDED, "Ada").data != sealed(key, user, 1, codec.USER_ADDED, "Ada").data


def test_without_its_key_an_event_opens_as_forgotten_with_no_name() -> None:
    user = str(uuid.uuid4())
    opened = sealing.open_event(sealed(sealing.new_key(), user, 1, codec.USER_ADDED, "Ada"), {})
    assert (opened.data, opened.forgotten) == ({}, True)


def test_a_sealed_name_moved_to_another_event_or_opened_with_another_key_does_not_open() -> None:
    user, key = str(uuid.uuid4()), sealing.new_key()
    moved = sealed(key, user, 1, codec.USER_ADDED, "Ada")._replace(version=2, type=codec.USER_EDITED)
    for event, keys in (
        (moved, {user: key}),
        (sealed(key, user, 1, codec.USER_ADDED, "Ada"), {user: sealing.new_key()}),
    ):
        opened = sealing.open_event(event, keys)
        assert not opened.forgotten
        with pytest.raises(codec.MalformedEvent):
            codec.name_of(opened.type, opened.data)


@pytest.mark.parametrize("stored", [7, None, ["c2VhbGVk"], "not base64!", "c2VhbGVk"])
def test_a_sealed_name_that_is_not_a_string_or_not_a_seal_is_unopenable_and_the_fold_stalls_on_it(
    stored: object,
) -> None:
    user, key = str(uuid.uuid4()), sealing.new_key()
    event = sealed(key, user, 1, codec.USER_ADDED, "Ada")._replace(data={sealing.SEALED_FIELD: stored})
    opened = sealing.open_event(event, {user: key})
    assert (opened.data, opened.forgotten) == ({"unopenable": True}, False)
    assert fold_batch([opened], 0, {}, set()).malformed is not None


def test_clear_text_events_of_schema_version_1_open_as_they_are() -> None:
    event = RecordedEvent(1, str(uuid.uuid4()), 1, codec.USER_ADDED, {"name": "Old Olga"}, T0)
    assert sealing.open_event(event, {}) is event and not sealing.sealed_streams([event])


def test_the_command_fold_treats_a_user_whose_key_is_gone_as_forgotten_and_refuses_edits() -> None:
    user = str(uuid.uuid4())
    history = sealing.open_events([sealed(sealing.new_key(), user, 1, codec.USER_ADDED, "Ada")], {})
    state = domain.load(user, history)
    assert state is not None and (state.name, state.forgotten, state.forgotten_version) == ("", True, 0)
    with pytest.raises(NotFound):
        domain.decide(domain.EditUser(user, "Back"), state)
    forget = domain.decide(domain.ForgetUser(user), state)  # no UserForgotten yet: one is appended
    assert forget is not None and (forget.type, forget.version) == (codec.USER_FORGOTTEN, 2)


def test_forgetting_a_forgotten_user_decides_nothing_and_an_unknown_one_is_not_found() -> None:
    user, key = str(uuid.uuid4()), sealing.new_key()
    events = [sealed(key, user, 1, codec.USER_ADDED, "Ada"), sealed(key, user, 2, codec.USER_FORGOTTEN)]
    state = domain.load(user, sealing.open_events(events, {}))
    assert state is not None and state.forgotten_version == 2
    assert domain.decide(domain.ForgetUser(user), state) is None
    with pytest.raises(NotFound):
        domain.decide(domain.ForgetUser(user), None)


def test_a_batch_creates_a_key_per_new_user_and_keys_the_fingerprints_of_named_commands() -> None:
    made: list[bytes] = []

    def new_key() -> bytes:
        made.append(sealing.new_key())
        return made[-1]

    request_id = str(uuid.uuid4())
    plan = batch.plan([domain.AddUser("Ada", request_id)], {}, {}, None, {}, new_key)
    [(event, metadata)] = plan.appends
    assert plan.new_keys == {event.stream_id: made[0]}
    assert metadata["fingerprint"] == domain.fingerprint(domain.AddUser("Ada", request_id), made[0])
    assert metadata["fingerprint"] != domain.fingerprint(domain.AddUser("Ada", request_id))
    recorded = RecordedEvent(1, event.stream_id, 1, event.type, event.data, T0, metadata)
    keys = {event.stream_id: made[0]}
    retry = batch.plan([domain.AddUser("Ada", request_id)], {}, {request_id: recorded}, None, keys, new_key)
    other = batch.plan([domain.AddUser("Eve", request_id)], {}, {request_id: recorded}, None, keys, new_key)
    assert retry.answers == [batch.Target(event.stream_id, 1, True)] and not retry.appends
    assert isinstance(other.answers[0], RequestIdReused)


def test_a_batch_forgets_once_and_names_the_key_to_destroy_even_when_repeated() -> None:
    user, key = str(uuid.uuid4()), sealing.new_key()
    history = {user: sealing.open_events([sealed(key, user, 1, codec.USER_ADDED, "Ada")], {user: key})}
    plan = batch.plan(
        [domain.ForgetUser(user), domain.ForgetUser(user), domain.EditUser(user, "Bo")],
        batch.fold_all(history),
        {},
        None,
        {user: key},
        sealing.new_key,
    )
    assert [event.type for event, _ in plan.appends] == [codec.USER_FORGOTTEN]
    assert plan.answers[:2] == [batch.Target(user, 2), batch.Target(user, 2, True)]
    assert isinstance(plan.answers[2], NotFound) and plan.forget == {user} and not plan.new_keys


def test_the_projector_fold_drops_a_forgotten_user_and_blanks_its_log() -> None:
    user, key = str(uuid.uuid4()), sealing.new_key()
    added = sealing.open_event(sealed(key, user, 1, codec.USER_ADDED, "Ada", position=1), {user: key})
    plan = fold_batch([added], 0, {}, set())
    assert [row.name for row in plan.upserts] == ["Ada"] and not plan.forgotten
    forgotten = sealing.open_event(sealed(key, user, 2, codec.USER_FORGOTTEN, position=2), {})
    plan = fold_batch([forgotten], 1, {user: plan.upserts[0]}, set())
    assert plan.deletes == [user] and plan.forgotten == [user]
    assert [(row.type, row.name, row.forgotten) for row in plan.log] == [(4, "", True)]


def test_a_rebuild_fold_of_a_user_whose_key_is_gone_keeps_no_row_and_no_name() -> None:
    user, key = str(uuid.uuid4()), sealing.new_key()
    events = sealing.open_events(
        [sealed(key, user, 1, codec.USER_ADDED, "Ada"), sealed(key, user, 2, codec.USER_EDITED, "Bo")], {}
    )
    plan = fold_batch(events, 0, {}, set())
    assert not plan.upserts and plan.deletes == [user] and plan.malformed is None
    assert [(row.name, row.forgotten) for row in plan.log] == [("", True), ("", True)]


def test_an_unopenable_name_is_unreadable_history_for_the_command_side() -> None:
    user, key = str(uuid.uuid4()), sealing.new_key()
    history = sealing.open_events([sealed(key, user, 1, codec.USER_ADDED, "Ada")], {user: sealing.new_key()})
    with pytest.raises(UnreadableHistory):
        domain.load(user, history)
