"""Optional OpenTelemetry tracing (TRACING=otlp): off by default, and then free (OpenTelemetry is not even imported).

One rule ties the spans of one command together across the three processes: the trace id is the
correlation id whenever that is 32 hex digits, which every id the command service makes is, and
which a caller's `traceparent` gives. The RPC, the append, the projector's work on the event and
its relay to subscribers are then spans of one trace, found again through the event's metadata.
"""

from __future__ import annotations

import contextlib
import re
import secrets
from collections.abc import Iterator
from typing import Any

_TRACE_ID = re.compile(r"^[0-9a-f]{32}$")

_tracer: Any = None  # an opentelemetry Tracer once configure() turned tracing on


def enabled() -> bool:
    """Tells whether spans are recorded in this process."""
    return _tracer is not None


def configure(service: str, exporter: Any = None) -> None:
    """Turns tracing on: spans go to the OTLP exporter (OTEL_EXPORTER_OTLP_* variables), or to `exporter`."""
    global _tracer
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    except ImportError:
        raise SystemExit(
            f"{service}: TRACING=otlp needs the tracing extra: pip install 'users-cqrs[tracing]'"
        ) from None

    provider = TracerProvider(resource=Resource.create({"service.name": f"users-cqrs-{service}"}))
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    else:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    _tracer = provider.get_tracer("users-cqrs")


def disable() -> None:
    """Turns tracing off again (tests)."""
    global _tracer
    _tracer = None


def _parent(correlation_id: str | None) -> Any:
    """Returns a context whose remote parent lies in the trace named by the correlation id (None if it names none)."""
    if correlation_id is None or not _TRACE_ID.match(correlation_id) or correlation_id == "0" * 32:
        return None
    from opentelemetry import trace

    remote = trace.SpanContext(
        trace_id=int(correlation_id, 16),
        span_id=int.from_bytes(secrets.token_bytes(8), "big") or 1,
        is_remote=True,
        trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED),
    )
    return trace.set_span_in_context(trace.NonRecordingSpan(remote))


@contextlib.contextmanager
def _recording(name: str, correlation_id: str | None, attributes: dict[str, Any]) -> Iterator[None]:
    from opentelemetry.context import Context

    if correlation_id is not None:
        attributes = {**attributes, "users.correlation_id": correlation_id}
    # No trace to join: a root span of its own, never a child of whatever span happens to be current.
    parent = _parent(correlation_id) or Context()
    with _tracer.start_as_current_span(name, context=parent, attributes=attributes):
        yield


_OFF = contextlib.nullcontext()


def span(name: str, correlation_id: str | None = None, **attributes: Any) -> contextlib.AbstractContextManager[Any]:
    """Returns a span in the correlation id's trace while tracing is on; a shared no-op otherwise."""
    if _tracer is None:
        return _OFF
    return _recording(name, correlation_id, {k: v for k, v in attributes.items() if v is not None})


def spans(name: str, work: list[tuple[str | None, dict[str, Any]]]) -> contextlib.AbstractContextManager[Any]:
    """Returns one span per (correlation id, attributes), each in its own trace, around work done for all at once."""
    if _tracer is None:
        return _OFF
    stack = contextlib.ExitStack()
    for correlation_id, attributes in work:
        stack.enter_context(span(name, correlation_id, **attributes))
    return stack
