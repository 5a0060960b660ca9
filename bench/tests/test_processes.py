"""Memory samples of a one-shot process: only while it lives, so its exit is not read as memory given back."""

from __future__ import annotations

import os
import subprocess
import sys

from bench.processes import living, memory_kib
from devtools.processes import gone
from devtools.waiting import wait_until


def test_a_living_process_gives_a_sample() -> None:
    assert living(memory_kib(os.getpid()))


def test_a_process_that_exited_but_is_not_reaped_gives_none() -> None:
    # Between a process's exit and the wait that reaps it, /proc still lists it (a zombie) with no
    # VmRSS: run_once samples in that window when the exit falls between its wait4() and its read.
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        wait_until(lambda: gone(child.pid), 10, message="the child to exit")
        assert not living(memory_kib(child.pid))
    finally:
        child.wait()
