"""Correlation ids from call metadata, and what every log line carries (no I/O)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from eventkit import correlation, logs
from eventkit.errors import InvalidArgument

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


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
