"""The fault suite's checker finds each kind of violation it exists for, and passes a clean history."""

from __future__ import annotations

import datetime

from tests.chaos.checker import Verdict, check_commands, check_fold, check_reads, check_subscriber, check_versions
from tests.chaos.subscribers import Seen
from tests.chaos.workload import Ack, Read, Records, Rejection
from tests.support.projector import ReadModel

ADA, BOB = "00000000-0000-4000-8000-00000000000a", "00000000-0000-4000-8000-00000000000b"
EVENTS = [Seen(1, 1, ADA, 1), Seen(2, 1, BOB, 1), Seen(3, 2, ADA, 2), Seen(4, 3, BOB, 2)]
AT = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


def records(
    acks: list[Ack] | None = None, rejections: list[Rejection] | None = None, unanswered: list[str] | None = None
) -> Records:
    found = Records()
    found.acks, found.rejections, found.unanswered = acks or [], rejections or [], unanswered or []
    return found


def invariants(verdict: Verdict) -> list[str]:
    return [v.split(":")[0] for v in verdict.violations]


def test_an_acknowledged_command_stored_once_where_answered_passes() -> None:
    verdict = Verdict()
    check_commands(records([Ack("r1", "AddUser", ADA, 1, 1, 0.0)]), {"r1": [(1, ADA, 1)]}, verdict)
    assert verdict.violations == []


def test_an_acknowledged_command_that_is_missing_doubled_or_elsewhere_is_a_violation() -> None:
    acks = [Ack("lost", "AddUser", ADA, 1, 1, 0.0), Ack("moved", "AddUser", BOB, 1, 2, 0.0)]
    acks.append(Ack("twice", "EditUser", ADA, 2, 3, 0.0))
    stored = {"moved": [(5, BOB, 1)], "twice": [(3, ADA, 2), (7, ADA, 3)]}
    verdict = Verdict()
    check_commands(records(acks), stored, verdict)
    assert invariants(verdict) == ["acknowledged stored once where answered"] * 3


def test_a_rejected_command_that_was_stored_and_an_unanswered_one_are_violations() -> None:
    verdict = Verdict()
    check_commands(
        records(rejections=[Rejection("r9", "ABORTED"), Rejection("r8", "NOT_FOUND")], unanswered=["writer-0"]),
        {"r9": [(4, ADA, 3)]},
        verdict,
    )
    assert invariants(verdict) == ["rejected not stored", "every command answered once the faults stop"]


def test_a_gap_or_a_repeat_in_a_users_versions_is_a_violation() -> None:
    verdict = Verdict()
    check_versions(EVENTS, verdict)
    assert verdict.violations == []
    check_versions([*EVENTS, Seen(5, 2, ADA, 4), Seen(6, 2, BOB, 2)], verdict)
    assert len(verdict.violations) == 2


def test_a_subscriber_passes_only_with_every_event_of_its_types_once_and_in_order() -> None:
    verdict = Verdict()
    check_subscriber("all", (), list(EVENTS), EVENTS, verdict)
    check_subscriber("added", (1,), [EVENTS[0], EVENTS[1]], EVENTS, verdict)
    assert verdict.violations == []
    check_subscriber("gap", (), [EVENTS[0], EVENTS[2], EVENTS[3]], EVENTS, verdict)
    check_subscriber("twice", (), [EVENTS[0], EVENTS[1], EVENTS[1], EVENTS[2], EVENTS[3]], EVENTS, verdict)
    check_subscriber("swapped", (), [EVENTS[1], EVENTS[0], EVENTS[2], EVENTS[3]], EVENTS, verdict)
    assert [v.split(": ")[1] for v in verdict.violations] == ["gap", "twice", "swapped"]
    assert "missing e.g. [2]" in verdict.violations[0]
    assert "1 twice" in verdict.violations[1]


def test_a_read_model_that_differs_from_the_fold_is_a_violation() -> None:
    users = {(ADA, "Ada", 2, AT, AT, 3)}
    log = {1: (1, ADA, 1, "Ada", AT)}
    verdict = Verdict()
    check_fold(ReadModel(users, log, 4), ReadModel(set(users), dict(log), 4), verdict)
    assert verdict.violations == []
    check_fold(ReadModel(users, log, 4), ReadModel({(ADA, "Ada", 1, AT, AT, 1)}, {}, 3), verdict)
    assert invariants(verdict) == ["read model equals a fresh fold"] * 3


def test_a_read_that_did_not_see_its_write_is_a_violation() -> None:
    verdict = Verdict()
    check_reads([Read(ADA, 3, 2, 2), Read(ADA, 5, 3, 4)], verdict)
    assert verdict.violations == []
    check_reads([Read(ADA, 3, 2, 1), Read(BOB, 2, 1, None)], verdict)
    assert invariants(verdict) == ["read-your-writes"] * 2
