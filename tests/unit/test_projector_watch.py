"""`status --watch`: refreshes, throughput between refreshes, JSON per refresh (pure: gather and sleep are given)."""

from __future__ import annotations

import io
import json
from typing import Any

from projector_service.watch import throughput, watch


def sample(checkpoint: int, head: int) -> dict[str, Any]:
    return {
        "projection": "users",
        "checkpoint": checkpoint,
        "checkpoint_event_time": None,
        "store_head": head,
        "lag_events": head - checkpoint,
        "lag_seconds": 1.5 if head > checkpoint else 0.0,
        "leader": None,
        "heartbeat_age_seconds": None,
        "last_leader": "host:1",
        "stalled_position": None,
        "last_error": None,
        "last_error_time": None,
        "skipped_unknown": 0,
        "skipped_operator": 0,
    }


def test_throughput_is_the_change_of_checkpoint_and_head_per_second() -> None:
    assert throughput(None, 10.0, sample(5, 9)) == {"applied_per_second": None, "written_per_second": None}
    assert throughput((10.0, sample(5, 9)), 12.0, sample(25, 49)) == {
        "applied_per_second": 10.0,
        "written_per_second": 20.0,
    }


def test_watch_prints_count_refreshes_with_head_checkpoint_lag_and_throughput() -> None:
    samples = iter([sample(0, 10), sample(10, 30), sample(30, 30)])
    slept: list[float] = []
    out = io.StringIO()
    watch(lambda: next(samples), out, 0.5, count=3, sleep=slept.append)
    frames = out.getvalue().strip().split("\n\n")
    assert len(frames) == 3 and slept == [0.5, 0.5]
    assert "store head:  10" in frames[0] and "lag:         10 events" in frames[0]
    assert "measuring" in frames[0]
    assert "events/s applied" in frames[1] and "refreshing every 0.5 s" in frames[1]
    assert "lag:         0 events" in frames[2]


def test_watch_as_json_prints_one_object_per_refresh_with_rates() -> None:
    samples = iter([sample(0, 10), sample(10, 30)])
    out = io.StringIO()
    watch(lambda: next(samples), out, 0.5, count=2, as_json=True, sleep=lambda _: None)
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["applied_per_second"] is None and first["lag_events"] == 10
    assert second["applied_per_second"] > 0 and second["written_per_second"] > second["applied_per_second"]
