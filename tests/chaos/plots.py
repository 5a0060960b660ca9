"""Timeline of a run (throughput and faults) and the soak's per-process figures, as PNG (needs matplotlib)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from tests.chaos.nemesis import ALL_FAULTS


def timeline(data: dict[str, Any], path: Path) -> None:
    """Plots acknowledged commands per second, with each fault as a marker on its own row."""
    per_second = data["acknowledged_per_second"]
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(12, 6), sharex=True, height_ratios=[2, 1])
    top.plot(range(len(per_second)), per_second, linewidth=0.8, color="tab:blue")
    top.set_ylabel("acknowledged commands/s")
    options = data["options"]
    top.set_title(
        f"seed {options['seed']}: {len(data['faults'])} faults, {sum(per_second)} commands acknowledged,"
        f" {len(data['violations'])} violations",
        fontsize=9,
    )
    colors = plt.get_cmap("tab20")
    for row, kind in enumerate(ALL_FAULTS):
        spans = [(f["start"], max(f["end"] - f["start"], 0.3)) for f in data["faults"] if f["kind"] == kind]
        if spans:
            bottom.broken_barh(spans, (row - 0.4, 0.8), color=colors(row))
            for start, _ in spans:
                top.axvline(start, color=colors(row), linewidth=0.3, alpha=0.6)
    bottom.set_yticks(range(len(ALL_FAULTS)), ALL_FAULTS, fontsize=7)
    bottom.set_xlabel(f"seconds (violations: {len(data['violations'])})")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def soak(data: dict[str, Any], path: Path) -> None:
    """Plots RSS, open descriptors and PostgreSQL connections of each process over the soak."""
    series: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for sample in data["samples"]:
        series[sample["service"]].append(sample)
    figure, axes = plt.subplots(3, 1, figsize=(12, 8), sharex=True)
    for service, samples in sorted(series.items()):
        minutes = [s["at"] / 60 for s in samples]
        slopes = data["soak"][service]
        axes[0].plot(
            minutes,
            [s["rss_kib"] / 1024 for s in samples],
            label=f"{service} ({slopes['rss_mib_per_hour']:+.1f} MiB/h)",
        )
        axes[1].plot(minutes, [s["fds"] for s in samples], label=f"{service} ({slopes['fds_per_hour']:+.1f}/h)")
        axes[2].plot(minutes, [s["connections"] for s in samples], label=service)
    for axis, label in zip(axes, ("RSS MiB", "open fds", "PostgreSQL connections")):
        axis.set_ylabel(label)
        axis.set_ylim(bottom=0)  # from zero, so a flat line looks flat and a climb looks like one
        axis.legend(fontsize=6, ncol=3)
    for fault in data["faults"]:
        for axis in axes:
            axis.axvline(fault["start"] / 60, color="grey", linewidth=0.3, alpha=0.5)
    axes[2].set_xlabel("minutes (grey lines: faults)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
