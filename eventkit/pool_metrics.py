"""Prometheus metrics of database connection pools: size, in use and waiting, read from the pool at scrape time."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector


class PoolCollector(Collector):
    """Reports each registered pool's numbers when Prometheus scrapes, so nothing is counted on the hot path."""

    def __init__(self) -> None:
        self._pools: dict[str, Any] = {}

    def add(self, name: str, pool: Any) -> None:
        """Reports `pool` (a psycopg_pool ConnectionPool or AsyncConnectionPool) under `name`."""
        self._pools[name] = pool

    def collect(self) -> Iterator[GaugeMetricFamily]:
        size = GaugeMetricFamily("users_db_pool_connections", "Connections the pool holds now.", labels=["pool"])
        limit = GaugeMetricFamily("users_db_pool_max_connections", "The pool's upper bound.", labels=["pool"])
        in_use = GaugeMetricFamily("users_db_pool_in_use", "Connections lent out to requests now.", labels=["pool"])
        waiting = GaugeMetricFamily("users_db_pool_waiting", "Requests waiting for a connection now.", labels=["pool"])
        for name, pool in list(self._pools.items()):
            stats = pool.get_stats()  # a snapshot taken without blocking the pool
            size.add_metric([name], stats.get("pool_size", 0))
            limit.add_metric([name], stats.get("pool_max", 0))
            in_use.add_metric([name], stats.get("pool_size", 0) - stats.get("pool_available", 0))
            waiting.add_metric([name], stats.get("requests_waiting", 0))
        yield from (size, limit, in_use, waiting)


_COLLECTOR: PoolCollector | None = None


def watch(name: str, pool: Any) -> None:
    """Exports `pool`'s metrics from this process's registry (one collector per process)."""
    global _COLLECTOR
    if _COLLECTOR is None:
        _COLLECTOR = PoolCollector()
        REGISTRY.register(_COLLECTOR)
    _COLLECTOR.add(name, pool)
