"""Load loops that run inside a client process: N threads, closed loop or at a fixed rate, in a common window."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from bench.pool import ClientPool, cpu_seconds, split
from bench.profile import Profile
from bench.stacks import ThreadSampler
from bench.stats import Histogram

# Time for every client process to open its channels and threads before the common start.
START_DELAY = 1.5


@dataclass(frozen=True)
class Window:
    """A measurement window on the wall clock, shared by every client process."""

    start_at: float
    warmup: float
    duration: float

    @property
    def begin(self) -> float:
        return self.start_at + self.warmup

    @property
    def end(self) -> float:
        return self.begin + self.duration

    @classmethod
    def soon(cls, warmup: float, duration: float) -> Window:
        """Returns a window that starts START_DELAY seconds from now."""
        return cls(time.time() + START_DELAY, warmup, duration)


@dataclass
class _Tally:
    hist: Histogram = field(default_factory=Histogram)
    ops: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    first_error: str = ""
    records: list[Any] = field(default_factory=list)


def _loop(operation: Any, window: Window, interval: float | None, offset: float, tally: _Tally, collect: bool) -> None:
    next_send = window.start_at + offset
    while True:
        now = time.time()
        if now >= window.end:
            return
        if interval is not None:
            if next_send > now:
                time.sleep(min(next_send - now, window.end - now))  # pacing an open-loop client, not syncing
                continue
            next_send += interval
        started = time.perf_counter()
        try:
            record = operation()
        except Exception as exc:
            name = type(exc).__name__ + (f".{exc.code().name}" if hasattr(exc, "code") and callable(exc.code) else "")
            tally.errors[name] = tally.errors.get(name, 0) + 1
            details = exc.details() if hasattr(exc, "details") and callable(exc.details) else str(exc)
            tally.first_error = tally.first_error or f"{name}: {details}"[:300]
            continue
        elapsed = time.perf_counter() - started
        if window.begin <= time.time() < window.end:
            tally.hist.add(elapsed)
            tally.ops += 1
            if collect and record is not None:
                tally.records.append(record)


def drive(
    workload: str,
    params: dict[str, Any],
    threads: int,
    window: Window,
    rate: float | None = None,
    collect: bool = False,
) -> dict[str, Any]:
    """Runs `threads` loops of the workload in this process; `rate` (ops/s for these threads) paces them."""
    from bench import workloads

    shared: dict[str, Any] = {}
    operations = [workloads.make(workload, params, shared) for _ in range(threads)]
    interval = threads / rate if rate else None
    tallies = [_Tally() for _ in operations]
    offsets = [(i * interval / threads) if interval else 0.0 for i in range(threads)]  # spread a paced schedule
    runners = [
        threading.Thread(target=_loop, args=(op, window, interval, offset, tally, collect))
        for op, tally, offset in zip(operations, tallies, offsets)
    ]
    for runner in runners:
        runner.start()
    time.sleep(max(0.0, window.begin - time.time()))
    cpu_begin = cpu_seconds()
    sampler = ThreadSampler(params["profile_thread"]) if params.get("profile_thread") else None
    if sampler:
        sampler.start()
    time.sleep(max(0.0, window.end - time.time()))
    cpu_used = cpu_seconds() - cpu_begin
    stacks = sampler.stop() if sampler else {}
    for runner in runners:
        runner.join()
    workloads.close(shared)
    total = _Tally()
    for tally in tallies:
        total.hist.merge(tally.hist)
        total.ops += tally.ops
        for name, n in tally.errors.items():
            total.errors[name] = total.errors.get(name, 0) + n
        total.first_error = total.first_error or tally.first_error
        total.records.extend(tally.records)
    return {
        "hist": total.hist,
        "ops": total.ops,
        "errors": total.errors,
        "first_error": total.first_error,
        "records": total.records,
        "cpu": cpu_used,
        "stacks": stacks,
    }


@dataclass
class LoadResult:
    """Merged results of one load run over all client processes."""

    hist: Histogram
    ops: int
    duration: float
    errors: dict[str, int]
    first_error: str
    records: list[Any]
    client_cpu: float
    stacks: dict[str, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.ops / self.duration if self.duration else 0.0


def profiled(window: Window, profile: Profile | None) -> list[threading.Timer]:
    """Starts timers that take the profile's samples at the window's begin and end."""
    if profile is None:
        return []
    now = time.time()
    timers = [
        threading.Timer(max(0.0, window.begin - now), profile.start),
        threading.Timer(max(0.0, window.end - now), profile.stop),
    ]
    for timer in timers:
        timer.start()
    return timers


def tasks(
    workload: str,
    params: dict[str, Any],
    clients: int,
    window: Window,
    processes: int,
    rate: float | None = None,
    collect: bool = False,
) -> list[tuple[Any, tuple[Any, ...]]]:
    """Returns the pool tasks that run `clients` loops spread over `processes` client processes."""
    shares = split(clients, processes)
    return [(drive, (workload, params, n, window, (rate * n / clients) if rate else None, collect)) for n in shares]


def merge(parts: list[dict[str, Any]], duration: float) -> LoadResult:
    """Merges the results of drive() from several processes."""
    result = LoadResult(Histogram(), 0, duration, {}, "", [], 0.0)
    for part in parts:
        result.hist.merge(part["hist"])
        result.ops += part["ops"]
        for name, n in part["errors"].items():
            result.errors[name] = result.errors.get(name, 0) + n
        result.first_error = result.first_error or part["first_error"]
        result.records.extend(part["records"])
        result.client_cpu += part["cpu"]
        result.stacks = result.stacks or part["stacks"]
    return result


def run(
    pool: ClientPool,
    workload: str,
    params: dict[str, Any],
    clients: int,
    warmup: float,
    duration: float,
    processes: int,
    rate: float | None = None,
    collect: bool = False,
    profile: Profile | None = None,
) -> LoadResult:
    """Runs `clients` concurrent loops spread over `processes` client processes; returns the merged result."""
    window = Window.soon(warmup, duration)
    timers = profiled(window, profile)
    try:
        parts = pool.run_tasks(tasks(workload, params, clients, window, processes, rate, collect))
    finally:
        for timer in timers:
            timer.join()
    return merge(parts, duration)
