"""The projector's ratios divide by the raw reads taken around each measurement, not by the Limits read."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from bench import projector


def _ctx(**references: Any) -> Any:
    return SimpleNamespace(references=references)


def test_the_reference_is_the_mean_of_the_reads_around_the_measurement_whatever_the_limits_read() -> None:
    reference, text = projector.read_around(_ctx(raw_read=90_000.0), 40_000.0, 60_000.0)

    assert reference == 50_000.0
    assert text == "raw read just before / after: 40,000 / 60,000 events/s (the limits' 90,000)"


def test_without_a_limits_read_only_the_reads_around_are_printed() -> None:
    reference, text = projector.read_around(_ctx(), 40_000.0, 40_000.0)

    assert reference == 40_000.0
    assert text == "raw read just before / after: 40,000 / 40,000 events/s"
