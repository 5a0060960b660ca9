"""`make run`: starts the project's own PostgreSQL and the three services in the foreground; Ctrl-C stops all."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from devtools.pgbinaries import ensure_bindir
from devtools.pgcluster import Cluster, reachable_by, runtime_account

ROOT = Path(__file__).resolve().parents[1]
SERVICES = [  # (module, port variable, default port, what it serves)
    ("command_service", "COMMAND_SERVICE_PORT", 50051, "users.v1.CommandService"),
    ("projector_service", "PROJECTOR_HEALTH_PORT", 50053, "projector health"),
    ("query_service", "QUERY_SERVICE_PORT", 50052, "users.v1.QueryService"),
]
COLORS = ["\033[36m", "\033[33m", "\033[35m"]


def data_dir(account: tuple[int, int] | None) -> Path:
    """Returns the project-local data folder, or a folder under /var/tmp when the server user cannot reach it."""
    local = ROOT / ".pgdata" / "data"
    if reachable_by(local.parent, account):
        return local
    digest = hashlib.sha1(str(ROOT).encode()).hexdigest()[:10]
    fallback = Path("/var/tmp") / f"users-cqrs-{digest}" / "data"
    print(f"note: the PostgreSQL user cannot reach {local.parent}; keeping data in {fallback}", file=sys.stderr)
    return fallback


def _relay(name: str, color: str, stream: object) -> None:
    tty = sys.stdout.isatty()
    for raw in iter(stream.readline, b""):  # type: ignore[attr-defined]
        line = raw.decode(errors="replace").rstrip()
        prefix = f"{color}{name:>10}\033[0m |" if tty else f"{name:>10} |"
        print(f"{prefix} {line}", flush=True)


def run_one(module: str) -> int:
    """`make run-projector` and friends: runs one service in the foreground against the running `make run` cluster."""
    port = int(os.environ.get("LOCAL_PG_PORT", "55432"))
    cluster = Cluster(Path("unused"), port, bindir=Path("unused"), account=None)
    try:
        cluster.wait_ready(timeout=2)
    except (TimeoutError, RuntimeError):
        print(f"no PostgreSQL on 127.0.0.1:{port}: start `make run` first (in another terminal)", file=sys.stderr)
        return 1
    env = dict(
        os.environ,
        EVENT_STORE_DSN=os.environ.get("EVENT_STORE_DSN", cluster.dsn("event_store")),
        READ_MODEL_DSN=os.environ.get("READ_MODEL_DSN", cluster.dsn("read_model")),
        LOG_FORMAT=os.environ.get("LOG_FORMAT", "text"),
    )
    os.chdir(ROOT)
    os.execve(sys.executable, [sys.executable, "-m", module], env)
    return 0  # not reached


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--service":
        return run_one(sys.argv[2])
    port = int(os.environ.get("LOCAL_PG_PORT", "55432"))
    account = runtime_account()
    directory = data_dir(account)
    directory.parent.mkdir(parents=True, exist_ok=True)
    if account is not None:
        os.chown(directory.parent, *account)
    cluster = Cluster(directory, port, durable=True, bindir=ensure_bindir(), account=account)
    cluster.init()
    cluster.start()
    for name in ("event_store", "read_model"):
        cluster.create_database(name)
    env = dict(
        os.environ,
        EVENT_STORE_DSN=os.environ.get("EVENT_STORE_DSN", cluster.dsn("event_store")),
        READ_MODEL_DSN=os.environ.get("READ_MODEL_DSN", cluster.dsn("read_model")),
        LOG_FORMAT=os.environ.get("LOG_FORMAT", "text"),
        PYTHONUNBUFFERED="1",
    )
    children: list[tuple[str, subprocess.Popen[bytes]]] = []
    print(f"PostgreSQL {cluster.bindir} on 127.0.0.1:{port}, data in {directory}")
    for index, (module, variable, default, serves) in enumerate(SERVICES):
        if importlib.util.find_spec(f"{module}.__main__") is None:
            continue
        address = f"localhost:{os.environ.get(variable, default)}"
        child = subprocess.Popen(
            [sys.executable, "-m", module], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        threading.Thread(target=_relay, args=(module.split("_")[0], COLORS[index], child.stdout), daemon=True).start()
        children.append((module, child))
        print(f"  {serves:<28} {address}")
    print("Ctrl-C stops everything.  Try: grpcurl -plaintext localhost:50051 list", flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    reported: set[str] = set()
    while not stop.wait(0.5):
        # A service that exits (or is killed) does not take the others down: the database and the
        # other services keep running, so a crash and the catch-up after it can be watched.
        for module, child in children:
            if child.poll() is not None and module not in reported:
                reported.add(module)
                restart = f"make run-{module.split('_')[0]}"
                print(
                    f"{module} exited with {child.returncode}; the rest keep running. Start it again with `{restart}`",
                    file=sys.stderr,
                    flush=True,
                )
        if len(reported) == len(children):
            stop.set()
    for _, child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for _, child in children:
        try:
            child.wait(timeout=20)
        except subprocess.TimeoutExpired:
            child.kill()
    cluster.stop()
    print("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
