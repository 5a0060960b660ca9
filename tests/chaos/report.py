"""The summary line, the soak's slopes, and the run's figures as JSON."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tests.chaos.run import Outcome
from tests.chaos.sampler import Sample


def summary_line(outcome: Outcome) -> str:
    """Returns the one line a run ends with: seed, faults by kind, acknowledged commands, events checked, violations."""
    kinds = Counter(f.kind for f in outcome.faults)
    by_kind = " ".join(f"{kind}={count}" for kind, count in sorted(kinds.items()))
    records = outcome.records
    return (
        f"chaos seed={outcome.options.seed} faults={len(outcome.faults)} ({by_kind})"
        f" acknowledged={len(records.acks)} rejected={len(records.rejections)}"
        f" reads={len(records.reads)} events_checked={outcome.verdict.events_checked}"
        f" seconds={outcome.seconds:.0f} violations={len(outcome.verdict.violations)}"
    )


def per_second(times: list[float]) -> list[int]:
    """Returns how many of `times` (seconds since the start) fall into each whole second."""
    counts = [0] * (int(max(times, default=0)) + 1)
    for at in times:
        counts[int(at)] += 1
    return counts


def slope(points: list[tuple[float, float]]) -> float:
    """Returns the least-squares slope of (x, y) points (0 for fewer than two)."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / spread if spread else 0.0


def soak_slopes(samples: list[Sample]) -> dict[str, dict[str, float]]:
    """Returns per service: first/last RSS (MiB), fds and connections, and their slopes per hour over the second half.

    The first half holds the warm-up (pools filling, caches, the allocator's arenas); a leak shows
    as a slope that stays over the second half.
    """
    by_service: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        by_service[sample.service].append(sample)
    figures: dict[str, dict[str, float]] = {}
    for service, series in sorted(by_service.items()):
        half = [s for s in series if s.at >= series[-1].at / 2]
        figures[service] = {
            "pids": len({s.pid for s in series}),
            "rss_mib_start": series[0].rss_kib / 1024,
            "rss_mib_end": series[-1].rss_kib / 1024,
            "rss_mib_per_hour": slope([(s.at / 3600, s.rss_kib / 1024) for s in half]),
            "fds_start": series[0].fds,
            "fds_end": series[-1].fds,
            "fds_per_hour": slope([(s.at / 3600, s.fds) for s in half]),
            "connections_max": max(s.connections for s in series),
            "connections_end": series[-1].connections,
            "connections_per_hour": slope([(s.at / 3600, s.connections) for s in half]),
        }
    return figures


def soak_table(figures: dict[str, dict[str, float]]) -> str:
    """Returns the soak figures as a Markdown table."""
    lines = [
        "| process | RSS MiB start → end | RSS slope MiB/h | fds start → end | fds slope /h | PG conns max, end | conns slope /h |",
        "|---|---|---|---|---|---|---|",
    ]
    for service, f in figures.items():
        lines.append(
            f"| {service} | {f['rss_mib_start']:.1f} → {f['rss_mib_end']:.1f} | {f['rss_mib_per_hour']:+.2f}"
            f" | {f['fds_start']:.0f} → {f['fds_end']:.0f} | {f['fds_per_hour']:+.2f}"
            f" | {f['connections_max']:.0f}, {f['connections_end']:.0f} | {f['connections_per_hour']:+.2f} |"
        )
    return "\n".join(lines)


def as_json(outcome: Outcome) -> dict[str, Any]:
    """Returns the run's figures (not its raw records) as a JSON-ready dict."""
    records = outcome.records
    data: dict[str, Any] = {
        "summary": summary_line(outcome),
        "options": asdict(outcome.options),
        "faults": [asdict(f) for f in outcome.faults],
        "fault_errors": outcome.fault_errors,
        "violations": outcome.verdict.violations,
        "indefinite_answers": dict(records.retries),
        "subscriber_cuts": outcome.subscriber_cuts,
        "sigterm_exit_codes": dict(Counter(str(code) for _, code in outcome.exit_codes)),
        "acknowledged_per_second": per_second([a.at for a in records.acks]),
    }
    if outcome.samples:
        data["soak"] = soak_slopes(outcome.samples)
        data["samples"] = [asdict(s) for s in outcome.samples]
    return data


def write(outcome: Outcome, path: Path) -> None:
    """Writes the run's figures to `path` as JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(as_json(outcome), indent=1))
