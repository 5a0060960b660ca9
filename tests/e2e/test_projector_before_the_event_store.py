"""A projector started before the event store has its tables: the right diagnosis, a growing wait, then it leads."""

from __future__ import annotations

import re
from collections.abc import Callable

from eventkit.config import Database
from tests.support.processes import ServiceProcess
from tests.support.projector import start_command_service, start_projector
from tests.support.waiting import wait_until

NOT_INITIALISED = re.compile(r"the event store is not initialised .*; retrying in ([\d.]+) s")


def test_a_projector_without_an_events_table_says_so_backs_off_and_leads_once_it_exists(
    services: Callable[..., ServiceProcess], event_store: Database, read_model: Database
) -> None:
    projector = start_projector(services, event_store, read_model, wait=False, PROJECTOR_RETRY_MAX_SECONDS="30")

    def three_waits() -> list[float] | None:
        waits = [float(w) for w in NOT_INITIALISED.findall(projector.output())]
        return waits[:3] if len(waits) >= 3 else None

    waits = wait_until(three_waits, 30, message="three retries of a projector that finds no events table")
    assert waits == sorted(waits) and waits[2] > waits[0] * 2, waits  # backoff, not a fixed 0.4 s loop
    assert "database unreachable" not in projector.output()
    assert projector.health() != 1

    start_command_service(services, event_store)  # creates the events table
    projector.wait_serving(60)
