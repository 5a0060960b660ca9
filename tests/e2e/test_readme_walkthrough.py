"""The README's walkthrough and API examples, extracted from README.md and run in order in shells against the three services."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.pgcluster import Cluster
from tests.support.local_stack import LocalStack, local_stack
from tests.support.processes import PORTS, ROOT
from tests.support.stack import Shell, Stack, running_stack
from tests.support.waiting import wait_until

README = ROOT / "README.md"
BLOCK = re.compile(r"<!-- walkthrough: ([\w-]+) -->\n```(\w+)\n(.*?)```", re.S)
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
STEPS = [
    "run",
    "write",
    "read",
    "watch",
    "stop-projector",
    "restart-projector",
    "caught-up",
    "grpcurl",
    "grpcurl-stream",
    "buf-curl",
    "buf-curl-stream",
    "python",
]


def blocks() -> dict[str, str]:
    """Returns the README's marked code blocks by name, checking that they are the steps this test knows."""
    found = BLOCK.findall(README.read_text())
    assert [name for name, _, _ in found] == STEPS, "a walkthrough step was added or renamed: teach this test"
    return {name: body for name, _, body in found}


def localise(script: str, stack: Stack) -> str:
    """Points the README's fixed addresses at this test's own services (never anyone else's)."""
    assert stack.command is not None and stack.query is not None
    replacements = {"localhost:50051": stack.command.address, "localhost:50052": stack.query.address}
    for fixed, own in replacements.items():
        script = script.replace(fixed, own)
    return script


def in_run_dir(script: str, run_dir: Path) -> str:
    """Points the walkthrough's `.run/` files at the folder this test's `make run` writes (LOCAL_RUN_DIR)."""
    assert "pgrep" not in script, "a pgrep would reach other people's processes"
    return script.replace(".run/", f"{run_dir}/")


def shell_env(stack: Stack, bin_dir: Path) -> dict[str, str]:
    """Returns a terminal's environment: this stack's addresses, and `users` where `make` installs it.

    The stand-in goes right after .venv/bin (which `source .venv/bin/activate` puts first), ahead of
    /usr/bin: coreutils has a `users` command of its own.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("USERS_", "EVENT_STORE_", "READ_MODEL_"))}
    env["PATH"] = f"{bin_dir}:{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(ROOT)
    env.update(stack.client_env())
    return env


@pytest.fixture(scope="module")
def bin_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with a `users` that does what the console script does, for checkouts where `make` has not installed it."""
    folder = tmp_path_factory.mktemp("bin")
    script = folder / "users"
    script.write_text(
        f'#!/bin/sh\nexec "{sys.executable}" -c "import sys; from users_client.cli import main; sys.exit(main())" "$@"\n'
    )
    script.chmod(0o755)
    return folder


def run_until(shell: Shell, script: str, *expected: str, timeout: float = 60.0) -> str:
    """Re-runs a read-only block until its output shows every `expected` text (the read side is eventually consistent)."""
    outputs: list[str] = []

    def shows_all() -> bool:
        outputs.append(shell.run(script))
        return all(text in outputs[-1] for text in expected)

    wait_until(shows_all, timeout, interval=0.2, message=f"{expected} in the output of:\n{script}")
    return outputs[-1]


@pytest.fixture
def make_run() -> Iterator[LocalStack]:
    """Where this test's `make run` keeps its files, and its ports (none of them the defaults)."""
    with local_stack() as stack:
        yield stack


@pytest.fixture(scope="module")
def shared_stack(cluster: Cluster) -> Iterator[Stack]:
    with running_stack(cluster) as running:
        yield running


def event_positions(text: str) -> list[int]:
    return [int(line.split()[1]) for line in text.splitlines() if re.match(r"\d{4}-\d\d-\d\dT", line)]


def terminal_env(bin_dir: Path, **variables: str) -> dict[str, str]:
    """Returns a fresh terminal's environment: none of this run's addresses or DSNs, `users` on the PATH.

    The stand-in goes right after .venv/bin (which `source .venv/bin/activate` puts first), ahead of
    /usr/bin: coreutils has a `users` command of its own.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("USERS_", "EVENT_STORE_", "READ_MODEL_"))}
    for port in PORTS.values():
        env.pop(port.variable, None)
    env["PATH"] = f"{bin_dir}:{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(ROOT)
    return env | variables


def test_the_walkthrough_runs_in_order_on_overridden_ports_and_the_projector_catches_up(
    make_run: LocalStack, bin_dir: Path
) -> None:
    steps = blocks()
    assert steps["run"].strip() == "make run"
    ports, run_dir = make_run.ports, make_run.run_dir
    terminal1 = Shell(make_run.env(terminal_env(bin_dir)), "make run")
    terminal2 = Shell(terminal_env(bin_dir))
    terminal3: Shell | None = None
    terminal4: Shell | None = None
    try:
        make_run.wait_banner(terminal1)
        banner = terminal1.text().split("PostgreSQL /", 1)[1]
        assert f"grpcurl -plaintext 127.0.0.1:{ports['COMMAND_SERVICE_PORT']} list" in banner
        assert "50051" not in banner and "55432" not in banner, banner

        written = terminal2.run(in_run_dir(steps["write"], run_dir))
        assert re.search(rf'^added user {UUID} "Ada Lovelace" \(version 1, position 1\)$', written, re.M), written
        grace = re.search(
            rf'^edited user ({UUID}) "Grace Brewster Hopper" \(version 2, position 3\)$', written, re.M
        ).group(1)
        assert f"error: version conflict: current version is 2 (check `users get {grace}`" in written
        assert written.endswith("exit code 4")

        read = run_until(terminal2, steps["read"], "Ada Lovelace", "name     Grace Brewster Hopper")
        assert read.splitlines()[0].split() == ["ID", "VERSION", "UPDATED", "NAME"]
        terminal3 = Shell(terminal_env(bin_dir), in_run_dir(steps["watch"], run_dir))
        wait_until(
            lambda: event_positions(terminal3.text()) == [1, 2, 3] and "caught up at position 3" in terminal3.text(),
            60,
            message="terminal 3 to replay three events and catch up",
        )

        projector = make_run.pid("projector")
        stale = terminal2.run(in_run_dir(steps["stop-projector"], run_dir))
        assert re.search(r'^added user \S+ "Katherine Johnson" \(version 1, position 4\)$', stale, re.M), stale
        assert "no users\nexit code 0" in stale
        assert re.search(r"^checkpoint:\s+3 ", stale, re.M) and re.search(r"^lag:\s+1 events", stale, re.M), stale
        assert "Katherine" not in terminal3.text()
        wait_until(lambda: "projector_service exited with -9" in terminal1.text(), 30, message="make run to see it")

        assert steps["restart-projector"].strip() == "make run-projector"
        terminal4 = Shell(terminal_env(bin_dir, LOCAL_RUN_DIR=str(run_dir)), steps["restart-projector"])
        restarted = wait_until(
            lambda: make_run.pid("projector") not in (None, projector) and make_run.pid("projector"),
            120,
            message="terminal 4's projector to write its pid",
        )
        caught_up = run_until(terminal2, steps["caught-up"], "Katherine Johnson", "lag:         0 events")
        assert re.search(r"^checkpoint:\s+4 ", caught_up, re.M)
        wait_until(
            lambda: event_positions(terminal3.text()) == [1, 2, 3, 4], 60, message="Katherine's event in terminal 3"
        )

        assert terminal3.interrupt() == 0
        terminal1.interrupt(timeout=90)  # Ctrl-C in terminal 1 only: terminal 4's projector must stop too
        assert terminal4.process.wait(60) == 0, terminal4.text()
        assert "stopped" in terminal1.lines, terminal1.text()
        assert not Path(f"/proc/{restarted}").exists() and not make_run.postgres_listens()
        assert "Traceback" not in terminal1.text() + terminal2.text() + terminal3.text() + terminal4.text()
    finally:
        for terminal in (terminal1, terminal2, terminal3, terminal4):
            if terminal is not None:
                terminal.close()


def run_stream_example(shell_env_: dict[str, str], script: str, expected: str) -> str:
    """Starts a streaming example, waits for `expected` in its output, then presses Ctrl-C."""
    stream = Shell(shell_env_, script)
    try:
        wait_until(lambda: expected in stream.text(), 60, message=f"{expected!r} from:\n{script}")
        stream.interrupt()
        return stream.text()
    finally:
        stream.close()


def test_the_grpcurl_examples_call_every_rpc(shared_stack: Stack, bin_dir: Path) -> None:
    steps = blocks()
    env = shell_env(shared_stack, bin_dir)
    shell = Shell(env)
    try:
        shell.run("source .venv/bin/activate")  # as in the walkthrough's terminal 2
        out = shell.run("set -e\n" + localise(steps["grpcurl"], shared_stack) + "\nset +e")
    finally:
        shell.close()
    assert "users.v1.CommandService" in out
    for rpc_answer in (
        '"name": "Ada Lovelace"',
        '"name": "Grace Brewster Hopper"',
        '"version": "2"',
        '"users": [',
        '"position": "',
    ):
        assert rpc_answer in out, out
    assert "ERROR" not in out and "Code:" not in out
    streamed = run_stream_example(
        env, "source .venv/bin/activate\n" + localise(steps["grpcurl-stream"], shared_stack), '"caught_up"'
    )
    assert "EVENT_TYPE_USER_ADDED" in streamed and "EVENT_TYPE_USER_EDITED" not in streamed


def test_the_buf_curl_examples_call_every_rpc(shared_stack: Stack, bin_dir: Path) -> None:
    steps = blocks()
    env = shell_env(shared_stack, bin_dir)
    shell = Shell(env)
    try:
        shell.run("source .venv/bin/activate")
        out = shell.run("set -e\n" + localise(steps["buf-curl"], shared_stack) + "\nset +e")
        user_id = shell.run("echo $ID")
        streamed = run_stream_example(
            dict(env, ID=user_id),
            "source .venv/bin/activate\n" + localise(steps["buf-curl-stream"], shared_stack),
            '"caughtUp"',
        )
    finally:
        shell.close()
    assert "users.v1.CommandService/AddUser" in out
    for rpc_answer in ('"name": "Ada Lovelace"', '"name": "Grace Brewster Hopper"', '"users": [', '"position": "'):
        assert rpc_answer in out, out
    assert [t for t in re.findall(r'"type": "(\w+)"', streamed)] == [
        "EVENT_TYPE_USER_ADDED",
        "EVENT_TYPE_USER_EDITED",
        "EVENT_TYPE_USER_DELETED",
    ]


def test_the_python_example_reads_its_own_write_and_meets_a_conflict(shared_stack: Stack) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("USERS_")}
    env.update(shared_stack.client_env(), PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-c", blocks()["python"]], cwd=ROOT, env=env, capture_output=True, text=True, timeout=90
    )
    assert done.returncode == 0, done.stderr
    assert "someone else was first; current version is 2" in done.stdout
    assert re.search(rf"^{UUID} Ada King 2$", done.stdout, re.M), done.stdout
