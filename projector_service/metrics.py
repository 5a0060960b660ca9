"""Prometheus metrics of the projector (served when METRICS_PORT is set)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

CHECKPOINT = Gauge("users_projector_checkpoint_position", "The last event position the read model has applied.")
STORE_HEAD = Gauge("users_projector_store_head_position", "The highest position in the event store, as last sampled.")
LAG_EVENTS = Gauge("users_projector_lag_events", "Positions in the event store not yet applied (head - checkpoint).")
LAG_SECONDS = Gauge(
    "users_projector_lag_seconds", "How long the oldest event not yet applied has waited (0 when caught up)."
)
APPLIED = Counter("users_projector_events_applied_total", "Events applied to the read model (skipped ones excluded).")
BATCH_SECONDS = Histogram(
    "users_projector_batch_seconds",
    "Duration of one batch: its transaction, commit included.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
UNKNOWN_SKIPPED = Counter("users_projector_unknown_events_skipped_total", "Events of types this code does not know.")
OPERATOR_SKIPPED = Counter("users_projector_operator_skipped_total", "Events passed over because an operator said so.")
STALLED = Gauge("users_projector_stalled", "1 while an event cannot be applied, else 0.")
STALLED_POSITION = Gauge(
    "users_projector_stalled_position", "The position the projector is stalled at (0: not stalled)."
)
LEADER = Gauge("users_projector_leader", "1 while this process leads (applies events), 0 while it stands by.")
RECONNECTS = Counter("users_projector_reconnects_total", "Times the projector lost a database and started again.")
NOTIFY_QUEUE = Gauge(
    "users_projector_notification_queue_usage",
    "pg_notification_queue_usage() of the event store: the share of the NOTIFY queue in use (0 to 1).",
)
