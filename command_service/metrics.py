"""Prometheus metrics of the command service (served when METRICS_PORT is set)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# outcome: "ok", "replayed" (a retry answered from the store, nothing appended), "error", or the
# domain error's reason (VERSION_CONFLICT, USER_NOT_FOUND, REQUEST_ID_REUSED, ...).
COMMANDS = Counter("users_commands_total", "Commands handled, by command and outcome.", ["command", "outcome"])
EVENTS_APPENDED = Counter("users_events_appended_total", "Events appended to the event store.")
BATCH_SIZE = Histogram(
    "users_append_batch_commands", "Commands per group-commit transaction.", buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256)
)
BATCH_SECONDS = Histogram("users_append_batch_seconds", "Duration of one group-commit transaction, commit included.")
LOCK_WAIT_SECONDS = Histogram(
    "users_append_lock_wait_seconds",
    "Time a group-commit transaction waited for the append lock (other writers, psql sessions included).",
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0),
)
STORE_HEAD = Gauge(
    "users_event_store_head_position",
    "The highest event position this process has appended or answered with (the store's head, as it last saw it).",
)
HEADS_REFOLDED = Counter(
    "users_stream_heads_refolded_total",
    "Users whose stream head was missing, stale or damaged, so their events were folded again (and the head rewritten).",
)
