"""`make run` as a supervisor: it outlives its services, stops the ones `make run-X` started, and refuses taken ports."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.processes import PORTS, free_port, health_status
from tests.support.local_stack import LocalStack, local_stack
from tests.support.processes import ROOT
from tests.support.stack import Shell
from tests.support.waiting import wait_until

SERVICES = ["command", "projector", "query"]


@pytest.fixture
def make_run() -> Iterator[LocalStack]:
    with local_stack() as stack:
        yield stack


def terminal(make_run: LocalStack, script: str) -> Shell:
    """A new terminal in the project folder, with nothing of the stack exported but its ports and folders."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("USERS_", "EVENT_STORE_", "READ_MODEL_"))}
    return Shell(make_run.env(env), script)


def serving(make_run: LocalStack, name: str) -> bool:
    port = make_run.ports[PORTS[f"{name}_service"].variable]
    return health_status(f"127.0.0.1:{port}") == 1


def devtools_run(make_run: LocalStack, *args: str) -> subprocess.CompletedProcess[str]:
    """Runs what `make run` (no args) or `make run-X` (`--service X_service`) runs, to its end."""
    return subprocess.run(
        [sys.executable, "-m", "devtools.run", *args],
        cwd=ROOT,
        env=make_run.env(dict(os.environ)),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_make_run_keeps_the_stack_up_after_every_service_exited_and_ctrl_c_stops_the_restarted_ones(
    make_run: LocalStack,
) -> None:
    stack = terminal(make_run, "make run")
    restarted: list[Shell] = []
    try:
        make_run.wait_banner(stack)
        originals = {name: make_run.pid(name) for name in SERVICES}
        for pid in originals.values():
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
        for name in SERVICES:
            wait_until(lambda n=name: f"{n}_service exited with -9" in stack.text(), 30, message=f"{name} reported")
        # The defect: once each original service had exited, make run stopped PostgreSQL and itself.
        assert stack.process.poll() is None and make_run.postgres_listens()

        restarted = [terminal(make_run, f"make run-{name}") for name in SERVICES]
        for name in SERVICES:
            wait_until(lambda n=name: serving(make_run, n), 120, message=f"the restarted {name} SERVING")
        again = {name: make_run.pid(name) for name in SERVICES}
        assert all(again[name] not in (None, originals[name]) for name in SERVICES), again

        restarted[0].interrupt()  # Ctrl-C in one run-X terminal stops that service only
        assert not Path(f"/proc/{again['command']}").exists()
        assert stack.process.poll() is None and make_run.postgres_listens() and serving(make_run, "query")

        stack.interrupt(timeout=90)
        for shell in restarted[1:]:
            assert shell.process.wait(60) == 0, shell.text()
        assert "stopped" in stack.lines, stack.text()
        assert not any(Path(f"/proc/{again[name]}").exists() for name in SERVICES)
        assert not make_run.postgres_listens() and not list(make_run.run_dir.iterdir())
        text = stack.text()
        assert "applied migration 0001_events.sql to schema event_store" in text, text
        assert "could not change directory" not in text + (make_run.folder / "pg" / "data.log").read_text()
        assert "Traceback" not in text + "".join(shell.text() for shell in restarted)
    finally:
        for shell in [stack, *restarted]:
            shell.close()


def test_ctrl_c_as_soon_as_the_banner_shows_stops_everything_with_exit_code_0(make_run: LocalStack) -> None:
    stack = terminal(make_run, f"exec {sys.executable} -m devtools.run")
    try:
        make_run.wait_banner(stack)
        assert stack.interrupt(timeout=90) == 0, stack.text()
    finally:
        stack.close()
    assert "stopped" in stack.lines and "Traceback" not in stack.text()
    assert not make_run.postgres_listens() and not list(make_run.run_dir.iterdir())


def test_a_killed_make_run_leaves_no_service_or_postgres_behind_and_make_run_x_refuses_its_stale_files(
    make_run: LocalStack,
) -> None:
    stack = terminal(make_run, f"exec {sys.executable} -m devtools.run")
    try:
        make_run.wait_banner(stack)
        services = [make_run.pid(name) for name in SERVICES]
        supervisor = make_run.pid("make-run")
        assert supervisor is not None and None not in services
        os.kill(supervisor, signal.SIGKILL)
        wait_until(
            lambda: not make_run.postgres_listens() and not any(Path(f"/proc/{pid}").exists() for pid in services),
            60,
            message="the services and PostgreSQL to follow make run",
        )
    finally:
        stack.close()
    done = devtools_run(make_run, "--service", "query_service")
    assert done.returncode == 1 and "no `make run` is running here" in done.stderr, done.stderr


def test_make_run_names_a_taken_port_and_starts_nothing(make_run: LocalStack) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        make_run.ports["QUERY_SERVICE_PORT"] = str(taken)
        done = devtools_run(make_run)
    assert done.returncode == 1
    assert f"port {taken} (QUERY_SERVICE_PORT, for query_service) is already in use" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and not (make_run.folder / "pg").exists()


def test_make_run_stops_everything_when_a_service_fails_at_start(make_run: LocalStack) -> None:
    make_run.extra_env["COMMAND_BATCH_MAX"] = "many"  # read by the command service only, which refuses it
    done = devtools_run(make_run)
    assert done.returncode == 1
    assert "make run: command_service exited with" in done.stderr and "stopping everything" in done.stderr
    assert "stopped" in done.stdout.splitlines() and "Ctrl-C here stops everything" not in done.stdout
    assert not make_run.postgres_listens() and not list(make_run.run_dir.iterdir())


def test_make_run_x_without_make_run_says_to_start_make_run(make_run: LocalStack) -> None:
    done = devtools_run(make_run, "--service", "projector_service")
    assert done.returncode == 1
    assert "no `make run` is running here" in done.stderr and "start `make run` first" in done.stderr


@pytest.mark.parametrize("module", sorted(PORTS))
def test_a_service_whose_port_is_taken_says_which_and_exits_without_a_traceback(module: str) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", free_port()))
        holder.listen()
        taken = holder.getsockname()[1]
        unreachable = f"postgresql://postgres@127.0.0.1:{free_port()}/nothing"
        env = dict(os.environ, EVENT_STORE_DSN=unreachable, READ_MODEL_DSN=unreachable, LISTEN_HOST="127.0.0.1")
        env[PORTS[module].variable] = str(taken)
        done = subprocess.run(
            [sys.executable, "-m", module], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
        )
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{taken}: the port is already in use" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
