"""The three services as separate processes on fresh databases, and the event store as the ground truth."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from eventkit import db, sealing
from eventkit.codec import NAMELESS, TYPE_IDS, RecordedEvent
from eventkit.config import Database
from eventkit.keystore import KeyStore
from tests.support.command import key_store_of
from tests.support.processes import ROOT, ServiceProcess
from tests.support.projector import projector_env, start_projector

GRPCURL = str(Path(os.environ.get("VIRTUAL_ENV", ROOT / ".venv")) / "bin" / "grpcurl")

# Short intervals so tests converge fast; production defaults otherwise.
QUERY_TEST_ENV = {"STREAM_HEARTBEAT_SECONDS": "0.5", "QUERY_POLL_INTERVAL_SECONDS": "0.5"}


@dataclass
class System:
    """Running command, projector and query services and the databases behind them."""

    command: ServiceProcess
    projector: ServiceProcess
    query: ServiceProcess
    event_store: Database
    read_model: Database
    query_env: dict[str, str]


def start_system(
    services: Callable[..., ServiceProcess], event_store: Database, read_model: Database, **query_env: str
) -> System:
    """Starts the three services (query service settings overridable) and waits until all are SERVING."""
    command = services(
        "command_service", {"EVENT_STORE_DSN": event_store.dsn, "EVENT_STORE_SCHEMA": event_store.schema}
    )
    env = {**projector_env(event_store, read_model), **QUERY_TEST_ENV, **query_env}
    query = services("query_service", env)
    projector = start_projector(services, event_store, read_model)
    command.wait_serving(60)
    query.wait_serving(60)
    return System(command, projector, query, event_store, read_model, env)


class StoredEvent(NamedTuple):
    """An event as the event store holds it, in the terms of the API's Event."""

    position: int
    type: int
    user_id: str
    version: int
    name: str


def store_events(event_store: Database) -> list[StoredEvent]:
    """Returns every event of the store, in position order, names opened with the users' keys ('' once forgotten)."""
    with db.connect(event_store) as conn:
        rows = conn.execute(
            "SELECT position, stream_id::text, version, type, data, record_time, schema_version FROM events"
            " ORDER BY position"
        ).fetchall()
        events = [RecordedEvent(p, u, v, t, d, at, {}, sv) for p, u, v, t, d, at, sv in rows]
        keys = KeyStore(key_store_of(event_store), True).fetch(conn, sealing.sealed_streams(events))
    opened = sealing.open_events(events, keys)
    return [
        StoredEvent(
            e.position,
            TYPE_IDS[e.type],
            e.stream_id,
            e.version,
            e.data.get("name", "") if e.type not in NAMELESS else "",
        )
        for e in opened
    ]
