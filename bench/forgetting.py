"""`python -m bench.forgetting [--quick]`: what sealing names costs, with and without encryption in the same run.

Appends go through the command service's Appender in-process (the group-commit path a gRPC call
ends in), once writing clear-text events (schema version 1, no keys) and once sealed ones (a key
per user in the same database). The projector's rate is its batch path (read, open names, fold,
write, checkpoint) over the events each run wrote. Runs alternate between the two modes and the
median is reported, so machine noise falls on both alike. Durable PostgreSQL, as in `make bench`.
"""

from __future__ import annotations

import argparse
import dataclasses
import os

# Set before grpc is imported anywhere in this process (the cluster helper starts children).
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

import shutil
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path

from psycopg.types.json import Jsonb

from command_service import domain, keyring
from command_service.appender import Appender
from devtools.pgcluster import Cluster, free_port
from eventkit import codec, db, migrations, sealing
from eventkit.config import Database
from eventkit.keystore import KeyStore
from eventkit.startup import migrate, migrating_connector
from projector_service import store
from projector_service.applier import apply_batch
from projector_service.source import EventSource

THREADS = 16
BATCH = 1000


def append_rate(event_store: Database, sealed: bool, edits: bool, seconds: float) -> float:
    """Returns events/s appended by THREADS threads for `seconds` (adds only, or one add then edits)."""
    if sealed:
        connect, keys = keyring.wire(event_store, dataclasses.replace(event_store, schema="user_keys"))
        appender = Appender(connect, keys=keys)
    else:
        appender = Appender(migrating_connector(event_store, "event_store"))
    appender.start()
    counts = [0] * THREADS
    deadline = time.monotonic() + seconds
    started = threading.Barrier(THREADS + 1)

    def work(index: int) -> None:
        user = appender.submit(domain.AddUser(f"Bench User {index}")).result().state.id if edits else ""
        started.wait()
        while time.monotonic() < deadline:
            n = counts[index]
            command: domain.Command = (
                domain.EditUser(user, f"Renamed Person {index}-{n}") if edits else domain.AddUser(f"Person {index}-{n}")
            )
            appender.submit(command).result()
            counts[index] += 1

    threads = [threading.Thread(target=work, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    started.wait()
    began = time.monotonic()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    appender.stop()
    return sum(counts) / elapsed


def fill(event_store: Database, sealed: bool, total: int) -> None:
    """Writes `total` events with plain SQL, in commits of BATCH: users added, then renamed, as the service stores them."""
    keys = KeyStore(Database(event_store.dsn, "user_keys", 2), True)
    migrate(event_store, "event_store")
    migrate(keys.database, "key_store")
    users = [str(uuid.uuid4()) for _ in range(total // 2)]
    rows = [(user, 1, codec.USER_ADDED, f"Person {i}") for i, user in enumerate(users)]
    rows += [(user, 2, codec.USER_EDITED, f"Renamed Person {i}") for i, user in enumerate(users)]
    made: dict[str, bytes] = {}
    with db.connect(event_store) as conn:
        for start in range(0, len(rows), BATCH):
            chunk = rows[start : start + BATCH]
            new = {user: sealing.new_key() for user, version, _, _ in chunk if version == 1} if sealed else {}
            made |= new
            with conn.transaction():
                keys.create(conn, new)
                data = [
                    sealing.seal(made[user], user, v, kind, {"name": name}) if sealed else {"name": name}
                    for user, v, kind, name in chunk
                ]
                conn.execute(
                    "INSERT INTO events (stream_id, version, type, data, schema_version)"
                    " SELECT *, %s FROM unnest(%s::uuid[], %s::int8[], %s::text[], %s::jsonb[])",
                    [
                        codec.SEALED_SCHEMA_VERSION if sealed else codec.CLEAR_SCHEMA_VERSION,
                        [r[0] for r in chunk],
                        [r[1] for r in chunk],
                        [r[2] for r in chunk],
                        [Jsonb(d) for d in data],
                    ],
                )


def projector_rate(event_store: Database, read_model: Database) -> tuple[float, int]:
    """Returns (events/s, events) of the projector's batch path over the whole store into a fresh read model."""
    with db.connect(read_model) as conn, db.connect(event_store, autocommit=True) as reader:
        migrations.apply(conn, "read_model", read_model.schema)
        conn.autocommit = True
        store.ensure_rows(conn, "users")
        source = EventSource(reader, KeyStore(Database(event_store.dsn, "user_keys", 2), True))
        position, done = 0, 0
        began = time.perf_counter()
        while events := source.read(position, BATCH):
            position = apply_batch(conn, "users", read_model.schema, events, position).position
            done += len(events)
        return done / (time.perf_counter() - began), done


def run(cluster: Cluster, rounds: int, seconds: float, projected: int) -> dict[str, dict[str, list[float]]]:
    """Alternates clear and sealed runs; returns rates by figure and mode."""
    rates: dict[str, dict[str, list[float]]] = {}

    def note(figure: str, mode: str, value: float) -> None:
        rates.setdefault(figure, {}).setdefault(mode, []).append(value)

    for round_ in range(rounds):
        for mode in ("clear", "sealed"):
            names = [f"es_{mode}_{round_}_{uuid.uuid4().hex[:6]}", f"rm_{mode}_{round_}_{uuid.uuid4().hex[:6]}"]
            for name in names:
                cluster.create_database(name)
            # The bench connects as its cluster's superuser, who also migrates (as the owner would).
            event_store = Database(cluster.dsn(names[0]), "event_store", 2, migration_dsn=cluster.dsn(names[0]))
            read_model = Database(cluster.dsn(names[1]), "read_model", 2, migration_dsn=cluster.dsn(names[1]))
            note("appends, AddUser (events/s)", mode, append_rate(event_store, mode == "sealed", False, seconds))
            note("appends, EditUser (events/s)", mode, append_rate(event_store, mode == "sealed", True, seconds))
            for name in names:
                cluster.drop_database(name)
                cluster.create_database(name)
            fill(event_store, mode == "sealed", projected)
            rate, events = projector_rate(event_store, read_model)
            assert events == projected, (events, projected)
            note(f"projector, {projected:,} events in batches of {BATCH} (events/s)", mode, rate)
            for name in names:
                cluster.drop_database(name)
    return rates


def table(rates: dict[str, dict[str, list[float]]], rounds: int, seconds: float) -> str:
    """Returns the results as a Markdown table: medians, and sealed as a fraction of clear."""
    lines = [
        f"Medians of {rounds} alternating runs, {seconds:g} s append windows, {THREADS} threads, durable PostgreSQL.",
        "",
        "| figure | clear text | sealed (AES-256-GCM) | sealed / clear |",
        "| --- | ---: | ---: | ---: |",
    ]
    for figure, modes in rates.items():
        clear, sealed = statistics.median(modes["clear"]), statistics.median(modes["sealed"])
        lines.append(f"| {figure} | {clear:,.0f} | {sealed:,.0f} | {sealed / clear:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.forgetting", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="3 rounds of 3 s windows (about a minute)")
    parser.add_argument("--out", type=Path, help="also write the table to this file")
    args = parser.parse_args(argv)
    rounds, seconds, projected = (3, 3.0, 20_000) if args.quick else (5, 10.0, 100_000)
    workdir = Path(tempfile.mkdtemp(prefix="users-cqrs-forgetting-"))
    os.chmod(workdir, 0o755)  # the server runs as an unprivileged user when the bench runs as root
    try:
        cluster = Cluster(workdir / "data", free_port(), durable=True)
        cluster.init()
        cluster.start()
        try:
            text = table(run(cluster, rounds, seconds, projected), rounds, seconds)
        finally:
            cluster.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(text, end="")
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
