"""The GetUser scale-out curve's pure parts: its configurations, its series, and the note that reads its profiles."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bench.measure import plural


@dataclass(frozen=True)
class Point:
    """One configuration: query-service processes on the port, and streaming replicas they read through."""

    workers: int
    replicas: int

    @property
    def label(self) -> str:
        """Returns '1 query worker on the primary', '2 query workers through 1 replica'."""
        where = "on the primary" if not self.replicas else f"through {plural(self.replicas, 'replica')}"
        return f"{plural(self.workers, 'query worker')} {where}"


# The first is the reference of the others; the replicated points come last, so one replica serves both.
CONFIGURATIONS = (Point(1, 0), Point(2, 0), Point(1, 1), Point(2, 1))
# Two quick runs on a quiet machine gave the same point within about this share of each other.
NOISE = 0.1


@dataclass
class Measured:
    """What one point's window gave: its rate, latency percentiles and CPU profile (% of one core)."""

    point: Point
    rate: float
    p50_ms: float
    p99_ms: float
    profile: dict[str, float] = field(default_factory=dict)


def cpu_shares(profile: dict[str, float]) -> dict[str, float]:
    """Sums a window's profile by role: the query processes, the clients, each PostgreSQL server, the machine."""
    query = sum(value for name, value in profile.items() if name.startswith("query"))
    return {
        "query service": round(query, 1),
        "clients": profile.get("clients", 0.0),
        "postgres": profile.get("postgres", 0.0),
        "postgres replica": profile.get("postgres replica", 0.0),
        "machine": profile.get("machine", 0.0),
        "cores": profile.get("cores", 0.0),
    }


def cpu_text(profile: dict[str, float]) -> str:
    """Returns a point's CPU by role for its figure: 'CPU % of one core: query service 127, clients 45, ...'."""
    shares = cpu_shares(profile)
    if not shares["machine"]:
        return "no profile"
    roles = ", ".join(
        f"{role} {shares[role]:.0f}"
        for role in ("query service", "clients", "postgres", "postgres replica")
        if shares[role] or role != "postgres replica"
    )
    return f"CPU % of one core: {roles}; machine {shares['machine']:.0f} of {shares['cores'] * 100:.0f}"


def series(measured: list[Measured]) -> list[dict[str, Any]]:
    """Returns the curve for the results JSON: one entry per point, its ratio to the first and its CPU by role."""
    reference = measured[0].rate if measured else 0.0
    return [
        {
            "workers": m.point.workers,
            "replicas": m.point.replicas,
            "label": m.point.label,
            "rpc_per_s": round(m.rate, 1),
            "ratio": round(m.rate / reference, 3) if reference else None,
            "p50_ms": round(m.p50_ms, 2),
            "p99_ms": round(m.p99_ms, 2),
            "cpu_percent_of_one_core": cpu_shares(m.profile),
        }
        for m in measured
    ]


def _find(measured: list[Measured], workers: int, replicas: int) -> Measured | None:
    return next((m for m in measured if m.point == Point(workers, replicas)), None)


def _ratio(m: Measured | None, reference: Measured) -> str:
    return f"{m.rate / reference.rate:.2f}x" if m and reference.rate else "not measured"


def _cpu_ms(percent: float, rate: float) -> float:
    """Returns the CPU milliseconds per call that `percent` of one core buys at `rate` calls/s."""
    return 10 * percent / rate if rate else 0.0


def _headroom(busy: float, cores: float) -> float:
    """Returns how much more work the idle rest of the cores could take, as a share of what ran (0.17: +17%)."""
    return max(0.0, cores * 100 / busy - 1) if busy else 0.0


def ceiling_note(measured: list[Measured]) -> str:
    """Explains where the curve stops, from the points' CPU profiles (the cores, one worker's core, or neither)."""
    if not measured or not measured[0].rate:
        return "GetUser scale-out: no reference point, no curve."
    one = measured[0]
    two = _find(measured, 2, 0) or one
    text = _workers_text(one, two)
    if any(m.point.replicas for m in measured):
        text += " " + _replica_text(one, measured)
    return text


def _workers_text(one: Measured, two: Measured) -> str:
    alone, shares = cpu_shares(one.profile), cpu_shares(two.profile)
    cores = shares["cores"] or alone["cores"] or 1.0
    workers = [v for k, v in sorted(two.profile.items()) if k.startswith("query worker ")]
    split = "/".join(f"{v:.0f}%" for v in workers)
    if workers and max(workers) > 1.2 * min(workers):
        split += ": the kernel spreads connections by a hash of their addresses, not by load"
    text = (
        f"GetUser scale-out on {cores:.0f} cores: 2 query workers give {_ratio(two, one)} of one worker's rate. "
        f"One worker used {alone['query service']:.0f}% of one core"
        + (" (its event loop's ceiling: one Python process, one core)" if alone["query service"] >= 85 else "")
        + f", and the machine was already busy {alone['machine']:.0f}% of {cores * 100:.0f}% (the clients "
        f"{alone['clients']:.0f}%, PostgreSQL {alone['postgres']:.0f}%): at the same CPU per call a second "
        f"worker could add at most {_headroom(alone['machine'], cores):.0%}. "
        f"With two, the machine was busy {shares['machine']:.0f}%: the workers {shares['query service']:.0f}%"
        + (f" (split {split})" if split else "")
        + f", the clients {shares['clients']:.0f}%, PostgreSQL {shares['postgres']:.0f}%. "
    )
    if shares["machine"] >= 90 * cores:
        per_call = (_cpu_ms(alone["query service"], one.rate), _cpu_ms(shares["query service"], two.rate))
        grows = per_call[1] > 1.1 * per_call[0]
        text += (
            "The cores are the ceiling: a second worker only gets what the clients and PostgreSQL leave of the "
            f"second core, and the workers' CPU per call {'grows' if grows else 'stays'} "
            f"({per_call[0]:.2f} ms with one, {per_call[1]:.2f} ms with two"
            + (
                "; likely because each event loop finds fewer calls per wake-up to share its fixed costs"
                if grows
                else ""
            )
            + "), so the rate cannot double here; with more cores the second worker would have one of its own."
        )
    else:
        text += "The cores were not all busy: the limit was elsewhere (see the profile of each point)."
    if two.p99_ms > 2 * one.p99_ms:
        text += (
            f" p99 rose from {one.p99_ms:.0f} to {two.p99_ms:.0f} ms: on oversubscribed cores a worker that waits "
            "for one holds every call on its connections."
        )
    return text


def _replica_text(one: Measured, measured: list[Measured]) -> str:
    replicated = [m for m in measured if m.point.replicas]
    pairs = [(m, _find(measured, m.point.workers, 0)) for m in replicated]
    ratios = ", ".join(
        f"{_ratio(m, one)} with {plural(m.point.workers, 'worker')} ({_ratio(primary, one)} on the primary)"
        for m, primary in pairs
    )
    close = all(
        primary is not None and primary.rate and abs(m.rate / primary.rate - 1) <= NOISE for m, primary in pairs
    )
    spent = max(cpu_shares(m.profile)["postgres replica"] for m in replicated)
    return (
        f"Through a replica: {ratios}"
        + (f", the same within a window's noise (about {NOISE:.0%} between runs)" if close else "")
        + f". The replica's server (up to {spent:.0f}% of a core) does the reads' PostgreSQL work the primary "
        "did, on the same cores as the primary, the workers and the clients: a replica adds a server, not cores, "
        "so on one machine it cannot raise the ceiling; it takes that work off the primary, which pays when the "
        "replica has cores of its own."
    )
