"""The two NOTIFY channels: wake-ups only, never data (the tables are read after every notification)."""

from __future__ import annotations

# Sent by the events table's statement trigger once per appending transaction, with an empty payload
# (eventkit/migrations/event_store/0001_events.sql writes it out: SQL cannot import this constant).
EVENTS_CHANNEL = "users_v1_events"

# Sent by the projector in the transaction of each applied batch; the payload is the new checkpoint.
PROJECTED_CHANNEL = "users_v1_projected"
