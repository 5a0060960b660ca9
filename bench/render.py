"""Writes the latest results into BENCHMARKS.md, between its markers, from the results JSON alone."""

from __future__ import annotations

import json
from pathlib import Path

from bench.report import markdown

BEGIN = "<!-- bench:results:begin (written by `python -m bench --render`; do not edit by hand) -->"
END = "<!-- bench:results:end -->"


def latest(results_dir: Path) -> Path:
    """Returns the newest full-run JSON, or the newest quick one when no full run exists."""
    runs = sorted(p for p in results_dir.glob("*.json") if not p.stem.endswith("-quick"))
    runs = runs or sorted(results_dir.glob("*-quick.json"))
    if not runs:
        raise SystemExit(f"no results in {results_dir}: run `make bench` first")
    return runs[-1]


def render(results_dir: Path, document: Path) -> Path:
    """Replaces the text between the markers of `document` with the latest run's summary; returns its JSON path."""
    source = latest(results_dir)
    data = json.loads(source.read_text())
    text = document.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{document} has no results markers")
    stem = source.stem
    plots = "".join(
        f"\n![{kind}](bench/results/{stem}-{kind}.png)"
        for kind in ("throughput", "latency", "cost")
        if (results_dir / f"{stem}-{kind}.png").exists()
    )
    body = f"Source: `bench/results/{source.name}`.\n\n{markdown(data)}\n{plots}\n"
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    document.write_text(f"{head}{BEGIN}\n{body}\n{END}{tail}")
    return source
