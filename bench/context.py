"""What every section shares: the durable cluster, its databases, the client pool, started servers, references."""

from __future__ import annotations

import functools
import importlib.util
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from bench import load, measure
from bench.model import NotRunnable
from bench.plan import Plan
from bench.pool import ClientPool
from bench.processes import ServiceProcess, cpu_of
from bench.profile import Profile, tree_cpu
from devtools.pgcluster import Cluster


@dataclass
class Context:
    """The run's shared state; sections read references that earlier sections stored."""

    plan: Plan
    cluster: Cluster
    pool: ClientPool
    workdir: Path
    references: dict[str, Any] = field(default_factory=dict)
    seeded_store: str = ""  # DSN of the event store seeded once for the read-side sections
    read_model: str = ""  # DSN of the read model the projector section built over it
    started: list[ServiceProcess] = field(default_factory=list)

    def window(
        self,
        workload: str,
        params: dict[str, Any],
        clients: int,
        what: str,
        profile: Profile | None = None,
        processes: int | None = None,
        collect: bool = False,
    ) -> load.LoadResult:
        """Loads `workload` with `clients` loops for one window of the plan (warm-up, then its duration).

        The clients run in the plan's client processes unless `processes` says otherwise; a window
        that did nothing or failed too often raises MeasurementFailed naming `what`.
        """
        spread = self.plan.client_processes if processes is None else processes
        outcome = load.run(
            self.pool,
            workload,
            params,
            clients,
            self.plan.warmup,
            self.plan.duration,
            spread,
            collect=collect,
            profile=profile,
        )
        return measure.checked(outcome, what)

    def add_user_windows(self, server: ServiceProcess, what: str) -> Iterator[tuple[int, load.LoadResult, Profile]]:
        """Loads `server` with AddUser for one window at each of the plan's concurrencies, profiled.

        Yields (clients, outcome, profile) per window; `what` names the load in errors.
        """
        for clients in self.plan.concurrency:
            profile = self.profile(server)
            outcome = self.window("add_user", {"address": server.address}, clients, f"{what} at {clients}", profile)
            yield clients, outcome, profile

    def database(self, prefix: str) -> str:
        """Creates a fresh database and returns its DSN."""
        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        self.cluster.create_database(name)
        return self.cluster.dsn(name)

    def drop(self, dsn: str) -> None:
        """Drops a database created by `database` (frees disk between sections)."""
        self.cluster.drop_database(dsn.rsplit("/", 1)[1])

    def start(self, module: str, env: dict[str, str] | None = None, *args: str, wait: bool = True) -> ServiceProcess:
        """Starts a server process (stopped at the end of the run at the latest); waits until SERVING."""
        env = {"LOG_LEVEL": "INFO", **(env or {})}
        process = ServiceProcess(module, env, list(args), log_dir=self.workdir).start()
        self.started.append(process)
        if wait:
            process.wait_serving()
        return process

    def stop(self, *processes: ServiceProcess) -> None:
        """Stops processes started with `start`."""
        for process in processes:
            process.stop()
            if process in self.started:
                self.started.remove(process)

    def stop_all(self) -> None:
        """Stops every process still running."""
        self.stop(*list(reversed(self.started)))

    def service_env(self, event_store: str = "", read_model: str = "", **extra: str) -> dict[str, str]:
        """Returns the environment the services read (eventkit.config), pointing at the bench's databases."""
        # The bench measures the services, not privileges: each migrates with its own (superuser) DSN.
        env = {
            "EVENT_STORE_DSN": event_store,
            "EVENT_STORE_MIGRATION_DSN": event_store,
            "READ_MODEL_DSN": read_model,
            "READ_MODEL_MIGRATION_DSN": read_model,
            **extra,
        }
        return {key: value for key, value in env.items() if value}

    def profile(
        self, *services: ServiceProcess, extra: dict[str, Callable[[], float]] | None = None, waits_on: str = ""
    ) -> Profile:
        """Returns a CPU profile over the given servers, PostgreSQL, the client processes and the bench itself.

        `extra` adds process groups (a replica's server, one query worker each); `waits_on` is the
        DSN whose busy backends are sampled (the primary's by default).
        """
        groups: dict[str, Callable[[], float]] = {_label(s): functools.partial(cpu_of, s.pid) for s in services}
        groups |= extra or {}
        assert self.cluster.process is not None
        postmaster = self.cluster.process.pid
        groups["postgres"] = lambda: tree_cpu(postmaster)
        client_pids = self.pool.pids()
        groups["clients"] = lambda: sum(cpu_of(pid) for pid in client_pids)
        groups["bench"] = lambda: cpu_of(os.getpid())
        return Profile(groups, waits_on or self.cluster.dsn())


def _label(service: ServiceProcess) -> str:
    return service.module if not service.args or service.args[0].isdigit() else f"{service.module} {service.args[0]}"


def require(*modules: str) -> None:
    """Raises NotRunnable naming the first service package that has no `__main__` yet."""
    for module in modules:
        if importlib.util.find_spec(module) is None or importlib.util.find_spec(f"{module}.__main__") is None:
            raise NotRunnable(f"{module} does not exist yet (no {module}/__main__.py)")


def connect(dsn: str) -> psycopg.Connection[Any]:
    """Opens an autocommit connection for polling progress."""
    return psycopg.connect(dsn, autocommit=True)
