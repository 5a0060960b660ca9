"""Writes a run's results: bench/results/<date>.json, a markdown summary, the plots, and the terminal table."""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.model import FAILED, NOT_RUN, SectionResult
from bench.plan import Plan
from bench.profile import describe


def number(value: float | None) -> str:
    """Formats a figure: thousands separators for big numbers, two decimals for small ones."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if abs(value) >= 100 or float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"


def _verdict(figure: dict[str, Any]) -> str:
    if figure["met"] is None:
        return "" if not figure["target"] else "not measured"
    return "met" if figure["met"] else "**missed**"


def _rows(section: dict[str, Any]) -> list[list[str]]:
    rows = []
    for f in section["figures"]:
        value = f"{number(f['value'])} {f['unit']}"
        ref = f"{f['reference']}: {number(f['reference_value'])}" if f["reference"] else ""
        ratio = f"{f['ratio']:.2f}x" if f["ratio"] is not None else ""
        target = f["target"]["text"] if f["target"] else ""
        rows.append([f["name"], value, f["detail"], ref, ratio, target, _verdict(f)])
    return rows


def section_markdown(section: dict[str, Any]) -> str:
    """Returns one section as a markdown heading and table (or its not-run / failed reason)."""
    head = f"### {section['title']}\n\n"
    if section["status"] != "ok":
        return head + f"*{section['status']}: {section['reason']}*\n"
    lines = [
        "| figure | value | latency / detail | reference (same run) | ratio | target | |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += ["| " + " | ".join(cell.replace("|", "/") for cell in row) + " |" for row in _rows(section)]
    notes = "".join(f"\n- {note}" for note in section["notes"])
    return head + "\n".join(lines) + "\n" + (notes + "\n" if notes else "")


def targets_markdown(data: dict[str, Any]) -> str:
    """Lists every target, met or missed; a miss says by how much and what the CPU profile shows limited it."""
    lines: list[str] = []
    shown: dict[str, float] | None = None
    for section in data["sections"]:
        for f in section["figures"]:
            if not f["target"]:
                continue
            if f["met"]:
                lines.append(f"- met: {f['name']} ({f['target']['text']})")
            elif f["met"] is False:
                repeated = f["profile"] and f["profile"] == shown
                why = "same window as the line above" if repeated else describe(f["profile"])
                shown = f["profile"]
                lines.append(
                    f"- **missed**: {f['name']} ({f['target']['text']}): {f['shortfall']}. "
                    f"What limits it (profile of the window): {why}"
                )
            else:
                lines.append(f"- not measured: {f['name']} ({f['target']['text']})")
        if section["status"] != "ok":
            lines.append(f"- {section['name']}: {section['status']}: {section['reason']}")
    return "\n".join(lines) + "\n"


def markdown(data: dict[str, Any]) -> str:
    """Returns the whole summary: machine, targets, then every section's table."""
    m, plan = data["machine"], data["plan"]
    pg = m["postgres"]
    mode = "QUICK (short windows, small data: orders of magnitude only)" if plan["quick"] else "full"
    head = (
        f"Run of {m['date']} at commit `{m['commit']}`, {mode} mode, {m['seconds']:.0f} s.\n"
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, Linux {m['kernel']}, Python {m['python']}; "
        f"load average before {m['load_before']}, after {m['load_after']}.\n"
        f"PostgreSQL {pg['server_version']}: fsync={pg['fsync']}, synchronous_commit={pg['synchronous_commit']}, "
        f"full_page_writes={pg['full_page_writes']}, shared_buffers={pg['shared_buffers']}.\n"
        f"Packages: " + ", ".join(f"{k} {v}" for k, v in m["packages"].items()) + ".\n"
        f"Windows: {plan['warmup']:g} s warm-up, {plan['duration']:g} s measured; load from "
        f"{plan['client_processes']} client processes.\n"
    )
    body = "\n".join(section_markdown(s) for s in data["sections"])
    return f"{head}\n#### Targets\n\n{targets_markdown(data)}\n{body}"


def section_text(result: SectionResult) -> str:
    """Returns a section's figures as plain text for the terminal."""
    if result.status != "ok":
        return f"   {result.status}: {result.reason}"
    lines = []
    for f in result.to_json()["figures"]:
        ratio = f"  = {f['ratio']:.2f}x {f['reference']}" if f["ratio"] is not None else ""
        target = f"  [{f['target']['text']}: {_verdict(f).strip('*')}]" if f["target"] else ""
        lines.append(f"   {f['name']:<58} {number(f['value']):>10} {f['unit']:<11} {f['detail']}{ratio}{target}")
    return "\n".join(lines) + f"\n   ({result.seconds:.0f} s)"


def summary_text(results: list[SectionResult]) -> str:
    """Returns one line per section: its status and how many targets it met."""
    lines = ["== summary"]
    for r in results:
        judged = [f.met for f in r.figures if f.target is not None]
        met = sum(1 for m in judged if m)
        extra = f", targets met {met}/{len(judged)}" if judged else ""
        reason = f": {r.reason}" if r.status in (FAILED, NOT_RUN) else ""
        lines.append(f"   {r.name:<12} {r.status}{reason}{extra}")
    return "\n".join(lines)


def stem(plan: Plan) -> str:
    """Returns the file name stem of today's results: <date>, or <date>-quick."""
    return time.strftime("%Y-%m-%d") + ("-quick" if plan.quick else "")


def write(results: list[SectionResult], facts: dict[str, Any], plan: Plan, results_dir: Path) -> list[Path]:
    """Writes <stem>.json, <stem>.md and the PNG plots; returns their paths."""
    from bench import plots

    results_dir.mkdir(parents=True, exist_ok=True)
    data = {"plan": asdict(plan), "machine": facts, "sections": [r.to_json() for r in results]}
    base = results_dir / stem(plan)
    json_path, md_path = base.with_suffix(".json"), base.with_suffix(".md")
    json_path.write_text(json.dumps(data, indent=1, allow_nan=False) + "\n")
    md_path.write_text(f"# Benchmark results {stem(plan)}\n\n" + markdown(data))
    return [json_path, md_path, *plots.write(data, base)]
