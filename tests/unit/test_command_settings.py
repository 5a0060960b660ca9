"""The command service's settings: which server stack it runs on."""

from __future__ import annotations

import pytest

from eventkit import config

BASE = {"EVENT_STORE_DSN": "postgresql://localhost/events"}


def test_the_sync_stack_is_the_default_and_asyncio_can_be_chosen() -> None:
    assert config.command_settings(BASE).server_stack == "sync"
    assert config.command_settings({**BASE, "COMMAND_SERVER_STACK": "asyncio"}).server_stack == "asyncio"


def test_an_unknown_stack_stops_start_up_naming_the_variable() -> None:
    with pytest.raises(config.ConfigError, match="COMMAND_SERVER_STACK"):
        config.command_settings({**BASE, "COMMAND_SERVER_STACK": "trio"})
