"""Targets, shortfalls and the markdown written from a results JSON alone (the path `--render` takes)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from bench import render, report
from bench.model import Figure, SectionResult, Target
from bench.plan import QUICK


def _figure(value: float, reference: float, target: Target | None) -> Figure:
    return Figure(
        "store appends, 16 threads",
        value,
        "events/s",
        "raw INSERT",
        reference,
        target,
        profile={
            "clients": 95.0,
            "postgres": 40.0,
            "machine": 190.0,
            "cores": 2.0,
            "other": 50.0,
            "wait:IO:WALSync": 60.0,
            "busy backends": 1.5,
        },
    )


def test_a_ratio_target_is_met_at_or_above_its_bound() -> None:
    target = Target("ratio", 0.8, ">= 0.8x raw INSERT")
    assert _figure(800, 1000, target).met is True
    assert _figure(799, 1000, target).met is False
    assert _figure(799, 1000, target).to_json()["shortfall"] == "0.80x against 0.8x (0% short)"


def test_an_upper_bound_reports_how_far_over_it_is() -> None:
    target = Target("at most", 50.0, "<= 50 ms")
    figure = Figure("p99", 75.0, "ms", target=target)
    assert figure.met is False
    assert figure.to_json()["shortfall"] == "75.0 against at most 50 (50% over)"


def test_a_figure_without_reference_has_no_ratio_and_no_verdict() -> None:
    figure = Figure("raw read", 50_000.0, "events/s")
    assert figure.ratio is None and figure.met is None


def _data() -> dict:
    section = SectionResult("appends", "Appends")
    section.figures.append(_figure(600, 1000, Target("ratio", 0.8, ">= 0.8x raw INSERT")))
    skipped = SectionResult("fanout", "Fan-out", status="not run", reason="query_service does not exist yet")
    machine = {
        "date": "2026-01-01 00:00:00 UTC",
        "commit": "abc1234",
        "cpu": "test cpu",
        "cores": 2,
        "memory_gib": 24,
        "kernel": "6.1",
        "python": "3.11",
        "packages": {"grpcio": "1"},
        "load_before": [0, 0, 0],
        "load_after": [0, 0, 0],
        "seconds": 10.0,
        "postgres": {
            "server_version": "15",
            "fsync": "on",
            "synchronous_commit": "on",
            "full_page_writes": "on",
            "shared_buffers": "128MB",
        },
    }
    return {"plan": asdict(QUICK), "machine": machine, "sections": [section.to_json(), skipped.to_json()]}


def test_the_summary_says_by_how_much_a_target_is_missed_and_what_the_profile_shows() -> None:
    text = report.markdown(_data())
    assert "**missed**: store appends, 16 threads (>= 0.8x raw INSERT): 0.60x against 0.8x (25% short)" in text
    assert "clients 95%" in text and "IO:WALSync 60%" in text
    assert "*not run: query_service does not exist yet*" in text
    assert "| store appends, 16 threads | 600 events/s |" in text


def test_render_replaces_only_the_text_between_the_markers(tmp_path: Path) -> None:
    (tmp_path / "2026-01-01-quick.json").write_text(json.dumps(_data()))
    document = tmp_path / "BENCHMARKS.md"
    document.write_text(f"# Title\n\nbefore\n{render.BEGIN}\nold table\n{render.END}\nafter\n")
    assert render.render(tmp_path, document).name == "2026-01-01-quick.json"
    text = document.read_text()
    assert text.startswith("# Title\n\nbefore\n") and text.endswith(f"{render.END}\nafter\n")
    assert "old table" not in text and "Source: `bench/results/2026-01-01-quick.json`" in text


def test_render_prefers_a_full_run_to_a_newer_quick_one(tmp_path: Path) -> None:
    for name in ("2026-01-01.json", "2026-02-01-quick.json"):
        (tmp_path / name).write_text("{}")
    assert render.latest(tmp_path).name == "2026-01-01.json"


def test_a_ratio_with_an_upper_bound_is_met_below_it_and_says_how_far_over_above_it() -> None:
    target = Target("ratio at most", 1.2, "<= 1.2x")
    assert Figure("p50", 1.1, "ms", "p50 small", 1.0, target).met is True
    over = Figure("p50", 1.5, "ms", "p50 small", 1.0, target)
    assert over.met is False
    assert over.to_json()["shortfall"] == "1.50x against at most 1.2x (25% over)"
