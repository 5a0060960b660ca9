"""Children that die with their parent: a process that starts others leaves no orphan when it is killed."""

from __future__ import annotations

import ctypes
import signal

PR_SET_PDEATHSIG = 1  # linux/prctl.h


def set_death_signal(sig: int) -> None:
    """Asks the kernel to send `sig` to this process when its parent (the thread that started it) dies."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, sig)


def die_with_parent() -> None:
    """A `preexec_fn`: the child is SIGKILLed when whoever started it dies, so no orphan outlives it."""
    set_death_signal(signal.SIGKILL)
