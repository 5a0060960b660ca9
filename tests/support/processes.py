"""The services as separate processes, for tests: the shared wrapper from devtools, and children started as in a terminal."""

from __future__ import annotations

import signal

from devtools.processes import PORT_VARIABLE, PORTS, ROOT, ServiceFailed, ServiceProcess, die_with_parent

__all__ = ["PORTS", "PORT_VARIABLE", "ROOT", "ServiceFailed", "ServiceProcess", "as_in_a_terminal"]


def as_in_a_terminal() -> None:
    """Prepares a child as a terminal would: Ctrl-C (SIGINT) and SIGQUIT at their defaults, dies with the tests.

    A test run started in the background by a non-interactive shell (as CI may start it) inherits
    SIGINT ignored, and so would every child: a `users watch` or a grpcurl stream would then not
    stop on the Ctrl-C the test presses.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)
    die_with_parent()
