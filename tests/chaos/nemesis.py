"""A reproducible fault schedule drawn from one random seed, and the thread that injects it."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from devtools.pgcluster import Cluster
from tests.chaos import postgres
from tests.chaos.fleet import Fleet
from tests.support.waiting import wait_until

log = logging.getLogger("chaos.nemesis")

SERVICE_FAULTS = [f"{signal}-{role}" for signal in ("sigkill", "sigterm") for role in ("command", "projector", "query")]
POSTGRES_FAULTS = ["pg-fast-restart", "pg-immediate-restart", "pg-terminate-backends", "pg-freeze"]
ALL_FAULTS = [*SERVICE_FAULTS, "sigstop-leader", *POSTGRES_FAULTS]
# Faults that leave every service process alive: the soak's, so each process's figures span the run.
SOAK_FAULTS = ["sigstop-leader", *POSTGRES_FAULTS]


@dataclass(frozen=True)
class Planned:
    """One fault of the schedule: its kind, the replica it hits, how long it lasts, the pause after it."""

    kind: str
    replica: int
    seconds: float
    pause: float


@dataclass(frozen=True)
class Injected:
    """One fault as it happened: when (seconds since the run started), what, and on which process."""

    start: float
    end: float
    kind: str
    target: str


def schedule(seed: int, kinds: list[str], count: int, pause: tuple[float, float]) -> list[Planned]:
    """Returns `count` faults: every kind once per round in a shuffled order, all drawn from `seed`."""
    rng = random.Random(seed)
    planned: list[Planned] = []
    while len(planned) < count:
        round_ = list(kinds)
        rng.shuffle(round_)
        for kind in round_:
            planned.append(Planned(kind, rng.randint(1, 2), round(rng.uniform(1.0, 4.0), 2), rng.uniform(*pause)))
    return planned[:count]


@dataclass
class Nemesis:
    """Injects the planned faults one after another until they are done, the time is up, or it is stopped."""

    fleet: Fleet
    cluster: Cluster
    databases: list[str]
    plan: list[Planned]
    started: float
    deadline: float
    done: list[Injected] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    halt: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        for fault in self.plan:
            if self.halt.is_set() or time.monotonic() > self.deadline:
                return
            start = time.monotonic() - self.started
            try:
                target = self.inject(fault)
            except Exception as exc:  # a fault that could not be injected is reported, not hidden
                self.errors.append(f"{fault.kind}: {exc!r}")
                log.exception("fault %s could not be injected", fault.kind)
                continue
            self.done.append(Injected(start, time.monotonic() - self.started, fault.kind, target))
            log.info("fault %d %s on %s, %.1f s", len(self.done), fault.kind, target, self.done[-1].end - start)
            self.halt.wait(fault.pause)  # the quiet time between faults (part of the schedule)

    def inject(self, fault: Planned) -> str:
        """Injects one fault and undoes it (restart, SIGCONT); returns what it hit."""
        kind = fault.kind
        if kind in SERVICE_FAULTS:
            signal, role = kind.split("-")
            name = f"{role}-{fault.replica}"
            (self.fleet.kill if signal == "sigkill" else self.fleet.terminate)(name)
            return name
        if kind == "sigstop-leader":
            leader = wait_until(self.fleet.leader, 60, 0.1, message="a projector leading") or ""
            self.fleet.pause(leader, fault.seconds, self.halt)
            return leader
        if kind in ("pg-fast-restart", "pg-immediate-restart"):
            postgres.restart(self.cluster, kind.split("-")[1])
            return "postgresql"
        if kind == "pg-terminate-backends":
            return f"{postgres.terminate_sessions(self.cluster, self.databases)} sessions"
        if kind == "pg-freeze":
            return f"{postgres.freeze(self.cluster, fault.seconds, self.halt)} processes"
        raise ValueError(kind)

    def counts(self) -> Counter[str]:
        """Returns how many faults of each kind were injected."""
        return Counter(f.kind for f in self.done)
