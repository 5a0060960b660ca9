"""The PNG plots of a run: latency distributions (CDFs) and throughput against concurrency."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from bench.stats import Histogram

FLOOR_MS = 0.05


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on a server or in CI
    import matplotlib.pyplot as plt

    return plt


def _throughput(data: dict[str, Any], path: Path) -> Path | None:
    # Every curve against client concurrency shares one panel, so each figure sits beside its
    # references (raw INSERT, trivial RPC, the peer); fan-out has subscribers on its x axis.
    by_clients: dict[str, dict[str, float]] = {}
    panels: list[tuple[str, str, dict[str, dict[str, float]]]] = []
    for section in data["sections"]:
        curves = section["series"].get("throughput")
        if not curves:
            continue
        if section["name"] == "fanout":
            panels.append((section["title"], "live subscribers", curves))
        else:
            by_clients |= curves
    if by_clients:
        xlabel = "concurrent clients (threads for in-process libraries)"
        panels.insert(0, ("Appends and their references", xlabel, by_clients))
    if not panels:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 4.5), squeeze=False)
    for ax, (title, xlabel, curves) in zip(axes[0], panels):
        for label, points in curves.items():
            xs = sorted(int(x) for x in points)
            ax.plot(xs, [points[str(x)] for x in xs], marker="o", label=label)
        ax.set_xscale("log", base=2)
        ax.set_ylim(bottom=0)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("per second")
        ax.set_title(title, fontsize=9)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("Throughput against concurrency (same run, same machine)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _latency(data: dict[str, Any], path: Path) -> Path | None:
    panels = [(s["title"], s["series"]["latency"]) for s in data["sections"] if s["series"].get("latency")]
    if not panels:
        return None
    plt = _pyplot()
    columns = min(3, len(panels))
    rows = math.ceil(len(panels) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(5.5 * columns, 4.0 * rows), squeeze=False)
    for ax, (title, series) in zip(axes.flat, panels):
        for label, raw in series.items():
            hist = Histogram.from_json(raw)
            if not hist.count:
                continue
            points = hist.cdf()
            # Zero or negative (an event can reach a subscriber before its reply reaches the caller)
            # is drawn at the left edge of a log axis.
            ax.step([max(x * 1e3, FLOOR_MS) for x, _ in points], [y for _, y in points], where="post", label=label)
        ax.set_xscale("log")
        ax.set_xlabel(f"latency (ms, log; <= {FLOOR_MS} drawn at {FLOOR_MS})")
        ax.set_ylabel("fraction at or below")
        ax.axhline(0.99, color="grey", lw=0.5, ls="--")
        ax.set_title(title, fontsize=9)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=6)
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    fig.suptitle("Latency distributions (CDF; dashed line: p99)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _cost(data: dict[str, Any], path: Path) -> Path | None:
    # Latency against stream length (numeric keys), and append rate by store size (labelled keys).
    curves: dict[str, dict[str, float]] = {}
    for section in data["sections"]:
        curves |= section["series"].get("cost", {})
    by_length = {label: points for label, points in curves.items() if all(x.isdigit() for x in points)}
    by_store = {label: points for label, points in curves.items() if label not in by_length}
    panels = [("length", by_length)] * bool(by_length) + [("store", by_store)] * bool(by_store)
    if not panels:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 4.5), squeeze=False)
    for ax, (kind, panel) in zip(axes[0], panels):
        for label, points in panel.items():
            if kind == "length":
                xs = sorted(int(x) for x in points)
                ax.plot(xs, [points[str(x)] for x in xs], marker="o", label=label)
            else:
                ax.bar(list(points), list(points.values()), label=label)
        if kind == "length":
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("events in the user's stream before the command")
            ax.set_ylabel("ms per EditUser (1 client)")
            ax.set_title("A command's cost against its stream's length", fontsize=9)
        else:
            ax.set_ylabel("events/s")
            ax.set_title("Store appends against the store's size", fontsize=9)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("Cost against size (same run, same machine)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write(data: dict[str, Any], base: Path) -> list[Path]:
    """Writes <base>-throughput.png, <base>-latency.png and <base>-cost.png; returns the ones that had data."""
    made = [
        _throughput(data, base.with_name(base.name + "-throughput.png")),
        _latency(data, base.with_name(base.name + "-latency.png")),
        _cost(data, base.with_name(base.name + "-cost.png")),
    ]
    return [p for p in made if p is not None]
