"""A SIGTERM the kernel hands to another thread still stops a process whose main thread is waiting."""

from __future__ import annotations

import subprocess
import sys

# The thread sends SIGTERM to itself once the main thread sleeps in its wait, so the handler trips
# there, never in the main thread: the case that left a loaded command service running after SIGTERM.
PROCESS = """
import signal, threading
from devtools.waiting import wait_until
from eventkit import server

stopped = threading.Event()
server.stop_on_signals(stopped.set)

def main_thread_asleep():
    with open(f"/proc/self/task/{threading.main_thread().native_id}/stat") as stat:
        return stat.read().rpartition(")")[2].split()[0] == "S"

def send_to_myself():
    asleep = [0]
    def in_its_wait():  # asleep at five looks in a row: in its wait, not passing the GIL
        asleep[0] = asleep[0] + 1 if main_thread_asleep() else 0
        return asleep[0] >= 5
    wait_until(in_its_wait, timeout=30, interval=0.01, message="the main thread to sleep in its wait")
    signal.pthread_kill(threading.get_ident(), signal.SIGTERM)

threading.Thread(target=send_to_myself).start()
server.wait_in_main_thread(stopped)
print("stopped")
"""


def test_a_sigterm_taken_by_another_thread_ends_the_main_threads_wait() -> None:
    done = subprocess.run([sys.executable, "-c", PROCESS], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout.strip()) == (0, "stopped"), done.stderr
