"""Events the projector cannot use: an unknown type is skipped and counted; a malformed known one stops it until `skip`."""

from __future__ import annotations

import uuid
from collections.abc import Callable

from grpc_health.v1 import health_pb2

from eventkit import db
from eventkit.config import Database
from tests.support.processes import ServiceProcess
from tests.support.projector import (
    checkpoint,
    insert_events,
    prepare_event_store,
    projector_command,
    read_model_content,
    replay,
    start_projector,
    status,
    wait_caught_up,
)
from tests.support.waiting import wait_until

NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def append(event_store: Database, rows: list[tuple[str, int, str, object]]) -> list[int]:
    """Appends rows one transaction each, as psql would, bypassing the command service's checks."""
    with db.connect(event_store, autocommit=True) as conn:
        return [insert_events(conn, [row])[0] for row in rows]


def test_an_unknown_event_type_is_skipped_and_counted_and_the_checkpoint_moves_past_it(
    services: Callable[..., ServiceProcess], event_store: Database, read_model: Database
) -> None:
    prepare_event_store(event_store)
    user = str(uuid.uuid4())
    added, _unknown, edited = append(
        event_store,
        [
            (user, 1, "UserAdded", {"name": "Ann"}),
            (user, 2, "UserPromoted", {"level": 3}),
            (user, 3, "UserEdited", {"name": "Bea"}),
        ],
    )
    start_projector(services, event_store, read_model)
    wait_caught_up(event_store, read_model, 60)
    content = read_model_content(read_model)
    assert sorted(content.log) == [added, edited]
    assert [row[1:3] for row in content.users] == [("Bea", 3)]
    assert content.users == replay(event_store).users
    report = status(event_store, read_model)
    assert (report["checkpoint"], report["skipped_unknown"], report["stalled_position"]) == (edited, 1, None)


def test_a_malformed_known_event_stops_progress_until_an_operator_skips_it(
    services: Callable[..., ServiceProcess], event_store: Database, read_model: Database
) -> None:
    prepare_event_store(event_store)
    user = str(uuid.uuid4())
    good, bad, later = append(
        event_store,
        [
            (user, 1, "UserAdded", {"name": "Ann"}),
            (str(uuid.uuid4()), 1, "UserAdded", {}),  # no name: malformed
            (user, 2, "UserEdited", {"name": "Bea"}),
        ],
    )
    projector = start_projector(services, event_store, read_model, wait=False)
    wait_until(
        lambda: projector.health() == NOT_SERVING and status(event_store, read_model)["stalled_position"] == bad,
        60,
        0.2,
        message="the projector stalled on the malformed event",
    )
    report = status(event_store, read_model)
    assert (report["checkpoint"], report["lag_events"]) == (good, 2)
    assert "name" in report["last_error"] and str(bad) in report["last_error"]
    assert checkpoint(read_model) == good, "it must not advance past the bad event by itself"

    refused = projector_command(event_store, read_model, "skip", str(later))
    assert refused.returncode == 2 and "stalled at" in refused.stderr
    done = projector_command(event_store, read_model, "skip", str(bad), "--reason", "written by hand, no name")
    assert done.returncode == 0, done.stderr

    projector.wait_serving(60)
    wait_caught_up(event_store, read_model, 60)
    report = status(event_store, read_model)
    assert (report["checkpoint"], report["stalled_position"], report["skipped_operator"]) == (later, None, 1)
    expected, actual = replay(event_store, skipped={bad}), read_model_content(read_model)
    assert sorted(actual.log) == [good, later] and actual.log == expected.log and actual.users == expected.users

    rebuilt = projector_command(event_store, read_model, "rebuild")  # the skip holds for a rebuild too
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert read_model_content(read_model).log == expected.log
