"""The same users workload written with the `eventsourcing` library (9.5.6) and its PostgreSQL persistence.

Projection uses the library's current recommended mechanism: a `Projection` whose view is a
`PostgresTrackingRecorder` subclass, driven by a `ProjectionRunner` (the view's rows and its
tracking record are written in one transaction per event). Runs inside client processes.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

from eventsourcing.application import Application
from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from eventsourcing.projection import Projection, ProjectionRunner
from eventsourcing.utils import get_topic
from psycopg.sql import SQL, Identifier


class User(Aggregate):
    """A user, added with a name (one event, as AddUser appends one)."""

    @event("Added")
    def __init__(self, name: str) -> None:
        self.name = name


class PeerUsers(Application[uuid.UUID]):
    """The write side: saves User aggregates."""


class PeerUsersView(PostgresTrackingRecorder):
    """The read model: a users table, written with its tracking record in one transaction."""

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        self.users_table = Identifier(self.datastore.schema or "public", "peer_users")
        self.sql_create_statements.append(
            SQL("CREATE TABLE IF NOT EXISTS {0} (id uuid PRIMARY KEY, name text NOT NULL)").format(self.users_table)
        )

    def add_user(self, user_id: uuid.UUID, name: str, tracking: Tracking) -> None:
        """Inserts a user and records the tracking object atomically."""
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(SQL("INSERT INTO {0} VALUES (%s, %s)").format(self.users_table), (user_id, name), prepare=True)
            self._insert_tracking(curs, tracking)

    def count(self) -> int:
        """Returns the number of users in the view."""
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(SQL("SELECT count(*) AS n FROM {0}").format(self.users_table))
            row = curs.fetchone()
            return int(row["n"]) if row else 0


class PeerUsersProjection(Projection[PeerUsersView]):
    """Projects User.Added events into the view."""

    name = "peer_users_view"
    topics = (get_topic(User.Added),)

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        self.view.insert_tracking(tracking)

    @process_event.register
    def _(self, domain_event: User.Added, tracking: Tracking) -> None:
        self.view.add_user(domain_event.originator_id, domain_event.name, tracking)


def environment(host: str, port: int, dbname: str, pool_size: int) -> dict[str, str]:
    """Returns the library's PostgreSQL settings for a database of the bench's cluster (trust auth)."""
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": dbname,
        "POSTGRES_HOST": host,
        "POSTGRES_PORT": str(port),
        "POSTGRES_USER": "postgres",
        "POSTGRES_PASSWORD": "unused-with-trust-auth",
        "POSTGRES_POOL_SIZE": str(pool_size),
        "POSTGRES_MAX_OVERFLOW": "0",
    }


def application(env: dict[str, str]) -> PeerUsers:
    """Constructs the write side (creating its tables on first use)."""
    return PeerUsers(env)


def seed(env: dict[str, str], users: int, chunk: int = 1000) -> int:
    """Saves `users` new users, `chunk` aggregates a save (one transaction each); returns the last notification id."""
    app = application(env)
    try:
        last = 0
        for first in range(0, users, chunk):
            recordings = app.save(*[User(name=f"peer user {i}") for i in range(first, min(first + chunk, users))])
            last = recordings[-1].notification.id
        return last
    finally:
        app.close()


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def project(env: dict[str, str], last_id: int, timeout: float) -> dict[str, Any]:
    """Runs the projection from zero until it has tracked `last_id`; returns events, seconds and RSS growth."""
    rss_before = _rss_kib()
    started = time.perf_counter()
    with ProjectionRunner(
        application_class=PeerUsers, projection_class=PeerUsersProjection, view_class=PeerUsersView, env=env
    ) as runner:
        deadline = started + timeout
        # Polled every 20 ms (the library's own wait() backs off to 800 ms, which would blur the time).
        while (runner.view.max_tracking_id(runner.app_name) or 0) < last_id:
            runner.run_forever(timeout=0.02)  # re-raises an error of the projection thread
            if runner.is_interrupted.is_set() or time.perf_counter() > deadline:
                raise TimeoutError(f"the peer projection stopped short of notification {last_id}")
        seconds = time.perf_counter() - started
        rss_after = _rss_kib()
        users = runner.view.count()
    return {"events": users, "seconds": seconds, "rss_growth_kib": rss_after - rss_before, "rss_kib": rss_after}
