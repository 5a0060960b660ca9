"""Finds `promtool` (Prometheus's rule and config checker), installing Debian's `prometheus` package when missing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys


def find() -> str | None:
    """Returns the path of promtool: $PROMTOOL, else the one on PATH."""
    given = os.environ.get("PROMTOOL")
    if given and os.access(given, os.X_OK):
        return given
    return shutil.which("promtool")


def ensure() -> str:
    """Returns promtool, installing the distribution's `prometheus` package first when root with apt-get."""
    found = find()
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise RuntimeError(
            "promtool not found: install Prometheus's promtool (Debian/Ubuntu: apt-get install prometheus)"
            " or set PROMTOOL to its path"
        )
    print("promtool not found: installing the distribution's prometheus package", file=sys.stderr)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env)
    # The package would also run a Prometheus server where an init system is running: this only
    # wants its promtool, so the server is not enabled.
    subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", "prometheus"], check=True, env=env)
    if shutil.which("systemctl"):
        subprocess.run(["systemctl", "disable", "--now", "prometheus"], capture_output=True)
    found = find()
    if not found:
        raise RuntimeError("the prometheus package was installed but promtool is still not on PATH")
    return found


if __name__ == "__main__":
    print(ensure())
