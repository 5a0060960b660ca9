"""Prometheus metrics of the command service (served when METRICS_PORT is set)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

COMMANDS = Counter("users_commands_total", "Commands handled, by command and outcome.", ["command", "outcome"])
BATCH_SIZE = Histogram(
    "users_append_batch_commands", "Commands per group-commit transaction.", buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256)
)
BATCH_SECONDS = Histogram("users_append_batch_seconds", "Duration of one group-commit transaction, commit included.")
