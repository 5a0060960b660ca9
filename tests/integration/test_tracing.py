"""Optional tracing: one trace holds the AddUser call, its append, the projector's work and the relay to a stream."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from eventkit import config, db, server, tracing
from eventkit.config import Database
from projector_service.runner import Runner
from tests.support.command import command_app
from tests.support.projector import projector_env
from tests.support.query import query_server
from users.v1 import command_service_pb2 as cpb
from users.v1 import command_service_pb2_grpc
from users.v1 import query_service_pb2 as qpb


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    tracing.configure("test", exporter)
    yield exporter
    tracing.disable()


@pytest.fixture
def projector(event_store: Database, read_model: Database) -> Iterator[None]:
    """Runs the projector's leader loop in a thread of this process (so its spans reach the exporter)."""
    settings = config.projector_settings(projector_env(event_store, read_model))
    stop = threading.Event()
    state = server.Health(health.HealthServicer(), [])
    runner = Runner(settings, state, stop, lambda: db.connect(settings.read_model))
    thread = threading.Thread(target=runner.run, name="projector", daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(timeout=30)


def test_the_rpc_the_append_the_projection_and_the_relay_are_spans_of_the_callers_trace(
    event_store: Database, read_model: Database, spans: InMemorySpanExporter, projector: None
) -> None:
    trace_id = uuid.uuid4().hex
    with command_app(event_store) as app, query_server(read_model, poll_interval=0.2) as query:
        stream = query.stub.StreamEvents(qpb.StreamEventsRequest(), timeout=60)
        assert next(stream).WhichOneof("kind") == "caught_up"
        with grpc.insecure_channel(f"127.0.0.1:{app.port}") as channel:
            stub = command_service_pb2_grpc.CommandServiceStub(channel)
            added = stub.AddUser(
                cpb.AddUserRequest(name="Ada"), metadata=[("traceparent", f"00-{trace_id}-{'a' * 16}-01")], timeout=30
            )
        event = next(m for m in stream if m.WhichOneof("kind") == "event").event
        stream.cancel()
    assert (event.position, event.correlation_id) == (added.position, trace_id)
    in_trace: dict[str, Any] = {
        s.name: s for s in spans.get_finished_spans() if s.context.trace_id == int(trace_id, 16)
    }
    assert set(in_trace) == {"users.v1.CommandService/AddUser", "command.append", "projector.apply", "query.relay"}
    assert in_trace["projector.apply"].attributes["position"] == added.position
    assert in_trace["query.relay"].attributes["users.correlation_id"] == trace_id
