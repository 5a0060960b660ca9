"""Runs the projector in tests, writes events with plain SQL, and computes what the read model must hold."""

from __future__ import annotations

import contextlib
import json
import os
import random
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import psycopg

from eventkit import codec, db, migrations, sealing
from eventkit.codec import RecordedEvent
from eventkit.config import Database
from tests.support.processes import ROOT, ServiceProcess
from tests.support.sql_writer import KEYS as KEYS
from tests.support.sql_writer import DirectWriter as DirectWriter
from tests.support.sql_writer import insert_events as insert_events
from tests.support.sql_writer import prepare_event_store as prepare_event_store
from tests.support.waiting import wait_until
from users.v1 import command_service_pb2, command_service_pb2_grpc

KNOWN = {"UserAdded": 1, "UserEdited": 2, "UserDeleted": 3, "UserForgotten": 4}

# Short intervals so tests converge fast; every other setting keeps its production default.
TEST_ENV = {
    "PROJECTOR_POLL_INTERVAL_SECONDS": "0.5",
    "PROJECTOR_LEADER_RETRY_SECONDS": "0.3",
    "PROJECTOR_RETRY_MAX_SECONDS": "2",
    "PROJECTOR_HEARTBEAT_SECONDS": "1",
}


def migrated_read_model(read_model: Database, projection: str = "users") -> psycopg.Connection[Any]:
    """Returns an autocommit connection to a read model migrated and holding the projection's checkpoint rows."""
    conn = db.connect(read_model)
    migrations.apply(conn, "read_model", read_model.schema)
    conn.autocommit = True
    from projector_service import store  # late: the projector's own module, not needed by the other helpers

    store.ensure_rows(conn, projection)
    return conn


def appended(event_store: Database, rows: list[tuple[str, int, str, Any]]) -> list[RecordedEvent]:
    """Appends (stream_id, version, type, data) rows with plain SQL and reads them back as the projector does."""
    from projector_service import events_sql  # late: the projector's own module, not needed by the other helpers

    prepare_event_store(event_store)
    with db.connect(event_store, autocommit=True) as conn:
        insert_events(conn, rows)
        return events_sql.read_events(conn, 0, 1_000)


def projector_env(event_store: Database, read_model: Database, **overrides: str) -> dict[str, str]:
    """Returns the environment a projector (or the query service, which ignores the rest) needs for these databases."""
    env = {
        "EVENT_STORE_DSN": event_store.dsn,
        "EVENT_STORE_SCHEMA": event_store.schema,
        "READ_MODEL_DSN": read_model.dsn,
        "READ_MODEL_SCHEMA": read_model.schema,
        # Migrations (and rebuilds) as the owner, here the test superuser; a command service started
        # with this environment (the chaos fleet does) migrates the event store with it.
        "EVENT_STORE_MIGRATION_DSN": event_store.migration_dsn or event_store.dsn,
        "READ_MODEL_MIGRATION_DSN": read_model.migration_dsn or read_model.dsn,
        **TEST_ENV,
    }
    env.update(overrides)
    return env


def start_projector(
    services: Callable[..., ServiceProcess],
    event_store: Database,
    read_model: Database,
    *args: str,
    wait: bool = True,
    **env: str,
) -> ServiceProcess:
    """Starts `python -m projector_service [args]` via the `services` fixture; waits for SERVING unless `wait` is False."""
    process = services("projector_service", projector_env(event_store, read_model, **env), *args)
    return process.wait_serving(60) if wait else process


def projector_command(
    event_store: Database, read_model: Database, *args: str, timeout: float = 120, **env: str
) -> subprocess.CompletedProcess[str]:
    """Runs a one-shot projector command (status, skip, rebuild ...) and returns its result."""
    full = dict(os.environ, **projector_env(event_store, read_model, **env), PYTHONPATH=str(ROOT), LOG_FORMAT="text")
    return subprocess.run(
        [sys.executable, "-m", "projector_service", *args],
        cwd=ROOT,
        env=full,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def status(event_store: Database, read_model: Database) -> dict[str, Any]:
    """Returns `status --json` as a dict."""
    done = projector_command(event_store, read_model, "status", "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@dataclass
class ReadModel:
    """A read model's content: users rows, event_log rows by position, and the checkpoint."""

    users: set[tuple[Any, ...]]
    log: dict[int, tuple[Any, ...]]
    checkpoint: int


def replay(event_store: Database, skipped: set[int] = frozenset()) -> ReadModel:  # type: ignore[assignment]
    """Folds the whole event store, one event at a time, into the read model it must produce.

    Names are opened with the users' keys; a user whose key is gone, or who has a UserForgotten
    event, is forgotten: no users row, and every log row of it without a name and marked so.
    """
    users: dict[str, list[Any]] = {}
    log: dict[int, tuple[Any, ...]] = {}
    forgotten: set[str] = set()
    last = 0
    with db.connect(event_store) as conn:
        exists = conn.execute("SELECT to_regclass('user_keys.user_keys') IS NOT NULL").fetchone()
        keys = (
            {u: bytes(k) for u, k in conn.execute("SELECT user_id::text, key FROM user_keys.user_keys")}
            if exists and exists[0]
            else {}
        )
        cur = conn.cursor(name="replay")  # server-side: flat memory over a large store
        cur.execute(
            "SELECT position, stream_id::text, version, type, data, record_time, schema_version FROM events"
            " ORDER BY position"
        )
        for position, user, version, kind, data, at, schema_version in cur:
            last = position
            if position in skipped or kind not in KNOWN:
                continue
            stored = codec.RecordedEvent(position, user, version, kind, data, at, {}, schema_version)
            opened = sealing.open_event(stored, keys)
            if opened.forgotten or kind == "UserForgotten":
                forgotten.add(user)
            if kind == "UserAdded":
                users[user] = [user, opened.data.get("name", ""), version, at, at, position]
            elif kind == "UserEdited":
                users[user][1:] = [opened.data.get("name", ""), version, users[user][3], at, position]
            name = users[user][1] if user in users else ""
            if kind in ("UserDeleted", "UserForgotten"):
                users.pop(user, None)
            log[position] = (KNOWN[kind], user, version, name, at, False)
    for position, (kind, user, version, _name, at, _) in list(log.items()):
        if user in forgotten:
            log[position] = (kind, user, version, "", at, True)
    for user in forgotten:
        users.pop(user, None)
    return ReadModel({tuple(row) for row in users.values()}, log, last)


def read_model_content(read_model: Database, projection: str = "users") -> ReadModel:
    """Reads what the projector made of the store."""
    with db.connect(read_model) as conn:
        users = {
            tuple(r)
            for r in conn.execute("SELECT id::text, name, version, create_time, update_time, position FROM users")
        }
        rows = conn.execute(
            "SELECT position, type, user_id::text, version, name, record_time, forgotten FROM event_log"
        ).fetchall()
        found = conn.execute("SELECT position FROM projection_checkpoint WHERE name = %s", [projection]).fetchone()
    log = {r[0]: tuple(r[1:]) for r in rows}
    assert len(log) == len(rows), "an event_log position appears twice"
    return ReadModel(users, log, found[0] if found else 0)


def checkpoint(read_model: Database, projection: str = "users") -> int:
    """Returns the projection's checkpoint (0 before the projector created it)."""
    try:
        with db.connect(read_model) as conn:
            row = conn.execute("SELECT position FROM projection_checkpoint WHERE name = %s", [projection]).fetchone()
    except psycopg.errors.UndefinedTable:
        return 0
    return row[0] if row else 0


def store_head(event_store: Database) -> int:
    """Returns the event store's last position."""
    with db.connect(event_store) as conn:
        row = conn.execute("SELECT coalesce(max(position), 0) FROM events").fetchone()
    return row[0] if row else 0


def wait_caught_up(event_store: Database, read_model: Database, timeout: float = 60) -> int:
    """Waits until the checkpoint reaches the store's head; returns it."""
    head = store_head(event_store)
    wait_until(
        lambda: checkpoint(read_model) >= head, timeout, 0.1, message=f"checkpoint reaching the store head {head}"
    )
    return head


def start_command_service(services: Callable[..., ServiceProcess], event_store: Database) -> ServiceProcess:
    """Starts the command service on `event_store` and waits until it is SERVING."""
    env = {"EVENT_STORE_DSN": event_store.dsn, "EVENT_STORE_SCHEMA": event_store.schema}
    return services("command_service", env).wait_serving(60)


def command_writes(address: str, commands: int, seed: int, stop: threading.Event | None = None) -> int:
    """Sends AddUser/EditUser/DeleteUser commands through gRPC (mostly adds and edits); returns how many were sent.

    Each command carries a request id and is retried while the service answers UNAVAILABLE (its
    database restarting), which the request id makes safe.
    """
    rng = random.Random(seed)
    users: list[str] = []
    sent = 0
    with grpc.insecure_channel(address) as channel:
        stub = command_service_pb2_grpc.CommandServiceStub(channel)
        while sent < commands and not (stop and stop.is_set()):
            roll, request_id = rng.random(), str(uuid.uuid4())
            if not users or roll < 0.5:
                request = command_service_pb2.AddUserRequest(name=f"user {seed}-{sent}", request_id=request_id)
                users.append(_retried(stub.AddUser, request).user.id)
            elif roll < 0.9:
                _retried(
                    stub.EditUser,
                    command_service_pb2.EditUserRequest(
                        id=rng.choice(users), name=f"renamed {sent}", request_id=request_id
                    ),
                )
            else:
                user = users.pop(rng.randrange(len(users)))
                _retried(stub.DeleteUser, command_service_pb2.DeleteUserRequest(id=user, request_id=request_id))
            sent += 1
    return sent


def _retried(method: Callable[..., Any], request: Any, timeout: float = 60.0) -> Any:
    """Calls `method`, retrying while the service answers UNAVAILABLE (a database outage in the test)."""
    outcome: dict[str, Any] = {}

    def answered() -> bool:
        try:
            outcome["response"] = method(request, timeout=30)
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.UNAVAILABLE:
                return False
            outcome["error"] = exc  # any other status fails the test at once, not at the deadline
        return True

    wait_until(answered, timeout, interval=0.1, message=f"{getattr(method, '_method', method)} to be answered")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["response"]


@contextlib.contextmanager
def explained_by(*processes: ServiceProcess) -> Iterator[None]:
    """Adds the tail of each process's output to an assertion that fails inside the block."""
    try:
        yield
    except AssertionError as exc:
        logs = "\n".join(f"--- {p.module} (port {p.port}):\n{p.output()}" for p in processes)
        raise AssertionError(f"{exc}\n{logs}") from exc
