"""The invariants, checked against the event store and the read model once the run is over."""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass, field

from eventkit import db
from eventkit.codec import TYPE_IDS
from eventkit.config import Database
from tests.chaos.subscribers import Seen, Subscriber
from tests.chaos.workload import Read, Records
from tests.support.projector import ReadModel, read_model_content, replay


@dataclass
class Verdict:
    """What the checker found: how much it looked at, and each violation in words."""

    events_checked: int = 0
    violations: list[str] = field(default_factory=list)

    def fail(self, invariant: str, detail: str) -> None:
        self.violations.append(f"{invariant}: {detail}")


def stored_events(event_store: Database) -> list[Seen]:
    """Returns every stored event in position order, as a subscriber would see it."""
    with db.connect(event_store) as conn:
        rows = conn.execute("SELECT position, type, stream_id::text, version FROM events ORDER BY position").fetchall()
    return [Seen(p, TYPE_IDS[t], u, v) for p, t, u, v in rows]


def stored_requests(event_store: Database) -> dict[str, list[tuple[int, str, int]]]:
    """Returns request id -> [(position, stream id, version)] for every event stored with a request id."""
    found: dict[str, list[tuple[int, str, int]]] = defaultdict(list)
    with db.connect(event_store) as conn:
        rows = conn.execute(
            "SELECT request_id::text, position, stream_id::text, version FROM events WHERE request_id IS NOT NULL"
        ).fetchall()
    for request_id, position, stream_id, version in rows:
        found[request_id].append((position, stream_id, version))
    return found


def check(event_store: Database, read_model: Database, records: Records, subscribers: list[Subscriber]) -> Verdict:
    """Checks every invariant and returns the verdict (violations empty when all hold)."""
    verdict = Verdict()
    events = stored_events(event_store)
    verdict.events_checked = len(events)
    check_commands(records, stored_requests(event_store), verdict)
    check_versions(events, verdict)
    check_fold(replay(event_store), read_model_content(read_model), verdict)
    for subscriber in subscribers:
        check_subscriber(subscriber.name, subscriber.types, subscriber.seen, events, verdict)
    check_reads(records.reads, verdict)
    return verdict


def check_commands(records: Records, requests: dict[str, list[tuple[int, str, int]]], verdict: Verdict) -> None:
    """Each acknowledged command is stored once, where it was answered; no rejected one is stored; all were answered."""
    for ack in records.acks:
        stored = requests.get(ack.request_id, [])
        if stored != [(ack.position, ack.user_id, ack.version)]:
            verdict.fail("acknowledged stored once where answered", f"{ack} is stored as {stored}")
    for rejection in records.rejections:
        if rejection.request_id in requests:
            verdict.fail("rejected not stored", f"{rejection} is stored as {requests[rejection.request_id]}")
    for entry in records.unanswered:
        verdict.fail("every command answered once the faults stop", entry)


def check_versions(events: list[Seen], verdict: Verdict) -> None:
    """Each user's versions are 1, 2, 3 ... in position order."""
    versions: dict[str, list[int]] = defaultdict(list)
    for event in events:
        versions[event.user_id].append(event.version)
    for user, found in versions.items():
        if found != list(range(1, len(found) + 1)):
            verdict.fail("versions consecutive per user", f"{user} has versions {found[:10]}")


def check_fold(expected: ReadModel, actual: ReadModel, verdict: Verdict) -> None:
    """The read model (users, event log, checkpoint) equals a fresh fold of the store."""
    if actual.log != expected.log:
        missing = sorted(set(expected.log) - set(actual.log))[:5]
        extra = sorted(set(actual.log) - set(expected.log))[:5]
        verdict.fail("read model equals a fresh fold", f"event_log differs (missing {missing}, extra {extra})")
    if actual.users != expected.users:
        differing = sorted(row[0] for row in actual.users ^ expected.users)[:5]
        verdict.fail("read model equals a fresh fold", f"users differ, e.g. {differing}")
    if actual.checkpoint != expected.checkpoint:
        verdict.fail("read model equals a fresh fold", f"checkpoint {actual.checkpoint} != {expected.checkpoint}")


def check_subscriber(name: str, types: tuple[int, ...], seen: list[Seen], events: list[Seen], verdict: Verdict) -> None:
    """A subscriber saw exactly the stored events of its types, each once, in position order."""
    wanted = [e for e in events if not types or e.type in types]
    if seen != wanted:
        positions = [s.position for s in seen]
        doubled = len(positions) - len(set(positions))
        out_of_order = sum(1 for a, b in itertools.pairwise(positions) if b <= a)
        missing = sorted({e.position for e in wanted} - set(positions))[:5]
        verdict.fail(
            "each subscriber saw its events once, in order",
            f"{name}: {len(positions)} seen, {len(wanted)} stored, {doubled} twice,"
            f" {out_of_order} out of order, missing e.g. {missing}",
        )


def check_reads(reads: list[Read], verdict: Verdict) -> None:
    """Every read with min_position saw the version its write produced (or a later one)."""
    for read in reads:
        if read.seen_version is None or read.seen_version < read.written_version:
            verdict.fail("read-your-writes", f"{read}")
