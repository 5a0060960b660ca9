"""A real Prometheus server (Debian's `prometheus` package, next to promtool) scraping services in a test."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from devtools import promtool
from devtools.processes import die_with_parent, free_port

RULES = Path(__file__).resolve().parents[2] / "deploy" / "monitoring" / "rules.yaml"


class Prometheus:
    """A running Prometheus and its HTTP query API."""

    def __init__(self, port: int) -> None:
        self.port = port

    def query(self, expr: str) -> list[dict[str, Any]]:
        """Returns the instant vector of `expr` (as the API gives it)."""
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        with urllib.request.urlopen(url, timeout=5) as response:
            body = json.load(response)
        assert body["status"] == "success", body
        return body["data"]["result"]

    def value(self, expr: str) -> float | None:
        """Returns the value of a one-sample expression, None while it has no sample."""
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else None


@contextlib.contextmanager
def prometheus(targets: dict[str, int], interval: str = "1s") -> Iterator[Prometheus]:
    """Runs Prometheus with the project's rules, scraping `targets` ({job: port on 127.0.0.1}) every `interval`."""
    binary = Path(promtool.ensure()).with_name("prometheus")
    assert binary.is_file(), f"no Prometheus server beside {binary.with_name('promtool')}"
    folder = Path(tempfile.mkdtemp(prefix="prometheus-"))
    shutil.copy(RULES, folder / "rules.yaml")
    config = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": ["rules.yaml"],
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]} for job, port in targets.items()
        ],
    }
    (folder / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = open(folder / "prometheus.log", "wb")
    process = subprocess.Popen(
        [
            str(binary),
            f"--config.file={folder / 'prometheus.yml'}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        preexec_fn=die_with_parent,
    )
    try:
        yield Prometheus(port)
    finally:
        process.terminate()
        process.wait(30)
        log.close()
        shutil.rmtree(folder, ignore_errors=True)
