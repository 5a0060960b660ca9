"""COMMAND_WORKERS and QUERY_WORKERS: how many processes serve a service's port, and the flag that marks one."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from eventkit import config
from eventkit.envparse import ConfigError
from eventkit.workers import worker_index

# (the settings reader, the environment it needs, its workers variable, its port variable)
SERVICES = [
    pytest.param(
        config.command_settings,
        {"EVENT_STORE_DSN": "postgresql://users@localhost/event_store"},
        "COMMAND_WORKERS",
        "COMMAND_SERVICE_PORT",
        id="command",
    ),
    pytest.param(
        config.query_settings,
        {"READ_MODEL_DSN": "postgresql://users@localhost/read_model"},
        "QUERY_WORKERS",
        "QUERY_SERVICE_PORT",
        id="query",
    ),
]


@pytest.mark.parametrize(("read", "base", "workers", "port"), SERVICES)
def test_one_process_by_default_and_as_many_as_asked(
    read: Callable[[Mapping[str, str]], Any], base: dict[str, str], workers: str, port: str
) -> None:
    assert read(base).workers == 1
    assert read(base | {workers: "4"}).workers == 4


@pytest.mark.parametrize(("read", "base", "workers", "port"), SERVICES)
@pytest.mark.parametrize("refused", ["no workers", "workers on a port chosen at random"])
def test_no_workers_or_workers_on_a_port_chosen_at_random_are_refused_naming_the_variable(
    read: Callable[[Mapping[str, str]], Any], base: dict[str, str], workers: str, port: str, refused: str
) -> None:
    extra, named = ({workers: "0"}, workers) if refused == "no workers" else ({workers: "2", port: "0"}, port)
    with pytest.raises(ConfigError) as raised:
        read(base | extra)
    assert named in str(raised.value)


def test_only_the_exact_worker_flag_marks_a_worker() -> None:
    assert worker_index(["--worker", "2"]) == 2
    assert worker_index([]) is None
    assert worker_index(["--worker"]) is None
    assert worker_index(["--worker", "x"]) is None
