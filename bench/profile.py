"""A process-level CPU profile of a measurement window: who used the two cores while a figure was taken."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psycopg

from bench.processes import children_of, cpu_of

_TICKS = os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """Returns the CPU seconds all cores have spent busy (not idle, not waiting for I/O) since boot."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / _TICKS


def tree_cpu(pid: int) -> float:
    """Returns the CPU seconds of a process, its live children, and its reaped children (cutime, cstime).

    A postmaster reaps its backends, so their CPU moves into its cutime/cstime when they exit: a
    difference of this figure over a window counts short-lived connections too.
    """
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    own = sum(int(x) for x in fields[11:15]) / _TICKS
    return own + sum(cpu_of(child) for child in children_of(pid))


class WaitSampler:
    """Samples what PostgreSQL's busy client backends are doing (pg_stat_activity) every 20 ms.

    An active backend with no wait event is on CPU; "idle in transaction" is a backend waiting
    for its client inside an open transaction (client work while holding locks).
    """

    INTERVAL = 0.02

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._stop = threading.Event()
        self._counts: dict[str, int] = {}
        self._samples = 0
        self._thread = threading.Thread(target=self._run, name="pg-waits", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        try:
            with psycopg.connect(self._dsn, autocommit=True) as conn:
                while not self._stop.wait(self.INTERVAL):
                    for (state,) in conn.execute(WAITS_QUERY):
                        self._counts[state] = self._counts.get(state, 0) + 1
                    self._samples += 1
        except psycopg.Error:
            pass  # a profile is best effort: the figure stands without it

    def stop(self) -> dict[str, float]:
        """Returns each state's share of busy-backend samples (%), and the mean number of busy backends."""
        self._stop.set()
        self._thread.join(timeout=5)
        total = sum(self._counts.values())
        if not total or not self._samples:
            return {}
        shares = {f"wait:{state}": 100 * n / total for state, n in self._counts.items()}
        shares["busy backends"] = total / self._samples
        return shares


WAITS_QUERY = """
SELECT CASE WHEN state = 'active' THEN coalesce(wait_event_type || ':' || wait_event, 'CPU') ELSE state END
FROM pg_stat_activity
WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
  AND (state = 'active' OR state LIKE 'idle in transaction%')
"""


class Profile:
    """CPU use of named process groups between start() and stop(), in % of one core, and PostgreSQL's waits."""

    def __init__(self, groups: dict[str, Callable[[], float]], dsn: str = "") -> None:
        self._groups = groups
        self._dsn = dsn
        self._waits: WaitSampler | None = None
        self._begin: dict[str, float] = {}
        self._started = 0.0
        self.result: dict[str, float] = {}

    def _sample(self) -> dict[str, float]:
        sample = {name: read() for name, read in self._groups.items()}
        sample["machine"] = machine_busy_seconds()
        return sample

    def start(self) -> None:
        """Takes the first sample and starts sampling PostgreSQL's waits."""
        self._begin = self._sample()
        self._started = time.monotonic()
        if self._dsn:
            self._waits = WaitSampler(self._dsn)
            self._waits.start()

    def stop(self) -> dict[str, float]:
        """Takes the second sample; returns % of one core per group, the machine's busy %, 'other' and waits."""
        if not self._begin:
            return {}
        end = self._sample()
        seconds = max(time.monotonic() - self._started, 1e-6)
        usage = {name: 100 * (end[name] - self._begin[name]) / seconds for name in end}
        ours = sum(value for name, value in usage.items() if name != "machine")
        # Whatever ran besides the processes we know of: other engineers' tests on a shared machine.
        usage["other"] = max(0.0, usage["machine"] - ours)
        usage["cores"] = float(os.cpu_count() or 1)
        if self._waits is not None:
            usage |= self._waits.stop()
        self.result = {name: round(value, 1) for name, value in usage.items()}
        return self.result


_NOT_PROCESSES = ("machine", "cores", "other", "busy backends")


def describe(profile: dict[str, float]) -> str:
    """Reads a profile: saturated cores or CPU-bound processes first, then CPU by process, then PostgreSQL's waits."""
    if not profile:
        return "no profile for this figure"
    cores = profile.get("cores", 1.0)
    processes = sorted(
        ((k, v) for k, v in profile.items() if k not in _NOT_PROCESSES and ":" not in k), key=lambda kv: -kv[1]
    )
    verdicts = []
    if profile.get("machine", 0) >= 90 * cores:
        verdicts.append(f"the {cores:.0f} cores were saturated")
    # One Python process runs Python code on one core at a time (the GIL): near 100 % it is the ceiling.
    # The clients and PostgreSQL servers (a primary, a replica) are many processes: no such ceiling.
    verdicts += [
        f"{name} was CPU-bound ({value:.0f}% of one core)"
        for name, value in processes
        if value >= 85 and name != "clients" and not name.startswith("postgres")
    ]
    cpu = ", ".join(f"{name} {value:.0f}%" for name, value in processes)
    busy = profile.get("machine", 0)
    cpu += f", other processes {profile.get('other', 0):.0f}% (machine busy {busy:.0f}% of {cores * 100:.0f}%)"
    waits = sorted(((k[5:], v) for k, v in profile.items() if k.startswith("wait:")), key=lambda kv: -kv[1])[:4]
    text = ("; ".join(verdicts) + ". " if verdicts else "") + f"CPU: {cpu}"
    if waits:
        text += f"; PostgreSQL busy backends (mean {profile.get('busy backends', 0):.1f}): " + ", ".join(
            f"{name} {value:.0f}%" for name, value in waits
        )
    stacks = sorted(((k[6:], v) for k, v in profile.items() if k.startswith("stack:")), key=lambda kv: -kv[1])
    if stacks:
        text += "; appender thread's wall time: " + ", ".join(f"{name} {value:.0f}%" for name, value in stacks)
    return text
