"""Correlation ids from call metadata, and what every log line carries (no I/O)."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from eventkit import config, correlation, logs
from eventkit.errors import InvalidArgument

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
ROOT = Path(__file__).resolve().parents[2]


def test_the_callers_correlation_id_wins_over_its_traceparent() -> None:
    metadata = [("traceparent", f"00-{TRACE}-00f067aa0ba902b7-01"), ("x-correlation-id", "order-42")]
    assert correlation.from_metadata(metadata) == "order-42"


def test_a_traceparent_alone_gives_its_trace_id() -> None:
    assert correlation.from_metadata([("traceparent", f"00-{TRACE}-00f067aa0ba902b7-01")]) == TRACE


@pytest.mark.parametrize(
    "traceparent",
    ["garbage", f"00-{'0' * 32}-00f067aa0ba902b7-01", f"00-{TRACE.upper()}-00f067aa0ba902b7-01", "00-abc-def-01"],
)
def test_a_malformed_traceparent_is_ignored_as_w3c_asks(traceparent: str) -> None:
    assert correlation.from_metadata([("traceparent", traceparent)]) is None


@pytest.mark.parametrize("given", ["", "with space", "x" * 129, "naïve", "line\nbreak"])
def test_a_malformed_correlation_id_is_refused_naming_the_header(given: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        correlation.from_metadata([("x-correlation-id", given)])
    assert refused.value.field == "x-correlation-id"


def test_new_ids_are_valid_w3c_trace_ids_and_differ() -> None:
    first, second = correlation.new(), correlation.new()
    assert first != second
    assert correlation.from_metadata([("traceparent", f"00-{first}-00f067aa0ba902b7-01")]) == first


@pytest.fixture(autouse=True)
def root_logging_restored() -> Iterator[None]:
    """logs.configure() replaces the root handlers: put pytest's back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def capture(fmt: str) -> tuple[logging.Logger, io.StringIO]:
    logs.configure("DEBUG", fmt, "command")
    out = io.StringIO()
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(out)
    return logging.getLogger("test.observability"), out


def test_a_json_line_carries_service_level_and_the_current_correlation_id_and_position() -> None:
    log, out = capture("json")
    token = correlation.current.set("call-7")
    try:
        log.info("appended", extra={"position": 12})
    finally:
        correlation.current.reset(token)
    log.warning("no call here")
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert (first["service"], first["level"], first["correlation_id"], first["position"]) == (
        "command",
        "INFO",
        "call-7",
        12,
    )
    assert second["service"] == "command" and "correlation_id" not in second


def test_an_explicit_correlation_id_wins_over_the_calls_and_text_lines_show_it() -> None:
    log, out = capture("text")
    token = correlation.current.set("the-call")
    try:
        log.debug("applied", extra={"correlation_id": "the-event", "position": 3})
    finally:
        correlation.current.reset(token)
    line = out.getvalue().strip()
    assert " command DEBUG " in line and line.endswith("[correlation_id=the-event position=3]")


def test_tracing_off_imports_no_opentelemetry_and_spans_are_one_shared_no_op() -> None:
    script = (
        "import sys\n"
        "import command_service.app, projector_service.follower, query_service.app\n"
        "from eventkit import tracing\n"
        "assert not tracing.enabled()\n"
        "assert tracing.span('x', 'ab' * 16) is tracing.span('y') is tracing.spans('z', [(None, {})])\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('opentelemetry'))\n"
        "assert not loaded, loaded\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_tracing_is_off_unless_asked_and_only_otlp_is_known() -> None:
    assert config.common({}).tracing is False
    assert config.common({"TRACING": "otlp"}).tracing is True
    with pytest.raises(config.ConfigError, match="TRACING"):
        config.common({"TRACING": "jaeger"})
