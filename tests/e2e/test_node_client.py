"""The API from a second language: examples/node (Node.js, @grpc/grpc-js, protos loaded at run time) against the three services."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from typing import Any

import pytest

from eventkit import db
from tests.support.processes import ROOT
from tests.support.system import System, start_system, store_events

EXAMPLE = ROOT / "examples" / "node"


def ensure_node() -> None:
    """Installs Node.js and npm from the distribution's packages where they are missing (as root with apt-get)."""
    if shutil.which("node") and shutil.which("npm"):
        return
    assert os.geteuid() == 0 and shutil.which("apt-get"), "node and npm are missing: install Node.js 20 and npm"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env, capture_output=True, timeout=600)
    subprocess.run(
        ["apt-get", "install", "-y", "-q", "nodejs", "npm"], check=True, env=env, capture_output=True, timeout=900
    )


@pytest.fixture(scope="module")
def node_example() -> None:
    """Installs the example's dependencies exactly as its package-lock.json pins them."""
    ensure_node()
    done = subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund"], cwd=EXAMPLE, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture
def system(services, event_store, read_model) -> System:
    return start_system(services, event_store, read_model)


def run_example(system: System, name: str) -> list[dict[str, Any]]:
    env = dict(os.environ, USERS_COMMAND_ADDR=system.command.address, USERS_QUERY_ADDR=system.query.address)
    done = subprocess.run(
        ["node", "example.js", name], cwd=EXAMPLE, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr == ""
    return [json.loads(line) for line in done.stdout.splitlines()]


def test_the_node_example_adds_edits_reads_its_write_and_follows_the_stream_live(node_example, system) -> None:
    name = f"Ada from Node {uuid.uuid4().hex[:6]} Σοφία"
    started_ms = time.time_ns() // 1_000_000
    lines = run_example(system, name)
    finished_ms = time.time_ns() // 1_000_000

    steps = [line["what"] for line in lines]
    assert [step for step in steps if step != "event"] == ["added", "caught_up", "edited", "stale_edit_refused", "read"]
    # The UserAdded comes replayed or live (whether the read model had it when the stream began); the
    # UserEdited is written after the caught-up marker, so it comes live, after the edit returned.
    events_at = [i for i, step in enumerate(steps) if step == "event"]
    assert len(events_at) == 2 and steps.index("caught_up") < steps.index("edited") < events_at[1]
    added, edited, refused, read = (
        next(line for line in lines if line["what"] == what)
        for what in ("added", "edited", "stale_edit_refused", "read")
    )
    user_id = added["id"]
    assert (added["name"], added["version"]) == (name, 1)
    assert (edited["id"], edited["version"], edited["name"]) == (user_id, 2, f"{name} (edited from Node.js)")
    assert refused["code"] == "ABORTED"
    assert (read["name"], read["version"], read["min_position"]) == (edited["name"], 2, edited["position"])

    # What the stream delivered is exactly what the event store holds for this user, in order.
    streamed = [(e["position"], e["type"], e["version"], e["name"]) for e in lines if e["what"] == "event"]
    stored = [(e.position, e.type, e.version, e.name) for e in store_events(system.event_store) if e.user_id == user_id]
    assert streamed == [
        (position, f"EVENT_TYPE_USER_{kind}", version, event_name)
        for (position, _, version, event_name), kind in zip(stored, ("ADDED", "EDITED"))
    ]
    assert [s[0] for s in streamed] == [added["position"], edited["position"]] and len(stored) == 2
    caught_up = next(line for line in lines if line["what"] == "caught_up")
    assert caught_up["position"] < edited["position"]

    # Its request ids are time-ordered (version 7, RFC 9562): the first 48 bits are the call's time in ms.
    with db.connect(system.event_store) as conn:
        rows = conn.execute("SELECT request_id FROM events WHERE stream_id = %s ORDER BY version", [user_id])
        request_ids = [row[0] for row in rows]
    assert [r.version for r in request_ids] == [7, 7]
    assert started_ms <= request_ids[0].int >> 80 <= request_ids[1].int >> 80 <= finished_ms
