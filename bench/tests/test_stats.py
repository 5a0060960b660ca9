"""The latency histogram: percentiles within its 2 % resolution, merging across processes, JSON round trip."""

from __future__ import annotations

import math
import random

from bench.pool import split
from bench.stats import Histogram


def test_percentiles_are_within_two_percent_of_the_exact_ones() -> None:
    rng = random.Random(7)
    values = [rng.lognormvariate(-5, 1) for _ in range(20_000)]
    hist = Histogram().extend(values)
    exact = sorted(values)
    for p in (50, 90, 99):
        truth = exact[math.ceil(len(exact) * p / 100) - 1]
        assert abs(hist.percentile(p) / truth - 1) <= 0.021


def test_the_maximum_and_minimum_are_exact() -> None:
    hist = Histogram().extend([0.003, 0.001, 0.250])
    assert hist.percentile(100) == 0.250
    assert hist.low == 0.001
    assert hist.summary_ms()["max_ms"] == 250.0


def test_merging_equals_recording_everything_in_one() -> None:
    a, b = Histogram().extend([0.001, 0.002]), Histogram().extend([0.004, 0.008, 0.016])
    whole = Histogram().extend([0.001, 0.002, 0.004, 0.008, 0.016])
    merged = Histogram().merge(a).merge(b)
    assert merged.buckets == whole.buckets
    assert (merged.count, merged.low, merged.high) == (5, 0.001, 0.016)


def test_negative_and_tiny_latencies_share_the_first_bucket() -> None:
    hist = Histogram().extend([-0.002, 0.0])
    assert hist.buckets == {0: 2}
    assert hist.low == -0.002


def test_a_histogram_survives_json() -> None:
    hist = Histogram().extend([0.001, 0.5])
    again = Histogram.from_json(hist.to_json())
    assert again.buckets == hist.buckets and again.count == 2 and again.high == 0.5


def test_an_empty_histogram_has_no_percentiles_and_serialises() -> None:
    hist = Histogram()
    assert math.isnan(hist.percentile(50))
    assert Histogram.from_json(hist.to_json()).count == 0


def test_clients_spread_evenly_over_processes() -> None:
    assert split(16, 4) == [4, 4, 4, 4]
    assert split(64, 4) == [16, 16, 16, 16]
    assert split(1, 4) == [1]
    assert split(6, 4) == [2, 2, 1, 1]
