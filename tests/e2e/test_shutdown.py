"""SIGTERM: calls arriving while a service stops get UNAVAILABLE (never CANCELLED); a stuck append never commits late."""

from __future__ import annotations

import signal
import threading
import time
import uuid

import grpc
import pytest
from grpc_health.v1 import health_pb2

from eventkit import db
from eventkit.config import Database
from tests.support.callers import Callers, answer_of
from tests.support.system import start_system
from tests.support.waiting import wait_until
from users.v1 import command_service_pb2 as cpb
from users.v1 import command_service_pb2_grpc, query_service_pb2_grpc
from users.v1 import query_service_pb2 as qpb

ANSWERS = {grpc.StatusCode.OK, grpc.StatusCode.UNAVAILABLE}


def add_user(channel: grpc.Channel) -> None:
    stub = command_service_pb2_grpc.CommandServiceStub(channel)
    stub.AddUser(cpb.AddUserRequest(name="under load", request_id=str(uuid.uuid4())), timeout=30)


@pytest.mark.parametrize("stack", ["sync", "asyncio"])
def test_calls_arriving_while_the_command_service_stops_get_unavailable_not_cancelled(
    services, event_store, stack: str
) -> None:
    env = {"EVENT_STORE_DSN": event_store.dsn, "EVENT_STORE_SCHEMA": event_store.schema, "COMMAND_SERVER_STACK": stack}
    command = services("command_service", env).wait_serving(60)
    with Callers(command.address, add_user) as callers:
        wait_until(lambda: callers.count(grpc.StatusCode.OK) >= 200, timeout=60, message="200 commands answered")
        assert command.terminate(timeout=30) == 0
        wait_until(lambda: callers.count(grpc.StatusCode.UNAVAILABLE) >= 50, timeout=30, message="calls after the stop")
        codes = callers.stop()
    assert set(codes) <= ANSWERS, codes


def test_calls_arriving_while_the_query_service_stops_get_unavailable_not_cancelled(
    services, event_store, read_model
) -> None:
    system = start_system(services, event_store, read_model)
    with grpc.insecure_channel(system.command.address) as channel:
        stub = command_service_pb2_grpc.CommandServiceStub(channel)
        added = stub.AddUser(cpb.AddUserRequest(name="read under load"), timeout=30)

    def read(channel: grpc.Channel) -> None:
        stub = query_service_pb2_grpc.QueryServiceStub(channel)
        stub.GetUser(qpb.GetUserRequest(id=added.user.id, min_position=added.position), timeout=30)
        stub.ListUsers(qpb.ListUsersRequest(page_size=10), timeout=30)

    with Callers(system.query.address, read) as callers:
        wait_until(lambda: callers.count(grpc.StatusCode.OK) >= 200, timeout=60, message="200 reads answered")
        assert system.query.terminate(timeout=30) == 0
        wait_until(lambda: callers.count(grpc.StatusCode.UNAVAILABLE) >= 50, timeout=30, message="calls after the stop")
        codes = callers.stop()
    assert set(codes) <= ANSWERS, codes


def lock_waiters(event_store: Database) -> int:
    """Counts the sessions waiting for an advisory lock (the append lock) in the event store."""
    with db.connect(event_store, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted").fetchone()
    return int(row[0]) if row else 0


def stored_with(event_store: Database, request_id: str) -> int:
    """Counts the events stored for a request id."""
    with db.connect(event_store, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM events WHERE request_id = %s", [request_id]).fetchone()
    return int(row[0]) if row else 0


@pytest.mark.parametrize("stack", ["sync", "asyncio"])
def test_a_command_stuck_behind_the_append_lock_answers_unavailable_at_stop_and_never_commits(
    services, event_store, stack: str
) -> None:
    grace = 3.0
    env = {
        "EVENT_STORE_DSN": event_store.dsn,
        "EVENT_STORE_SCHEMA": event_store.schema,
        "COMMAND_SERVER_STACK": stack,
        "SHUTDOWN_GRACE_SECONDS": str(grace),
        # Far beyond the grace: what ends the stuck append here must be the stop, not the timeouts.
        "APPEND_LOCK_TIMEOUT_SECONDS": "600",
        "APPEND_STATEMENT_TIMEOUT_SECONDS": "600",
    }
    command = services("command_service", env).wait_serving(60)
    request = cpb.AddUserRequest(name="stuck", request_id=str(uuid.uuid4()))
    answers: dict[str, tuple[grpc.StatusCode, str]] = {}
    with db.connect(event_store) as holder, grpc.insecure_channel(command.address) as channel:
        stub = command_service_pb2_grpc.CommandServiceStub(channel)
        stub.AddUser(cpb.AddUserRequest(name="before"), timeout=30)
        holder.execute("SELECT pg_advisory_xact_lock('events'::regclass::oid::bigint)")  # held until rollback
        stuck = threading.Thread(
            target=lambda: answers.update(stuck=answer_of(lambda: stub.AddUser(request, timeout=60)))
        )
        stuck.start()
        wait_until(
            lambda: lock_waiters(event_store) == 1, timeout=30, message="the command waiting for the append lock"
        )

        assert command.process is not None
        stopped_at = time.monotonic()
        command.process.send_signal(signal.SIGTERM)
        wait_until(
            lambda: command.health() == health_pb2.HealthCheckResponse.NOT_SERVING, timeout=grace, message="NOT_SERVING"
        )
        late = cpb.AddUserRequest(name="late", request_id=str(uuid.uuid4()))
        assert answer_of(lambda: stub.AddUser(late, timeout=10)) == (
            grpc.StatusCode.UNAVAILABLE,
            "SERVER_SHUTTING_DOWN",
        )
        assert command.process.wait(timeout=grace + 15) == 0
        took = time.monotonic() - stopped_at
        stuck.join(timeout=30)
        # The append was cancelled in the database before the answer: nobody waits for the lock now.
        assert lock_waiters(event_store) == 0
        holder.rollback()
    assert answers["stuck"][0] == grpc.StatusCode.UNAVAILABLE, (answers, command.output())
    assert grace <= took < grace + 15
    assert stored_with(event_store, request.request_id) == 0
    assert stored_with(event_store, late.request_id) == 0

    again = services("command_service", env).wait_serving(60)
    with grpc.insecure_channel(again.address) as channel:
        retried = command_service_pb2_grpc.CommandServiceStub(channel).AddUser(request, timeout=30)
    assert retried.user.name == "stuck" and stored_with(event_store, request.request_id) == 1
