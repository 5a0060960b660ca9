"""Metrics and correlation ids, seen from outside: /metrics scraped from the running services, logs and the stream."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import grpc
import psycopg
import pytest

from devtools.pgcluster import free_port
from eventkit.config import Database
from tests.support.metrics import Scrape, scrape
from tests.support.monitoring import recorded_names, used_metric_names
from tests.support.processes import ServiceProcess
from tests.support.projector import projector_command, projector_env, start_projector
from tests.support.prometheus import prometheus
from tests.support.system import QUERY_TEST_ENV
from tests.support.waiting import wait_until
from users.v1 import command_service_pb2 as cpb
from users.v1 import command_service_pb2_grpc, query_service_pb2_grpc
from users.v1 import query_service_pb2 as qpb

COMMAND = "users.v1.CommandService"
GET_USER = {"grpc_service": "users.v1.QueryService", "grpc_method": "GetUser"}
LIST_USERS = {"grpc_service": "users.v1.QueryService", "grpc_method": "ListUsers"}


@dataclass
class Observed:
    """The three services, each with its own metrics port, logging at DEBUG."""

    command: ServiceProcess
    projector: ServiceProcess
    query: ServiceProcess
    ports: dict[str, int]

    def scrape(self, service: str) -> Scrape:
        return scrape(self.ports[service])


def start_observed(services: Callable[..., ServiceProcess], event_store: Database, read_model: Database) -> Observed:
    """Starts command, projector and query services with METRICS_PORT set, and waits until all serve."""
    ports = {name: free_port() for name in ("command", "projector", "query")}
    debug = {"LOG_LEVEL": "DEBUG"}
    command = services(
        "command_service",
        {"EVENT_STORE_DSN": event_store.dsn, "METRICS_PORT": str(ports["command"]), **debug},
    )
    query_env = {**projector_env(event_store, read_model), **QUERY_TEST_ENV, "METRICS_PORT": str(ports["query"])}
    query = services("query_service", {**query_env, **debug})
    projector = start_projector(services, event_store, read_model, METRICS_PORT=str(ports["projector"]), **debug)
    command.wait_serving(60)
    query.wait_serving(60)
    return Observed(command, projector, query, ports)


def restart_projector(
    observed: Observed,
    services: Callable[..., ServiceProcess],
    event_store: Database,
    read_model: Database,
    same_port: bool = False,
) -> None:
    """Starts a new projector process after the old one was killed (on a new metrics port unless `same_port`)."""
    if not same_port:
        observed.ports["projector"] = free_port()
    observed.projector = start_projector(
        services, event_store, read_model, METRICS_PORT=str(observed.ports["projector"]), LOG_LEVEL="DEBUG"
    )


def add(stub: command_service_pb2_grpc.CommandServiceStub, name: str, request_id: str = "") -> cpb.AddUserResponse:
    return stub.AddUser(cpb.AddUserRequest(name=name, request_id=request_id), timeout=30)


def test_counters_move_exactly_for_three_appends_one_conflict_and_one_replay_and_lag_shows_while_the_projector_is_down(
    services: Callable[..., ServiceProcess], event_store: Database, read_model: Database
) -> None:
    observed = start_observed(services, event_store, read_model)
    before = observed.scrape("command")
    with grpc.insecure_channel(observed.command.address) as channel:
        stub = command_service_pb2_grpc.CommandServiceStub(channel)
        request_id = str(uuid.uuid4())
        ada = add(stub, "Ada", request_id)
        stub.EditUser(cpb.EditUserRequest(id=ada.user.id, name="Ada L", expected_version=1), timeout=30)
        add(stub, "Grace")
        with pytest.raises(grpc.RpcError) as conflict:
            stub.EditUser(cpb.EditUserRequest(id=ada.user.id, name="Ada X", expected_version=1), timeout=30)
        assert conflict.value.code() == grpc.StatusCode.ABORTED
        replay = add(stub, "Ada", request_id)
        assert replay.position == ada.position

    after = observed.scrape("command")

    def moved(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    assert moved("users_events_appended_total") == 3
    assert moved("users_commands_total", command="AddUser", outcome="ok") == 2
    assert moved("users_commands_total", command="AddUser", outcome="replayed") == 1
    assert moved("users_commands_total", command="EditUser", outcome="ok") == 1
    assert moved("users_commands_total", command="EditUser", outcome="VERSION_CONFLICT") == 1
    handled = {"grpc_service": COMMAND, "grpc_method": "EditUser"}
    assert moved("grpc_server_handled_total", **handled, grpc_code="OK") == 1
    assert moved("grpc_server_handled_total", **handled, grpc_code="ABORTED") == 1
    assert moved("grpc_server_handled_total", grpc_service=COMMAND, grpc_method="AddUser", grpc_code="OK") == 3
    assert moved("grpc_server_handling_seconds_count", grpc_service=COMMAND, grpc_method="AddUser") == 3
    assert after.value("grpc_server_in_flight", grpc_service=COMMAND, grpc_method="AddUser") == 0
    assert after.value("users_append_lock_wait_seconds_count") >= 1
    assert after.value("users_event_store_head_position") == 3

    def projector_caught_up(at: int) -> bool:
        seen = observed.scrape("projector")
        return (
            seen.value("users_projector_checkpoint_position") == at
            and seen.value("users_projector_store_head_position") == at
            and seen.value("users_projector_lag_events") == 0
            and seen.value("users_projector_leader") == 1
        )

    wait_until(lambda: projector_caught_up(3), 30, message="the projector's metrics to show checkpoint 3, lag 0")
    assert observed.scrape("projector").value("users_projector_events_applied_total") == 3
    wait_until(lambda: observed.scrape("query").value("users_query_read_model_position") == 3, 30)

    query_before = observed.scrape("query")
    with grpc.insecure_channel(observed.query.address) as channel:
        query = query_service_pb2_grpc.QueryServiceStub(channel)
        stream = query.StreamEvents(qpb.StreamEventsRequest(after_position=0), timeout=60)
        assert [next(stream).WhichOneof("kind") for _ in range(4)] == ["event"] * 3 + ["caught_up"]
        wait_until(lambda: observed.scrape("query").value("users_stream_subscribers") == 1, 30)
        with pytest.raises(grpc.RpcError) as refused:
            query.ListUsers(qpb.ListUsersRequest(page_token="not-a-token"), timeout=30)
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT

        # The projector goes down: writes go on, and the lag (store head minus what the read model
        # serves, both exported by processes that are still up) rises.
        observed.projector.kill()
        with grpc.insecure_channel(observed.command.address) as command_channel:
            stub = command_service_pb2_grpc.CommandServiceStub(command_channel)
            add(stub, "Katherine")
            add(stub, "Dorothy")
        head = observed.scrape("command").value("users_event_store_head_position")
        served = observed.scrape("query").value("users_query_read_model_position")
        assert (head, served) == (5, 3)
        shown = projector_command(event_store, read_model, "status", "--watch", "--count", "2", "--interval", "0.1")
        assert shown.returncode == 0, shown.stderr
        assert shown.stdout.count("lag:         2 events") == 2 and "events/s applied" in shown.stdout

        # A read of position 5 times out while nothing projects; one that waits is answered after the restart.
        with pytest.raises(grpc.RpcError) as late:
            query.GetUser(qpb.GetUserRequest(id=ada.user.id, min_position=5), timeout=0.5)
        assert late.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        waiting = query.GetUser.future(qpb.GetUserRequest(id=ada.user.id, min_position=5), timeout=60)
        wait_until(lambda: observed.scrape("query").value("grpc_server_in_flight", **GET_USER) == 1, 30)
        restart_projector(observed, services, event_store, read_model)
        assert waiting.result().user.id == ada.user.id
        wait_until(lambda: projector_caught_up(5), 30, message="the restarted projector's lag to fall to 0")
        live = (message.event.position for message in stream if message.WhichOneof("kind") == "event")
        assert [next(live), next(live)] == [4, 5]
        stream.cancel()

    query_after = observed.scrape("query")

    def query_moved(name: str, **labels: str) -> float:
        return query_after.value(name, **labels) - query_before.value(name, **labels)

    assert query_after.value("users_query_read_model_position") == 5
    assert query_moved("users_stream_events_relayed_total") == 5
    assert query_moved("users_page_token_rejections_total") == 1
    assert query_moved("grpc_server_handled_total", **LIST_USERS, grpc_code="INVALID_ARGUMENT") == 1
    assert query_moved("users_read_your_writes_waits_total", outcome="timeout") == 1
    assert query_moved("users_read_your_writes_waits_total", outcome="reached") == 1
    assert query_moved("grpc_server_handled_total", **GET_USER, grpc_code="DEADLINE_EXCEEDED") == 1
    assert query_moved("grpc_server_handled_total", **GET_USER, grpc_code="OK") == 1
    assert query_after.value("users_db_pool_connections", pool="query") >= 1

    for process in (observed.command, observed.projector, observed.query):
        written = log_text(process)
        assert "Katherine" not in written and "Dorothy" not in written, "no user names in the logs, not even at DEBUG"

    exported = set().union(*(observed.scrape(name).names for name in ("command", "projector", "query")))
    missing = {f"{where}: {name}" for where, name in used_metric_names() if name not in exported | recorded_names()}
    assert not missing, f"dashboards or rules use metrics no service exports: {sorted(missing)}"


def test_one_correlation_id_follows_an_add_user_through_the_store_the_projector_log_and_the_stream(
    services: Callable[..., ServiceProcess], event_store: Database, read_model: Database
) -> None:
    observed = start_observed(services, event_store, read_model)
    correlation_id = f"test-{uuid.uuid4().hex}"
    with grpc.insecure_channel(observed.command.address) as channel:
        stub = command_service_pb2_grpc.CommandServiceStub(channel)
        response, call = stub.AddUser.with_call(
            cpb.AddUserRequest(name="Ada"), metadata=[("x-correlation-id", correlation_id)], timeout=30
        )
        assert dict(call.initial_metadata())["x-correlation-id"] == correlation_id
        position = response.position

        # Without one, the command service makes one (a W3C trace id) and says which.
        made, call = stub.AddUser.with_call(cpb.AddUserRequest(name="Grace"), timeout=30)
        made_id = dict(call.initial_metadata())["x-correlation-id"]
        assert re.fullmatch(r"[0-9a-f]{32}", made_id)

        # A traceparent's trace id becomes the correlation id.
        trace_id = uuid.uuid4().hex
        traced, call = stub.AddUser.with_call(
            cpb.AddUserRequest(name="Kate"), metadata=[("traceparent", f"00-{trace_id}-{'1' * 16}-01")], timeout=30
        )
        assert dict(call.initial_metadata())["x-correlation-id"] == trace_id

        with pytest.raises(grpc.RpcError) as refused:
            stub.AddUser(
                cpb.AddUserRequest(name="Bad"), metadata=[("x-correlation-id", "no spaces allowed")], timeout=30
            )
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    with psycopg.connect(event_store.dsn, options="-c search_path=event_store") as conn:
        stored = dict(conn.execute("SELECT position, metadata->>'correlation_id' FROM events").fetchall())
    assert stored == {position: correlation_id, made.position: made_id, traced.position: trace_id}

    tag = re.compile(rf"\[correlation_id={correlation_id} position={position}\]")
    wait_until(lambda: tag.search(log_text(observed.projector)), 30, message="the projector to log the event")
    assert "applied UserAdded" in next(line for line in log_text(observed.projector).splitlines() if tag.search(line))

    with grpc.insecure_channel(observed.query.address) as channel:
        query = query_service_pb2_grpc.QueryServiceStub(channel)
        stream = query.StreamEvents(
            qpb.StreamEventsRequest(after_position=0), metadata=[("x-correlation-id", "reader-1")], timeout=30
        )
        assert dict(stream.initial_metadata())["x-correlation-id"] == "reader-1"
        seen = {}
        for message in stream:
            if message.WhichOneof("kind") == "event":
                seen[message.event.position] = message.event.correlation_id
            if len(seen) == 3:
                stream.cancel()
                break
    assert seen == stored
    assert tag.search(log_text(observed.query)), "the query service logs the event it relays"
    assert tag.search(log_text(observed.command)), "the command service logs the command it appended"


def log_text(process: ServiceProcess) -> str:
    """Returns the whole log of a service process (its output() keeps only the tail)."""
    assert process.log_path is not None
    return Path(process.log_path).read_text(errors="replace")


def test_a_real_prometheus_scrapes_the_services_and_its_rules_see_the_lag_and_the_missing_leader(
    services: Callable[..., ServiceProcess], event_store: Database, read_model: Database
) -> None:
    observed = start_observed(services, event_store, read_model)
    jobs = {f"{name}_service": port for name, port in observed.ports.items()}
    with prometheus(jobs) as server, grpc.insecure_channel(observed.command.address) as channel:
        stub = command_service_pb2_grpc.CommandServiceStub(channel)
        add(stub, "Ada")
        wait_until(lambda: server.value("count(up == 1)") == 3, 60, message="Prometheus scraping all three")
        wait_until(lambda: server.value("users:projection_lag_events") == 0, 60, message="the lag rule at 0")
        assert server.value("sum(users_projector_leader)") == 1
        # A rule evaluated before the projector's first scrape may have left the alert pending: with a
        # leader scraped, the next evaluation must clear it.
        wait_until(lambda: not server.query('ALERTS{alertname="NoProjectorLeader"}'), 60, message="no alert at start")

        observed.projector.kill()
        add(stub, "Grace")
        add(stub, "Kate")
        wait_until(lambda: server.value("users:projection_lag_events") == 2, 60, message="the lag rule at 2")
        wait_until(
            lambda: server.query('ALERTS{alertname="NoProjectorLeader", alertstate="pending"}'),
            60,
            message="the no-leader alert pending",
        )

        restart_projector(observed, services, event_store, read_model, same_port=True)  # where Prometheus looks
        wait_until(lambda: server.value("users:projection_lag_events") == 0, 60, message="the lag rule back at 0")
        wait_until(lambda: not server.query('ALERTS{alertname="NoProjectorLeader"}'), 60, message="no alert")
