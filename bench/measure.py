"""Helpers the sections share: turn a load run into a figure and into the series the plots draw."""

from __future__ import annotations

import math
from typing import Any

from bench.load import LoadResult
from bench.model import Figure, SectionResult, Target
from bench.stats import Histogram

# A run in which more than this share of operations failed measured the failure, not the system.
# Fewer errors are a result (an overloaded service shedding calls): they are reported with the figure.
MAX_ERROR_SHARE = 0.1


class MeasurementFailed(RuntimeError):
    """A measurement produced no usable figure (every call failed, or too many did)."""


def checked(load: LoadResult, what: str) -> LoadResult:
    """Returns the load result, or raises when it did nothing or failed too often."""
    errors = sum(load.errors.values())
    if load.ops == 0:
        raise MeasurementFailed(
            f"{what}: no operation completed in the window; errors {load.errors}: {load.first_error}"
        )
    if errors > MAX_ERROR_SHARE * (load.ops + errors):
        raise MeasurementFailed(
            f"{what}: {errors} of {load.ops + errors} operations failed {load.errors}: {load.first_error}"
        )
    return load


def latency_text(hist: Histogram) -> str:
    """Returns 'p50 1.2 ms, p99 8.0 ms' for a histogram."""
    s = hist.summary_ms()
    return f"p50 {s['p50_ms']:.1f} ms, p99 {s['p99_ms']:.1f} ms"


def record_throughput(result: SectionResult, curve: str, clients: int, rate: float) -> None:
    """Adds one point to a throughput-against-concurrency curve."""
    result.series.setdefault("throughput", {}).setdefault(curve, {})[str(clients)] = round(rate, 1)


def record_latency(result: SectionResult, label: str, hist: Histogram) -> None:
    """Keeps a latency distribution for the plots and the JSON."""
    result.series.setdefault("latency", {})[label] = hist.to_json()


def rate_figure(
    result: SectionResult,
    name: str,
    load: LoadResult,
    unit: str,
    curve: str = "",
    clients: int = 0,
    reference: str = "",
    reference_value: float | None = None,
    target: Target | None = None,
    profile: dict[str, float] | None = None,
) -> Figure:
    """Adds a throughput figure (with latency in its detail) and records its series."""
    figure = Figure(name, load.rate, unit, reference, reference_value, target, latency_text(load.hist), profile or {})
    if load.errors:
        figure.detail += f"; {sum(load.errors.values())} errors {load.errors}"
        result.notes.append(f"{name}: {sum(load.errors.values())} calls failed, the first with {load.first_error}")
    result.figures.append(figure)
    if curve:
        record_throughput(result, curve, clients, load.rate)
        record_latency(result, f"{curve}, {plural(clients)}", load.hist)
    return figure


def latency_figures(
    result: SectionResult,
    name: str,
    hist: Histogram,
    targets: dict[str, Target] | None = None,
    profile: dict[str, float] | None = None,
) -> None:
    """Adds p50, p99 and max figures (ms) for one latency distribution, with optional targets by percentile."""
    s = hist.summary_ms()
    targets = targets or {}
    for key, label in (("p50_ms", "p50"), ("p99_ms", "p99"), ("max_ms", "max")):
        value = s[key]
        result.figures.append(
            Figure(
                f"{name} {label}",
                value,
                "ms",
                target=targets.get(label),
                detail=f"{hist.count} samples",
                profile=profile or {},
            )
        )
    record_latency(result, name, hist)


def reference(refs: dict[str, Any], kind: str, clients: int | None = None) -> float | None:
    """Returns a reference measured earlier in the run, or None when it was not measured."""
    value = refs.get(kind)
    if isinstance(value, dict):
        value = value.get(clients)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(value)


def plural(n: int, noun: str = "client") -> str:
    """Returns '1 client', '16 clients'."""
    return f"{n:,} {noun}" + ("" if n == 1 else "s")
