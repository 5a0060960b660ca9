"""QUERY_WORKERS: how many processes serve the query port, and the flag that marks one of them."""

from __future__ import annotations

import pytest

from eventkit import config
from eventkit.envparse import ConfigError
from query_service.workers import worker_index

BASE = {"READ_MODEL_DSN": "postgresql://users@localhost/read_model"}


def test_one_process_by_default_and_as_many_as_asked() -> None:
    assert config.query_settings(BASE).workers == 1
    assert config.query_settings(BASE | {"QUERY_WORKERS": "4"}).workers == 4


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ({"QUERY_WORKERS": "0"}, "QUERY_WORKERS"),
        ({"QUERY_WORKERS": "2", "QUERY_SERVICE_PORT": "0"}, "QUERY_SERVICE_PORT"),
    ],
)
def test_no_workers_or_workers_on_a_port_chosen_at_random_are_refused_naming_the_variable(
    extra: dict[str, str], named: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        config.query_settings(BASE | extra)
    assert named in str(raised.value)


def test_only_the_exact_worker_flag_marks_a_worker() -> None:
    assert worker_index(["--worker", "2"]) == 2
    assert worker_index([]) is None
    assert worker_index(["--worker"]) is None
    assert worker_index(["--worker", "x"]) is None
