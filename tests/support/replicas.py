"""A primary with streaming hot standbys (pg_basebackup -R), for tests that read through replicas."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg

from devtools.pgcluster import Cluster, free_port
from eventkit.config import Database
from tests.support.waiting import wait_until


@dataclass
class ReplicaSet:
    """A running primary and its streaming replicas, all on loopback."""

    primary: Cluster
    replicas: list[Cluster]

    def database(self, prefix: str = "rm") -> str:
        """Creates a database on the primary and returns its name once every replica has replayed it."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        self.primary.create_database(name)
        for replica in self.replicas:
            wait_until(lambda r=replica: _reachable(r.dsn(name)), timeout=30, message=f"{name} on the replica")
        return name

    def read_model(self, name: str) -> Database:
        """The read model `name` on the primary."""
        return Database(dsn=self.primary.dsn(name), schema="read_model", pool_size=4)

    def replica_read_model(self, name: str, *which: int, pool_size: int = 4) -> Database:
        """The read model `name` on the replicas `which` (all by default), randomly load-balanced as a `-ro` service is."""
        chosen = [self.replicas[i] for i in which] if which else self.replicas
        if len(chosen) == 1:
            return Database(dsn=chosen[0].dsn(name), schema="read_model", pool_size=pool_size)
        hosts = ",".join(f"127.0.0.1:{replica.port}" for replica in chosen)
        dsn = f"postgresql://postgres@{hosts}/{name}?load_balance_hosts=random"
        return Database(dsn=dsn, schema="read_model", pool_size=pool_size)

    def caught_up(self, index: int) -> None:
        """Waits until replica `index` has replayed everything the primary had written when called."""
        with psycopg.connect(self.primary.dsn(), autocommit=True) as conn:
            row = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
        assert row is not None
        with psycopg.connect(self.replicas[index].dsn(), autocommit=True) as conn:
            wait_until(
                lambda: conn.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [row[0]]).fetchone() == (True,),
                timeout=30,
                message=f"replica {index} replaying up to {row[0]}",
            )

    @contextlib.contextmanager
    def paused(self, index: int = 0) -> Iterator[None]:
        """Pauses WAL replay on a replica for the block (pg_wal_replay_pause), then resumes it."""
        dsn = self.replicas[index].dsn()
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("SELECT pg_wal_replay_pause()")
            wait_until(
                lambda: conn.execute("SELECT pg_get_wal_replay_pause_state()").fetchone() == ("paused",),
                timeout=30,
                message="replay paused",
            )
            try:
                yield
            finally:
                conn.execute("SELECT pg_wal_replay_resume()")


def _reachable(dsn: str) -> bool:
    with psycopg.connect(dsn, connect_timeout=2):
        return True


@contextlib.contextmanager
def replica_set(replicas: int = 1) -> Iterator[ReplicaSet]:
    """Runs a fresh primary and `replicas` hot standbys streaming from it; removes them afterwards."""
    base = Path(tempfile.mkdtemp(prefix="users-cqrs-replica-"))
    os.chmod(base, 0o755)  # the servers may run as another user
    primary = Cluster(base / "primary", free_port(), durable=False)
    started: list[Cluster] = []
    try:
        primary.init()
        primary.start()
        started.append(primary)
        standbys = []
        for number in range(replicas):
            standby = primary.replicate(base / f"replica{number}", free_port())
            standby.start()
            started.append(standby)
            standbys.append(standby)
        yield ReplicaSet(primary, standbys)
    finally:
        for cluster in reversed(started):
            cluster.stop(fast=False)
        shutil.rmtree(base, ignore_errors=True)
