"""A process-level CPU profile of a measurement window: who used the two cores while a figure was taken."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable

from bench.processes import children_of, cpu_of

_TICKS = os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """Returns the CPU seconds all cores have spent busy (not idle, not waiting for I/O) since boot."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / _TICKS


def tree_cpu(pid: int) -> float:
    """Returns the CPU seconds of a process, its live children, and its reaped children (cutime, cstime).

    A postmaster reaps its backends, so their CPU moves into its cutime/cstime when they exit: a
    difference of this figure over a window counts short-lived connections too.
    """
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    own = sum(int(x) for x in fields[11:15]) / _TICKS
    return own + sum(cpu_of(child) for child in children_of(pid))


class Profile:
    """CPU use of named process groups between start() and stop(), in % of one core."""

    def __init__(self, groups: dict[str, Callable[[], float]]) -> None:
        self._groups = groups
        self._begin: dict[str, float] = {}
        self._started = 0.0
        self.result: dict[str, float] = {}

    def _sample(self) -> dict[str, float]:
        sample = {name: read() for name, read in self._groups.items()}
        sample["machine"] = machine_busy_seconds()
        return sample

    def start(self) -> None:
        """Takes the first sample."""
        self._begin = self._sample()
        self._started = time.monotonic()

    def stop(self) -> dict[str, float]:
        """Takes the second sample; returns % of one core per group, the machine's busy %, and 'other'."""
        if not self._begin:
            return {}
        end = self._sample()
        seconds = max(time.monotonic() - self._started, 1e-6)
        usage = {name: 100 * (end[name] - self._begin[name]) / seconds for name in end}
        ours = sum(value for name, value in usage.items() if name != "machine")
        # Whatever ran besides the processes we know of: other engineers' tests on a shared machine.
        usage["other"] = max(0.0, usage["machine"] - ours)
        usage["cores"] = float(os.cpu_count() or 1)
        self.result = {name: round(value, 1) for name, value in usage.items()}
        return self.result


def describe(profile: dict[str, float]) -> str:
    """Renders a profile as 'command_service 98%, postgres 40%, ... (machine 190% of 200%)'."""
    if not profile:
        return "no profile"
    cores = profile.get("cores", 1.0)
    parts = [f"{name} {value:.0f}%" for name, value in sorted(profile.items(), key=lambda kv: -kv[1])
             if name not in ("machine", "cores", "other")]
    parts.append(f"other processes {profile.get('other', 0):.0f}%")
    return ", ".join(parts) + f" (machine busy {profile.get('machine', 0):.0f}% of {cores * 100:.0f}%)"
