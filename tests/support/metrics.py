"""Scrapes a service's /metrics over HTTP and reads values and metric names from the exposition."""

from __future__ import annotations

import urllib.request
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

# The series names each metric type exposes, from its family name.
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("_sum", "_count", "_created", ""),
    "gauge": ("",),
    "info": ("_info",),
}


@dataclass(frozen=True)
class Scrape:
    """One scrape: every sample as (name, sorted labels) -> value, and every series name the families declare."""

    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float]
    names: frozenset[str]

    def value(self, name: str, **labels: str) -> float:
        """Returns the sample's value, 0 when the process has not exported that series yet."""
        return self.samples.get((name, tuple(sorted(labels.items()))), 0.0)


def scrape(port: int, host: str = "127.0.0.1", timeout: float = 5.0) -> Scrape:
    """Fetches http://host:port/metrics and parses it."""
    with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=timeout) as response:
        text = response.read().decode()
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.update(family.name + suffix for suffix in _SUFFIXES.get(family.type, ("",)))
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
            names.add(sample.name)
    return Scrape(samples, frozenset(names))
