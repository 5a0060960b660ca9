"""Two projectors on one read model: one applies, the other stands by and takes over when the leader is killed."""

from __future__ import annotations

import threading
from collections.abc import Callable

from eventkit.config import Database
from tests.support.processes import ServiceProcess
from tests.support.projector import (
    checkpoint,
    command_writes,
    read_model_content,
    replay,
    start_command_service,
    start_projector,
    status,
    store_head,
    wait_caught_up,
)
from tests.support.waiting import wait_until


def leader_pid(event_store: Database, read_model: Database) -> int | None:
    """Returns the pid of the projector that holds the leader lock, as `status` reports it."""
    leader = status(event_store, read_model)["leader"]
    return int(leader.rsplit(":", 1)[1]) if leader else None


def test_a_standby_takes_over_when_the_leader_is_killed_and_no_event_is_applied_twice(
    services: Callable[..., ServiceProcess], event_store: Database, read_model: Database
) -> None:
    command = start_command_service(services, event_store)
    first = start_projector(services, event_store, read_model)
    assert first.process is not None
    wait_until(
        lambda: leader_pid(event_store, read_model) == first.process.pid, 60, 0.2, message="the first projector leading"
    )
    second = start_projector(services, event_store, read_model)  # SERVING as a healthy standby
    assert second.process is not None
    command_writes(command.address, 100, seed=1)
    wait_caught_up(event_store, read_model, 60)
    assert leader_pid(event_store, read_model) == first.process.pid, "the standby must not apply while the leader lives"

    head = store_head(event_store)
    writers = [threading.Thread(target=command_writes, args=(command.address, 200, seed)) for seed in (2, 3)]
    for thread in writers:
        thread.start()
    wait_until(lambda: checkpoint(read_model) > head + 20, 60, message="the leader applying the new writes")
    first.kill()
    wait_until(
        lambda: leader_pid(event_store, read_model) == second.process.pid, 60, 0.2, message="the standby leading"
    )
    for thread in writers:
        thread.join(120)
    wait_caught_up(event_store, read_model, 60)
    expected, actual = replay(event_store), read_model_content(read_model)
    assert len(expected.log) == 500
    assert actual.log == expected.log  # every event exactly once: the event_log has one row per position
    assert actual.users == expected.users
