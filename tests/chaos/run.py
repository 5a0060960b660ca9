"""One run of the fault suite: start the fleet, load it, inject the faults, heal, and check the invariants."""

from __future__ import annotations

import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from devtools.pgcluster import Cluster
from eventkit.config import Database
from tests.chaos.checker import Verdict, check, stored_events
from tests.chaos.fleet import Fleet
from tests.chaos.nemesis import ALL_FAULTS, SOAK_FAULTS, Injected, Nemesis, schedule
from tests.chaos.sampler import Sample, Sampler
from tests.chaos.subscribers import Subscriber
from tests.chaos.workload import Records, Writer
from tests.support.projector import checkpoint, store_head
from tests.support.waiting import wait_until

ADDED_OR_DELETED = (1, 3)  # one subscriber filters by type, so filtered resumption is checked too
SETTLE_SECONDS = 180.0


@dataclass(frozen=True)
class Options:
    """What one run does: the seed of its schedule, its fault and time budgets, its load."""

    seed: int
    faults: int
    seconds: float
    writers: int = 4
    writer_pause: float = 0.0  # seconds each writer waits between commands (0: as fast as it can)
    soak: bool = False
    pause: tuple[float, float] = (0.2, 1.0)  # quiet time after each fault, drawn from this range
    sample_interval: float = 5.0


@dataclass
class Outcome:
    """Everything a run produced, for the summary line, the report and the plots."""

    options: Options
    records: Records
    faults: list[Injected]
    verdict: Verdict
    seconds: float
    fault_errors: list[str] = field(default_factory=list)
    exit_codes: list[tuple[str, int | None]] = field(default_factory=list)
    subscriber_cuts: dict[str, int] = field(default_factory=dict)
    samples: list[Sample] = field(default_factory=list)


def run(options: Options, cluster: Cluster, log_dir: Path) -> Outcome:
    """Runs the suite on fresh databases of `cluster` and returns what it found; drops them if nothing failed."""
    suffix = uuid.uuid4().hex[:8]
    names = [f"chaos_es_{suffix}", f"chaos_rm_{suffix}"]
    for name in names:
        cluster.create_database(name)
    event_store = Database(cluster.dsn(names[0]), "event_store", 4)
    read_model = Database(cluster.dsn(names[1]), "read_model", 4)
    fleet = Fleet(event_store, read_model, log_dir)
    try:
        fleet.start()
        outcome = _load_and_break(options, cluster, fleet, names)
    finally:
        fleet.stop()
    if not outcome.verdict.violations:
        for name in names:
            cluster.drop_database(name)
    return outcome


def _load_and_break(options: Options, cluster: Cluster, fleet: Fleet, databases: list[str]) -> Outcome:
    records, stop = Records(), threading.Event()
    commands, queries = fleet.addresses("command"), fleet.addresses("query")
    writers = [
        Writer(i, commands, queries, records, stop, random.Random(options.seed * 1000 + i), options.writer_pause)
        for i in range(options.writers)
    ]
    subscribers = [Subscriber(0, queries), Subscriber(1, queries, ADDED_OR_DELETED)]
    kinds = SOAK_FAULTS if options.soak else ALL_FAULTS
    plan = schedule(options.seed, kinds, options.faults, options.pause)
    nemesis = Nemesis(fleet, cluster, databases, plan, records.started, records.started + options.seconds)
    sampler = Sampler(fleet, cluster, records.started, options.sample_interval)
    threads = [*writers, *subscribers]
    if options.soak:
        threads.append(threading.Thread(target=sampler.run, name="sampler", daemon=True))
    for thread in threads:
        thread.start()
    # In this thread, which outlives the run: the processes it restarts die with the thread that
    # started them (PR_SET_PDEATHSIG follows the parent thread, not the parent process).
    nemesis.run()
    if options.soak:  # keep the load on for the rest of the soak's time
        stop.wait(max(0.0, records.started + options.seconds - time.monotonic()))
    stop.set()
    for writer in writers:
        writer.join()
    sampler.halt.set()
    settled = _settle(fleet, subscribers)
    for subscriber in subscribers:
        subscriber.finish()
    verdict = check(fleet.event_store, fleet.read_model, records, subscribers)
    verdict.violations[:0] = settled
    cuts: dict[str, int] = {}
    for subscriber in subscribers:
        for code, count in subscriber.cuts.items():
            cuts[code] = cuts.get(code, 0) + count
    return Outcome(
        options,
        records,
        nemesis.done,
        verdict,
        time.monotonic() - records.started,
        nemesis.errors,
        fleet.exit_codes,
        cuts,
        sampler.samples,
    )


def _settle(fleet: Fleet, subscribers: list[Subscriber]) -> list[str]:
    """Waits until the projection and every subscriber reached the store's end; returns what did not."""
    problems: list[str] = []
    head = store_head(fleet.event_store)
    try:
        wait_until(lambda: checkpoint(fleet.read_model) >= head, SETTLE_SECONDS, 0.2, message="the projection")
    except AssertionError as exc:
        problems.append(f"projection caught up after the faults: {exc}")
    events = stored_events(fleet.event_store)
    for subscriber in subscribers:
        wanted = [e.position for e in events if not subscriber.types or e.type in subscriber.types]
        last = wanted[-1] if wanted else 0

        def arrived(subscriber: Subscriber = subscriber, last: int = last) -> bool:
            return bool(subscriber.seen) and subscriber.seen[-1].position >= last

        try:
            wait_until(arrived, SETTLE_SECONDS, 0.2, message=f"{subscriber.name} reaching {last}")
        except AssertionError as exc:
            problems.append(f"subscriber reached the store's end: {exc}")
    return problems
