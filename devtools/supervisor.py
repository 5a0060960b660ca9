"""`make run`: PostgreSQL and the three services in the foreground, kept up until Ctrl-C, which stops them all."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import signal
import sys
import threading
from pathlib import Path

from devtools.pgbinaries import ensure_bindir
from devtools.pgcluster import Cluster, reachable_by, runtime_account
from devtools.processes import PORTS, ROOT, ServiceFailed, ServiceProcess, port_taken, set_death_signal
from devtools.reaping import stop_processes
from devtools.roles import OWNER, local_service_env, prepare_local
from devtools.runfiles import SUPERVISOR, RunFiles, short_name
from devtools.secrets import page_token_secret

HOST = "127.0.0.1"  # make run is for this machine only; the images listen on every interface
COLORS = ["\033[36m", "\033[33m", "\033[35m"]


def data_dir(account: tuple[int, int] | None) -> Path:
    """Returns the data folder (LOCAL_PG_DATA, `.pgdata/`), or one under /var/tmp when the server user cannot reach it."""
    local = Path(os.environ.get("LOCAL_PG_DATA", str(ROOT / ".pgdata"))).resolve() / "data"
    if reachable_by(local.parent, account):
        return local
    digest = hashlib.sha1(str(local).encode()).hexdigest()[:10]
    fallback = Path("/var/tmp") / f"users-cqrs-{digest}" / "data"
    print(f"note: the PostgreSQL user cannot reach {local.parent}; keeping data in {fallback}", file=sys.stderr)
    return fallback


def service_ports() -> dict[str, int]:
    """Returns each service's port: its variable if set, else the default."""
    return {module: int(os.environ.get(port.variable, port.default)) for module, port in PORTS.items()}


def taken_ports(pg_port: int, ports: dict[str, int]) -> list[str]:
    """Returns one plain sentence per port that something else already listens on."""
    wanted = [("LOCAL_PG_PORT", pg_port, "PostgreSQL")] + [
        (PORTS[module].variable, port, module) for module, port in ports.items()
    ]
    return [
        f"port {port} ({variable}, for {what}) is already in use on {HOST}: stop what holds it"
        f" (`ss -ltnp 'sport = :{port}'` shows it), or choose another, e.g. `{variable}={port + 10} make run`"
        for variable, port, what in wanted
        if port_taken(HOST, port)
    ]


def stack_env(cluster: Cluster, ports: dict[str, int]) -> dict[str, str]:
    """Returns what this stack uses, as variables: written to .run/env and given to every service."""
    values = {
        "LOCAL_PG_PORT": str(cluster.port),
        "EVENT_STORE_DSN": os.environ.get("EVENT_STORE_DSN", cluster.dsn("event_store")),
        "READ_MODEL_DSN": os.environ.get("READ_MODEL_DSN", cluster.dsn("read_model")),
    }
    values |= {PORTS[module].variable: str(port) for module, port in ports.items()}
    # A real random key, kept beside the data so that a restart (or `make run-query`) keeps tokens valid.
    values["PAGE_TOKEN_SECRET"] = os.environ.get("PAGE_TOKEN_SECRET") or page_token_secret(Path(cluster.datadir).parent)
    values["USERS_COMMAND_ADDR"] = f"{HOST}:{ports['command_service']}"
    values["USERS_QUERY_ADDR"] = f"{HOST}:{ports['query_service']}"
    return values


def _relay(name: str, color: str, stream: object) -> None:
    tty = sys.stdout.isatty()
    for raw in iter(stream.readline, b""):  # type: ignore[attr-defined]
        line = raw.decode(errors="replace").rstrip()
        prefix = f"{color}{name:>10}\033[0m |" if tty else f"{name:>10} |"
        print(f"{prefix} {line}", flush=True)


def _die_by_sigterm() -> None:
    set_death_signal(signal.SIGTERM)  # a killed `make run` still lets its services shut down cleanly


def start_services(env: dict[str, str], ports: dict[str, int], files: RunFiles) -> list[ServiceProcess]:
    """Starts every service that exists, relays its output with a coloured prefix, and writes its pid file."""
    started = []
    for index, module in enumerate(PORTS):
        if importlib.util.find_spec(f"{module}.__main__") is None:
            continue
        own = local_service_env(env, module, int(env["LOCAL_PG_PORT"]))  # each service as its own role
        service = ServiceProcess(module, own, port=ports[module], preexec=_die_by_sigterm, output_to="pipe").start()
        assert service.process is not None
        threading.Thread(
            target=_relay, args=(short_name(module), COLORS[index], service.process.stdout), daemon=True
        ).start()
        files.write_pid(short_name(module), service.pid)
        started.append(service)
    return started


def banner(
    cluster: Cluster, directory: Path, env: dict[str, str], services: list[ServiceProcess], files: RunFiles
) -> str:
    """Returns what `make run` prints once everything serves: the real addresses, DSNs and how to use them."""
    lines = [f"PostgreSQL {cluster.bindir} on {HOST}:{cluster.port}, data in {directory}"]
    lines += [f"  {PORTS[s.module].serves:<28} {s.address}" for s in services]
    lines += [f"  {'event store':<28} {env['EVENT_STORE_DSN']}", f"  {'read model':<28} {env['READ_MODEL_DSN']}"]
    env_file, pids = files.shown(files.env_file), files.shown(files.folder)
    lines += [
        f"Written to {env_file}: in another terminal, `source {env_file}` points `users` and"
        " `python -m projector_service status` at this stack; `make run-X` reads it itself.",
        f"Process ids are in {pids}/*.pid, e.g. `kill -9 $(cat {pids}/projector.pid)` crashes this stack's projector.",
        f"Try: grpcurl -plaintext {env['USERS_COMMAND_ADDR']} list",
        "Ctrl-C here stops everything, services started again with `make run-X` included.",
    ]
    return "\n".join(lines)


def run() -> int:
    """Runs the stack until Ctrl-C (or SIGTERM); returns the exit code of `make run`."""
    files = RunFiles.here()
    running = files.live_pid(SUPERVISOR, "devtools.run")
    if running is not None:
        print(f"make run already runs here (pid {running}); stop it first (Ctrl-C in its terminal)", file=sys.stderr)
        return 1
    pg_port, ports = int(os.environ.get("LOCAL_PG_PORT", "55432")), service_ports()
    taken = taken_ports(pg_port, ports)
    if taken:
        print("make run: nothing started, because\n  " + "\n  ".join(taken), file=sys.stderr)
        return 1
    account = runtime_account()
    directory = data_dir(account)
    directory.parent.mkdir(parents=True, exist_ok=True)
    if account is not None:
        os.chown(directory.parent, *account)
    cluster = Cluster(directory, pg_port, durable=True, bindir=ensure_bindir(), account=account)
    services: list[ServiceProcess] = []
    try:
        cluster.init()
        cluster.start()
        # Roles, databases the owner owns, migrations as the owner: the services then need only their roles.
        for line in prepare_local(cluster.dsn, os.environ):
            print(f"migrations (as {OWNER}): {line}", flush=True)
        env = stack_env(cluster, ports)
        files.write_pid(SUPERVISOR, os.getpid())
        files.write_env(env, os.getpid())
        services = start_services(env, ports, files)
        for service in services:
            service.wait_serving(60)
        stop = threading.Event()
        signal.signal(signal.SIGINT, lambda *_: stop.set())  # before the banner invites Ctrl-C
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        print(banner(cluster, directory, env, services, files), flush=True)
        return supervise(cluster, services, files, stop)
    except ServiceFailed as exc:
        print(f"make run: {str(exc).splitlines()[0]} (its output is above); stopping everything", file=sys.stderr)
        return 1
    except (RuntimeError, TimeoutError) as exc:  # PostgreSQL did not start: the message carries its log
        print(f"make run: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C while starting
        return 130
    finally:
        shut_down(cluster, services, files)


def supervise(cluster: Cluster, services: list[ServiceProcess], files: RunFiles, stop: threading.Event) -> int:
    """Reports services that exit (the rest keep running) until `stop` (Ctrl-C); ends early only if PostgreSQL dies."""
    reported: set[int] = set()
    while not stop.wait(0.5):
        # A service that exits (or is killed) does not take the others down: the database and the
        # other services keep running, so a crash and the catch-up after it can be watched.
        for service in services:
            if service.process is not None and service.process.poll() is not None and service.pid not in reported:
                reported.add(service.pid)
                name = short_name(service.module)
                files.forget_pid(name, service.pid)
                print(
                    f"{service.module} exited with {service.process.returncode}; the rest keep running."
                    f" Start it again with `make run-{name}`",
                    file=sys.stderr,
                    flush=True,
                )
        assert cluster.process is not None
        if cluster.process.poll() is not None:
            print(f"PostgreSQL exited; stopping everything. Its log:\n{cluster.log_tail()}", file=sys.stderr)
            return 1
    return 0


def shut_down(cluster: Cluster, services: list[ServiceProcess], files: RunFiles) -> None:
    """Stops every service of this stack (ours and those `make run-X` started), then PostgreSQL."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the shutdown short
    others = [files.live_pid(short_name(m), f"-m {m}") for m in PORTS]
    ours = {s.pid for s in services}
    stop_processes([s.process for s in services if s.process is not None], [p for p in others if p and p not in ours])
    cluster.stop()
    files.clear()
    print("stopped", flush=True)
