"""The users domain: folding events into state, and what each command decides (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from command_service import batch, domain
from eventkit import codec
from eventkit.codec import RecordedEvent
from eventkit.errors import NotFound, RequestIdReused, UnreadableHistory, VersionConflict

T0 = datetime(2026, 1, 1, tzinfo=UTC)
USER = "6f1c1d2e-0000-4000-8000-000000000001"


def event(version: int, type_: str, name: str | None = None, **metadata: str) -> RecordedEvent:
    data = {} if name is None else {"name": name}
    return RecordedEvent(version * 10, USER, version, type_, data, T0 + timedelta(seconds=version), dict(metadata))


def test_fold_tracks_name_version_and_times() -> None:
    state = domain.fold([event(1, codec.USER_ADDED, "ada"), event(2, codec.USER_EDITED, "grace")])
    assert state is not None
    assert (state.name, state.version, state.deleted) == ("grace", 2, False)
    assert state.create_time == T0 + timedelta(seconds=1)
    assert state.update_time == T0 + timedelta(seconds=2)


def test_a_deleted_user_cannot_be_edited_or_deleted_again() -> None:
    state = domain.fold([event(1, codec.USER_ADDED, "ada"), event(2, codec.USER_DELETED)])
    with pytest.raises(NotFound):
        domain.decide(domain.EditUser(USER, "x"), state)
    with pytest.raises(NotFound):
        domain.decide(domain.DeleteUser(USER), state)


def test_an_unknown_user_is_not_found() -> None:
    with pytest.raises(NotFound):
        domain.decide(domain.EditUser(USER, "x"), None)


def test_a_stale_expected_version_is_a_conflict_that_names_the_current_version() -> None:
    state = domain.fold([event(1, codec.USER_ADDED, "ada"), event(2, codec.USER_EDITED, "b")])
    with pytest.raises(VersionConflict) as caught:
        domain.decide(domain.EditUser(USER, "x", expected_version=1), state)
    assert caught.value.current == 2
    assert "current version is 2" in caught.value.message


def test_expected_version_zero_means_any() -> None:
    state = domain.fold([event(1, codec.USER_ADDED, "ada")])
    decided = domain.decide(domain.EditUser(USER, "x", expected_version=0), state)
    assert (decided.version, decided.type, decided.data) == (2, codec.USER_EDITED, {"name": "x"})


def test_a_malformed_known_event_is_reported_not_ignored() -> None:
    with pytest.raises(codec.MalformedEvent):
        domain.fold([event(1, codec.USER_ADDED, None)])


def test_a_batch_decides_in_order_so_one_of_two_same_version_edits_wins() -> None:
    history = {USER: [event(1, codec.USER_ADDED, "ada")]}
    plan = batch.plan([domain.EditUser(USER, "a", 1), domain.EditUser(USER, "b", 1)], batch.fold_all(history), {})
    assert plan.answers[0] == batch.Target(USER, 2)
    assert isinstance(plan.answers[1], VersionConflict)
    assert len(plan.appends) == 1


def test_a_repeated_request_id_in_one_batch_appends_once_and_answers_twice() -> None:
    command = domain.AddUser("ada", request_id="11111111-1111-4111-8111-111111111111")
    plan = batch.plan([command, command], {}, {})
    assert len(plan.appends) == 1
    first, second = plan.answers
    assert isinstance(first, batch.Target) and not first.replayed
    assert second == batch.Target(first.stream_id, first.version, replayed=True)


def test_a_request_id_seen_before_answers_with_the_original_event() -> None:
    command = domain.EditUser(USER, "grace", request_id="22222222-2222-4222-8222-222222222222")
    original = event(2, codec.USER_EDITED, "grace", fingerprint=domain.fingerprint(command))
    history = {USER: [event(1, codec.USER_ADDED, "ada"), original, event(3, codec.USER_EDITED, "later")]}
    plan = batch.plan([command], batch.fold_all(history), {command.request_id: original})
    assert plan.appends == []
    assert plan.answers == [batch.Target(USER, 2, replayed=True)]


def test_each_new_event_keeps_its_commands_correlation_id() -> None:
    history = {USER: [event(1, codec.USER_ADDED, "ada")]}
    commands = [domain.AddUser("grace"), domain.EditUser(USER, "ada b"), domain.AddUser("kate")]
    plan = batch.plan(commands, batch.fold_all(history), {}, ["first", None, "third"])
    assert [meta.get("correlation_id") for _, meta in plan.appends] == ["first", None, "third"]


def test_a_request_id_reused_for_another_request_is_rejected() -> None:
    first = domain.AddUser("ada", request_id="33333333-3333-4333-8333-333333333333")
    second = domain.AddUser("grace", request_id=first.request_id)
    plan = batch.plan([first, second], {}, {})
    assert len(plan.appends) == 1
    assert isinstance(plan.answers[1], RequestIdReused)


def test_an_unreadable_stream_fails_only_the_commands_that_touch_it() -> None:
    broken = "7f1c1d2e-0000-4000-8000-000000000002"
    history = {
        USER: [event(1, codec.USER_ADDED, "ada")],
        broken: [RecordedEvent(5, broken, 1, codec.USER_ADDED, {"nom": "x"}, T0)],
    }
    plan = batch.plan([domain.EditUser(broken, "x"), domain.EditUser(USER, "grace")], batch.fold_all(history), {})
    assert isinstance(plan.answers[0], UnreadableHistory) and plan.answers[0].reason == "USER_HISTORY_UNREADABLE"
    assert plan.answers[1] == batch.Target(USER, 2)
    assert len(plan.appends) == 1
