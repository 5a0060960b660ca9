"""A streaming hot standby of the bench's cluster for the length of a block: caught up, then stopped and removed."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg

from bench.context import Context
from devtools.pgcluster import Cluster, free_port
from devtools.waiting import wait_until

CATCH_UP_SECONDS = 60.0


@contextlib.contextmanager
def streaming_replica(ctx: Context) -> Iterator[Cluster]:
    """Yields a hot standby of `ctx.cluster` (pg_basebackup -R, a free port) that has replayed the primary's WAL.

    Whatever happens in the block, the standby is stopped and its data directory removed; if the
    block fails, the standby's log is kept beside the run's other logs.
    """
    base = Path(tempfile.mkdtemp(prefix="replica-", dir=ctx.workdir))
    os.chmod(base, 0o755)  # the server runs as an unprivileged user when the bench runs as root
    replica: Cluster | None = None
    try:
        replica = ctx.cluster.replicate(base / "replica", free_port())
        replica.start()
        _wait_replayed(ctx.cluster, replica)
        yield replica
    except BaseException:
        if (base / "replica.log").exists():
            shutil.copy(base / "replica.log", ctx.workdir / "replica.log")
        raise
    finally:
        if replica is not None:
            replica.stop()
        shutil.rmtree(base, ignore_errors=True)


def _wait_replayed(primary: Cluster, replica: Cluster) -> None:
    with psycopg.connect(primary.dsn(), autocommit=True) as conn:
        row = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
    assert row is not None
    with psycopg.connect(replica.dsn(), autocommit=True) as conn:
        wait_until(
            lambda: conn.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", [row[0]]).fetchone() == (True,),
            timeout=CATCH_UP_SECONDS,
            message=f"the replica replaying the primary's WAL up to {row[0]}",
        )
