"""`status --watch`: the status, refreshed every few seconds, with throughput measured between refreshes."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TextIO

from projector_service import admin

CLEAR = "\x1b[H\x1b[2J"  # cursor home, clear screen: each refresh replaces the last on a terminal


def throughput(previous: tuple[float, dict[str, Any]] | None, now: float, info: dict[str, Any]) -> dict[str, Any]:
    """Returns events/s applied (checkpoint) and written (store head) since the previous sample; None on the first."""
    if previous is None or now <= previous[0]:
        return {"applied_per_second": None, "written_per_second": None}
    seconds = now - previous[0]
    before = previous[1]
    return {
        "applied_per_second": round((info["checkpoint"] - before["checkpoint"]) / seconds, 1),
        "written_per_second": round((info["store_head"] - before["store_head"]) / seconds, 1),
    }


def watch(
    gather: Callable[[], dict[str, Any]],
    out: TextIO,
    interval: float,
    count: int = 0,
    as_json: bool = False,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Prints the status every `interval` seconds, `count` times (0: until Ctrl-C)."""
    previous: tuple[float, dict[str, Any]] | None = None
    shown = 0
    while True:
        info = gather()
        now = time.monotonic()
        info |= throughput(previous, now, info)
        previous = (now, info)
        if not as_json and out.isatty():
            out.write(CLEAR)
        admin.print_status(info, out, as_json)
        if not as_json:
            out.write(f"{'throughput:':<12} {_rates(info)}\n")
            out.write(f"refreshing every {interval:g} s (Ctrl-C to stop)\n\n")
        out.flush()
        shown += 1
        if count and shown >= count:
            return
        sleep(interval)


def _rates(info: dict[str, Any]) -> str:
    if info["applied_per_second"] is None:
        return "measuring (shown from the next refresh)"
    return f"{info['applied_per_second']:g} events/s applied, {info['written_per_second']:g} events/s written"
