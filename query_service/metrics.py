"""Prometheus metrics of the query service (served when METRICS_PORT is set)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

SUBSCRIBERS = Gauge("users_stream_subscribers", "StreamEvents calls attached now (live or catching up).")
READ_MODEL_POSITION = Gauge(
    "users_query_read_model_position", "The position the read model has reached, as this process follows it."
)
RELAYED = Counter("users_stream_events_relayed_total", "Events sent to StreamEvents subscribers (replays included).")
FALLBACKS = Counter(
    "users_stream_fallbacks_total", "Live subscribers that fell behind their buffer and caught up from the event log."
)
# outcome: "reached", "timeout" (DEADLINE_EXCEEDED), "unavailable" (no projector, or shutting down).
READ_WAITS = Counter(
    "users_read_your_writes_waits_total", "Reads that waited for a min_position not yet applied.", ["outcome"]
)
READ_WAIT_SECONDS = Histogram(
    "users_read_your_writes_wait_seconds",
    "How long a read waited for its min_position.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
PAGE_TOKEN_REJECTIONS = Counter("users_page_token_rejections_total", "ListUsers calls refused for their page_token.")
LAGGING_REPLICA_RETRIES = Counter(
    "users_query_lagging_replica_retries_total",
    "Reads and stream pages whose connection reached a replica behind the position they need, and looked again.",
)
