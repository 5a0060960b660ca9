"""Stream heads without I/O: when a head may stand for the history, and which heads a batch writes."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from command_service import batch, domain, heads
from eventkit import codec
from eventkit.codec import RecordedEvent
from eventkit.errors import UnreadableHistory

T0 = datetime(2026, 1, 1, tzinfo=UTC)
USER = "6f1c1d2e-0000-4000-8000-000000000001"


def state(version: int = 3, deleted: bool = False) -> domain.UserState:
    return domain.UserState(USER, "", version, deleted, T0, T0 + timedelta(seconds=version))


def stored(of: domain.UserState, position: int = 30, keyed: bool = True) -> heads.Head:
    return heads.Head(
        USER,
        of.version,
        position,
        of.deleted,
        of.forgotten,
        of.forgotten_version,
        keyed,
        of.create_time,
        heads.checksum(USER, of, keyed),
    )


def last(version: int = 3, position: int = 30) -> heads.Last:
    return heads.Last(version, position, T0 + timedelta(seconds=version))


def test_a_head_that_matches_the_last_event_the_key_and_its_checksum_stands_for_the_history() -> None:
    trusted = heads.trusted(USER, heads.Checked(stored(state()), last()), keyed_now=True)
    assert trusted == state()
    assert trusted is not None and trusted.update_time == last().record_time  # from the store, not the head


def test_a_head_is_not_trusted_when_anything_disagrees() -> None:
    good = stored(state())
    assert heads.trusted(USER, heads.Checked(None, last()), True) is None
    assert heads.trusted(USER, heads.Checked(good, None), True) is None
    assert heads.trusted(USER, heads.Checked(good, last(version=4, position=40)), True) is None
    assert heads.trusted(USER, heads.Checked(good, last(position=31)), True) is None
    assert heads.trusted(USER, heads.Checked(good, last()), keyed_now=False) is None
    flipped = dataclasses.replace(good, deleted=True)
    assert heads.trusted(USER, heads.Checked(flipped, last()), True) is None


def test_the_checksum_reads_the_same_instant_the_same_in_any_time_zone() -> None:
    elsewhere = dataclasses.replace(state(), create_time=T0.astimezone(datetime.now().astimezone().tzinfo))
    assert heads.checksum(USER, elsewhere, True) == heads.checksum(USER, state(), True)


def test_a_batch_writes_heads_for_users_it_appended_to_or_refolded_only() -> None:
    other, broken, fresh = (USER.replace("0001", n) for n in ("0002", "0003", "0004"))
    base: dict[str, domain.UserState | UnreadableHistory | None] = {
        USER: state(),
        other: dataclasses.replace(state(), id=other),
        broken: UnreadableHistory("x"),
        fresh: None,
    }
    checked = {stream: heads.Checked(None, last()) for stream in base}
    edited = RecordedEvent(0, USER, 4, codec.USER_EDITED, {"name": "b"}, T0)
    final = {USER: domain.evolve(state(), edited), other: base[other]}
    rows = heads.to_write(base, {other, broken}, final, checked, keyed={USER})  # type: ignore[arg-type]
    by_stream = {row["s"]: row for row in rows}
    assert set(by_stream) == {USER, other}
    assert (by_stream[USER]["v"], by_stream[USER]["p"], by_stream[USER]["k"]) == (
        4,
        None,
        True,
    )  # position of the append
    assert (by_stream[other]["v"], by_stream[other]["p"], by_stream[other]["k"]) == (3, 30, False)


def test_a_batch_plan_reports_the_states_it_leaves() -> None:
    plan = batch.plan([domain.DeleteUser(USER, 3)], {USER: state()}, {})
    after = plan.states[USER]
    assert after is not None and (after.version, after.deleted) == (4, True)
