"""The NOTIFY channel names: one constant each, and the SQL trigger that cannot import them says the same."""

from __future__ import annotations

from importlib import resources

from eventkit.channels import EVENTS_CHANNEL


def test_the_event_store_trigger_notifies_on_the_channel_the_projector_listens_to() -> None:
    script = resources.files("eventkit.migrations").joinpath("event_store", "0001_events.sql").read_text()
    assert f"pg_notify('{EVENTS_CHANNEL}', '')" in script
