"""The projector loses its connections (terminated backends, a restarted server) and converges without help."""

from __future__ import annotations

import threading
from collections.abc import Callable

from grpc_health.v1 import health_pb2

from devtools.pgcluster import Cluster
from eventkit import db
from eventkit.config import Database
from tests.support.processes import ServiceProcess
from tests.support.projector import (
    command_writes,
    explained_by,
    read_model_content,
    replay,
    start_command_service,
    start_projector,
    wait_caught_up,
)
from tests.support.waiting import wait_until

SERVING = health_pb2.HealthCheckResponse.SERVING


def backends(database: Database, application: str) -> set[int]:
    """Returns the pids of the sessions on `database` whose application_name starts with `application`."""
    with db.connect(database, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name LIKE %s",
            [application + "%"],
        )
        return {row[0] for row in rows}


def terminate(database: Database, pids: set[int]) -> None:
    with db.connect(database, autocommit=True) as conn:
        for pid in pids:
            conn.execute("SELECT pg_terminate_backend(%s)", [pid])


def assert_equals_replay(event_store: Database, read_model: Database) -> None:
    expected, actual = replay(event_store), read_model_content(read_model)
    assert actual.log == expected.log
    assert actual.users == expected.users


def test_the_projector_converges_when_its_listen_connection_is_terminated_during_writes(
    services: Callable[..., ServiceProcess], event_store: Database, read_model: Database
) -> None:
    command = start_command_service(services, event_store)
    # A poll interval longer than the test's deadline: convergence must come from re-LISTENing
    # and from the catch-up every reconnect does, not from the timer.
    projector = start_projector(
        services, event_store, read_model, PROJECTOR_POLL_INTERVAL_SECONDS="120", PROJECTOR_HEARTBEAT_SECONDS="120"
    )
    writers = [threading.Thread(target=command_writes, args=(command.address, 250, seed)) for seed in range(3)]
    for thread in writers:
        thread.start()
    terminated: set[int] = set()
    with explained_by(projector, command):
        for _ in range(3):
            pids = wait_until(
                lambda: backends(event_store, "projector-listen") - terminated,
                60,
                message="a (new) LISTEN session of the projector",
            )
            terminate(event_store, pids)
            terminated |= pids
        for thread in writers:
            thread.join(120)
        wait_until(
            lambda: backends(event_store, "projector-listen") - terminated, 60, message="the projector LISTENing again"
        )
        wait_caught_up(event_store, read_model, 60)
        assert_equals_replay(event_store, read_model)
        # Events written from now on reach it through the new LISTEN alone (the timer is two minutes).
        command_writes(command.address, 20, seed=99)
        wait_caught_up(event_store, read_model, 60)


def test_the_projector_resumes_when_every_session_on_both_databases_is_terminated(
    services: Callable[..., ServiceProcess], event_store: Database, read_model: Database
) -> None:
    command = start_command_service(services, event_store)
    projector = start_projector(services, event_store, read_model)
    with explained_by(projector, command):
        command_writes(command.address, 50, seed=1)
        wait_caught_up(event_store, read_model, 60)
        for database in (read_model, event_store):
            terminate(database, backends(database, "projector"))
        command_writes(command.address, 50, seed=2)
        wait_caught_up(event_store, read_model, 60)
        assert backends(read_model, "projector "), "the projector holds the leader lock again"
        assert_equals_replay(event_store, read_model)


def test_the_projector_reports_not_serving_while_the_server_is_down_and_resumes_after_it_restarts(
    services: Callable[..., ServiceProcess], cluster: Cluster, event_store: Database, read_model: Database
) -> None:
    command = start_command_service(services, event_store)
    projector = start_projector(services, event_store, read_model)
    with explained_by(projector, command):
        command_writes(command.address, 50, seed=3)
        wait_caught_up(event_store, read_model, 60)
        cluster.stop(fast=False)
        try:
            wait_until(
                lambda: projector.health() != SERVING, 60, message="the projector NOT_SERVING without its databases"
            )
        finally:
            cluster.start()
        projector.wait_serving(60)
        command.wait_serving(60)
        command_writes(command.address, 50, seed=4)
        wait_caught_up(event_store, read_model, 60)
        assert_equals_replay(event_store, read_model)
