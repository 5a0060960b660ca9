"""A mergeable latency histogram (log buckets, 2 % resolution) and its percentiles."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

# Buckets grow by 2 % from 1 µs: any latency is known to within 2 % and a histogram of a
# million samples stays a few hundred integers, small enough to send between processes.
_BASE = 1e-6
_GROWTH = 1.02
_LOG_GROWTH = math.log(_GROWTH)


def _bucket(seconds: float) -> int:
    if seconds <= _BASE:
        return 0
    return int(math.log(seconds / _BASE) / _LOG_GROWTH) + 1


def _upper(bucket: int) -> float:
    return _BASE * _GROWTH**bucket


@dataclass
class Histogram:
    """Counts of latencies (seconds) per log bucket, with the exact count, sum, min and max."""

    buckets: dict[int, int] = field(default_factory=dict)
    count: int = 0
    total: float = 0.0
    low: float = math.inf
    high: float = -math.inf

    def add(self, seconds: float) -> None:
        """Records one latency; values at or below 1 µs (or negative, across clocks) share bucket 0."""
        index = _bucket(seconds)
        self.buckets[index] = self.buckets.get(index, 0) + 1
        self.count += 1
        self.total += seconds
        self.low = min(self.low, seconds)
        self.high = max(self.high, seconds)

    def extend(self, values: Iterable[float]) -> Histogram:
        """Records many latencies; returns self."""
        for value in values:
            self.add(value)
        return self

    def merge(self, other: Histogram) -> Histogram:
        """Adds another histogram's counts into this one; returns self."""
        for index, n in other.buckets.items():
            self.buckets[index] = self.buckets.get(index, 0) + n
        self.count += other.count
        self.total += other.total
        self.low = min(self.low, other.low)
        self.high = max(self.high, other.high)
        return self

    def percentile(self, p: float) -> float:
        """Returns the latency below which `p` percent of the samples fall (bucket upper bound, capped at max)."""
        if not self.count:
            return math.nan
        if p >= 100:
            return self.high
        rank = math.ceil(self.count * p / 100) or 1
        seen = 0
        for index in sorted(self.buckets):
            seen += self.buckets[index]
            if seen >= rank:
                return min(max(_upper(index), self.low), self.high)
        return self.high

    def mean(self) -> float:
        """Returns the arithmetic mean, or NaN without samples."""
        return self.total / self.count if self.count else math.nan

    def summary_ms(self) -> dict[str, float]:
        """Returns count, p50, p99, max and mean in milliseconds."""
        return {
            "count": self.count,
            "p50_ms": self.percentile(50) * 1e3,
            "p99_ms": self.percentile(99) * 1e3,
            "max_ms": (self.high if self.count else math.nan) * 1e3,
            "mean_ms": self.mean() * 1e3,
        }

    def cdf(self) -> list[tuple[float, float]]:
        """Returns (latency seconds, cumulative fraction) points for plotting."""
        points, seen = [], 0
        for index in sorted(self.buckets):
            seen += self.buckets[index]
            points.append((min(_upper(index), self.high), seen / self.count))
        return points

    def to_json(self) -> dict[str, Any]:
        """Returns a JSON-safe form (bucket keys as strings)."""
        return {
            "buckets": {str(k): v for k, v in sorted(self.buckets.items())},
            "count": self.count,
            "total": self.total,
            "low": self.low if self.count else None,
            "high": self.high if self.count else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Histogram:
        """Rebuilds a histogram written by to_json."""
        return cls(
            buckets={int(k): v for k, v in data["buckets"].items()},
            count=data["count"],
            total=data["total"],
            low=data["low"] if data["low"] is not None else math.inf,
            high=data["high"] if data["high"] is not None else -math.inf,
        )
