"""`make run-projector` and friends: one service in the foreground, joining the stack `make run` runs (from .run/env)."""

from __future__ import annotations

import os
import select
import signal
import sys

import psycopg

from devtools.processes import PORTS, ServiceProcess, port_taken
from devtools.roles import local_service_env
from devtools.runfiles import SUPERVISOR, RunFiles, short_name
from devtools.supervisor import HOST


def _say(message: str) -> None:
    print(f"make run-X: {message}", file=sys.stderr, flush=True)


def run_one(module: str) -> int:
    """Runs `module` against the stack in .run/env until it exits, Ctrl-C, or `make run` stops."""
    files = RunFiles.here()
    name = short_name(module)
    supervisor = files.live_pid(SUPERVISOR, "devtools.run")
    written = files.read_env()
    if supervisor is None or written is None:
        _say(f"no `make run` is running here (nothing in {files.shown(files.folder)}): start `make run` first")
        return 1
    env = {**written, **{key: os.environ[key] for key in written if key in os.environ}}  # the terminal may override
    port = int(env.get(PORTS[module].variable, PORTS[module].default))
    if port_taken(HOST, port):
        running = files.live_pid(name, f"-m {module}")
        holder = f"the {name} service of this stack still runs (pid {running})" if running else "something holds it"
        _say(f"port {port} ({PORTS[module].variable}) is already in use on {HOST}: {holder}")
        return 1
    try:
        psycopg.connect(f"postgresql://postgres@127.0.0.1:{env['LOCAL_PG_PORT']}/postgres", connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        _say(f"PostgreSQL of `make run` does not answer on port {env['LOCAL_PG_PORT']}: {str(exc).strip()}")
        return 1
    own = local_service_env(env, module, int(env["LOCAL_PG_PORT"]))  # as its own role, like make run's
    service = ServiceProcess(module, own, port=port, output_to="terminal").start()
    files.write_pid(name, service.pid)
    _say(f"{module} (pid {service.pid}) on {service.address}, with the stack of `make run` (pid {supervisor})")
    try:
        return _follow(service, supervisor)
    finally:
        files.forget_pid(name, service.pid)


def _follow(service: ServiceProcess, supervisor: int) -> int:
    """Waits for the service; stops it if `make run` goes away first (PostgreSQL goes with it)."""
    assert service.process is not None
    # Ctrl-C reaches the service itself (same terminal): this process only waits for it to finish.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        watched = os.pidfd_open(supervisor)
    except ProcessLookupError:
        watched = None
    child = os.pidfd_open(service.pid)
    try:
        ready, _, _ = select.select([child] + ([watched] if watched is not None else []), [], [])
        if child not in ready:
            _say(f"`make run` (pid {supervisor}) stopped: stopping {service.module} too")
            service.stop()
        return service.process.wait()
    finally:
        os.close(child)
        if watched is not None:
            os.close(watched)
