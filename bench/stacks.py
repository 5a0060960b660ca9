"""A sampling profile of one thread of the current process: where its wall time goes (CPU or waiting)."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from types import FrameType

ROOT = str(Path(__file__).resolve().parents[1])
_PROJECT = ("command_service", "eventkit", "projector_service", "query_service")
INTERVAL = 0.005


def _where(frame: FrameType, line: bool = False) -> str:
    code = frame.f_code
    path = code.co_filename
    if "site-packages/" in path:
        path = path.rsplit("site-packages/", 1)[1]
    elif path.startswith(ROOT):
        path = path[len(ROOT) + 1 :]
    else:
        path = "/".join(Path(path).parts[-2:])
    return f"{path}:{code.co_name}" + (f":{frame.f_lineno}" if line else "")


def label(frame: FrameType | None) -> str:
    """Names a stack by its innermost project frame and, when different, the frame it is in."""
    if frame is None:
        return "(no frame)"
    leaf, inner = _where(frame), None
    while frame is not None:
        name = frame.f_code.co_filename
        if name.startswith(ROOT) and "site-packages" not in name and any(f"/{p}/" in name for p in _PROJECT):
            inner = _where(frame, line=True)  # the line tells which statement of a function waits
            break
        frame = frame.f_back
    if inner is None or inner.rsplit(":", 1)[0] == leaf:
        return inner or leaf
    return f"{inner} > {leaf}"


class ThreadSampler:
    """Samples the named thread's stack every 5 ms between start() and stop()."""

    def __init__(self, thread_name: str) -> None:
        self._name = thread_name
        self._stop = threading.Event()
        self.counts: dict[str, int] = {}
        self._thread = threading.Thread(target=self._run, name="stack-sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        target = next((t.ident for t in threading.enumerate() if t.name == self._name), None)
        while target is not None and not self._stop.wait(INTERVAL):
            where = label(sys._current_frames().get(target))
            self.counts[where] = self.counts.get(where, 0) + 1

    def stop(self, top: int = 6) -> dict[str, float]:
        """Returns the `top` stacks as % of samples, keyed 'stack:<label>'."""
        self._stop.set()
        self._thread.join(timeout=5)
        total = sum(self.counts.values())
        if not total:
            return {}
        ranked = sorted(self.counts.items(), key=lambda kv: -kv[1])[:top]
        return {f"stack:{where}": round(100 * n / total, 1) for where, n in ranked}
