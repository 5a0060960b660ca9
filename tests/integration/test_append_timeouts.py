"""The append path's lock timeout: a command stuck behind a held append lock answers UNAVAILABLE and never commits."""

from __future__ import annotations

import time
import uuid

import grpc
import pytest

from eventkit import db
from tests.support.command import command_server
from users.v1 import command_service_pb2 as pb


def test_a_command_behind_a_held_append_lock_answers_unavailable_after_the_lock_timeout_and_commits_nothing(
    event_store,
) -> None:
    request = pb.AddUserRequest(name="behind the lock", request_id=str(uuid.uuid4()))
    with command_server(event_store, APPEND_LOCK_TIMEOUT_SECONDS="0.5") as commands:
        commands.AddUser(pb.AddUserRequest(name="first"), timeout=30)
        with db.connect(event_store) as holder:
            holder.execute("SELECT pg_advisory_xact_lock('events'::regclass::oid::bigint)")  # held until rollback
            started = time.monotonic()
            with pytest.raises(grpc.RpcError) as raised:
                commands.AddUser(request, timeout=30)
            waited = time.monotonic() - started
            holder.rollback()
        assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "nothing was applied" in (raised.value.details() or "")
        assert 0.5 <= waited < 30
        with db.connect(event_store, autocommit=True) as conn:
            count = conn.execute("SELECT count(*) FROM events WHERE request_id = %s", [request.request_id]).fetchone()
        assert count == (0,)

        retried = commands.AddUser(request, timeout=30)  # the same request id, now that the lock is free
        again = commands.AddUser(request, timeout=30)
    assert retried.user.name == "behind the lock" and again.position == retried.position
