"""The operations a client thread repeats: one factory per workload name, run inside client processes."""

from __future__ import annotations

import itertools
import os
import random
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

Operation = Callable[[], Any]

# The size of a real command's name: "bench user <pid>-<thread>-<n>" plus padding, about 40 characters.
_PAD = "x" * 16
_serial = itertools.count()


def _name() -> str:
    return f"bench user {os.getpid()}-{threading.get_ident() % 10000}-{next(_serial)} {_PAD}"


def _channel(shared: dict[str, Any], address: str, own_connection: bool = False) -> Any:
    """Returns the process's channel to `address`, or with `own_connection` a new one on a TCP connection of its own.

    A connection is what the kernel hands to one of several query workers sharing a port
    (SO_REUSEPORT): four client processes with one channel each would give two workers four
    connections to split by chance, one channel per client gives them sixteen.
    """
    import grpc

    if own_connection:
        # Channels with the same target share the process-wide subchannel pool, hence one connection.
        channel = grpc.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1)])
        shared.setdefault("closers", []).append(channel.close)
        return channel
    key = f"channel:{address}"
    if key not in shared:
        shared[key] = grpc.insecure_channel(address)
        shared.setdefault("closers", []).append(shared[key].close)
    return shared[key]


def _add_user(params: dict[str, Any], shared: dict[str, Any]) -> Operation:
    from users.v1 import command_service_pb2 as pb
    from users.v1 import command_service_pb2_grpc as pb_grpc
    from users_client.client import new_request_id

    stub = pb_grpc.CommandServiceStub(_channel(shared, params["address"], params.get("own_connection", False)))
    # With a request id, as users_client sends on every command, made the way it makes them.
    return lambda: stub.AddUser(pb.AddUserRequest(name=_name(), request_id=new_request_id()), timeout=30).position


def _add_then_get(params: dict[str, Any], shared: dict[str, Any]) -> Operation:
    """AddUser, then (every `probe_every`-th time) GetUser with min_position: the read-your-writes wait."""
    from users.v1 import command_service_pb2 as cpb
    from users.v1 import command_service_pb2_grpc as cgrpc
    from users.v1 import query_service_pb2 as qpb
    from users.v1 import query_service_pb2_grpc as qgrpc

    commands = cgrpc.CommandServiceStub(_channel(shared, params["address"]))
    queries = qgrpc.QueryServiceStub(_channel(shared, params["query_address"]))
    every = int(params.get("probe_every", 1))
    counter = itertools.count()

    def operation() -> tuple[int, float, float | None, float]:
        sent = time.perf_counter()
        reply = commands.AddUser(cpb.AddUserRequest(name=_name()), timeout=30)
        took = time.perf_counter() - sent
        answered = time.time()
        seen: float | None = None
        if next(counter) % every == 0:
            queries.GetUser(qpb.GetUserRequest(id=reply.user.id, min_position=reply.position), timeout=30)
            seen = time.time() - answered
        return reply.position, answered, seen, took

    return operation


def _edit_user(params: dict[str, Any], shared: dict[str, Any]) -> Operation:
    """EditUser (any version) of each group's users in turn, the groups interleaved; records (group, seconds)."""
    from users.v1 import command_service_pb2 as pb
    from users.v1 import command_service_pb2_grpc as pb_grpc

    stub = pb_grpc.CommandServiceStub(_channel(shared, params["address"]))
    groups: list[tuple[str, list[str]]] = list(params["groups"].items())
    turns = itertools.count(random.randrange(1_000_000))

    def operation() -> tuple[str, float]:
        turn = next(turns)
        group, ids = groups[turn % len(groups)]
        started = time.perf_counter()
        stub.EditUser(pb.EditUserRequest(id=ids[turn // len(groups) % len(ids)], name=_name()), timeout=30)
        return group, time.perf_counter() - started

    return operation


def _get_user(params: dict[str, Any], shared: dict[str, Any]) -> Operation:
    from users.v1 import query_service_pb2 as pb
    from users.v1 import query_service_pb2_grpc as pb_grpc

    stub = pb_grpc.QueryServiceStub(_channel(shared, params["address"], params.get("own_connection", False)))
    ids: list[str] = params["ids"]
    return lambda: stub.GetUser(pb.GetUserRequest(id=random.choice(ids)), timeout=30) and None


def _list_users(params: dict[str, Any], shared: dict[str, Any]) -> Operation:
    from users.v1 import query_service_pb2 as pb
    from users.v1 import query_service_pb2_grpc as pb_grpc

    stub = pb_grpc.QueryServiceStub(_channel(shared, params["address"]))
    request = pb.ListUsersRequest(page_size=params.get("page_size", 50), page_token=params.get("page_token", ""))
    return lambda: stub.ListUsers(request, timeout=30) and None


def _raw_insert(params: dict[str, Any], shared: dict[str, Any]) -> Operation:
    import psycopg

    from bench import sql

    conn = psycopg.connect(params["dsn"], autocommit=True)
    shared.setdefault("closers", []).append(conn.close)
    return lambda: sql.raw_insert(conn, str(uuid.uuid4()), _name())


def _store_append(params: dict[str, Any], shared: dict[str, Any]) -> Operation:
    """The event store's append path driven directly: one group-commit Appender per process."""
    from command_service import domain

    if "appender" not in shared:
        from command_service.appender import Appender
        from eventkit.config import Database
        from eventkit.startup import migrating_connector

        database = Database(params["dsn"], params.get("schema", "event_store"), 1, migration_dsn=params["dsn"])
        appender = Appender(migrating_connector(database, "event_store"), params.get("batch_max", 256))
        appender.start()
        shared["appender"] = appender
        shared.setdefault("closers", []).append(appender.stop)
    appender = shared["appender"]
    return lambda: appender.submit(domain.AddUser(name=_name())).result(timeout=60).position


def _peer_save(params: dict[str, Any], shared: dict[str, Any]) -> Operation:
    from bench import peer_app

    if "peer" not in shared:
        shared["peer"] = peer_app.application(params["env"])
        shared.setdefault("closers", []).append(shared["peer"].close)
    app = shared["peer"]
    return lambda: app.save(peer_app.User(name=_name()))[-1].notification.id


_FACTORIES: dict[str, Callable[[dict[str, Any], dict[str, Any]], Operation]] = {
    "add_user": _add_user,
    "add_then_get": _add_then_get,
    "edit_user": _edit_user,
    "get_user": _get_user,
    "list_users": _list_users,
    "raw_insert": _raw_insert,
    "store_append": _store_append,
    "peer_save": _peer_save,
}


def make(workload: str, params: dict[str, Any], shared: dict[str, Any]) -> Operation:
    """Returns one thread's operation for `workload`; `shared` holds what the process's threads share."""
    return _FACTORIES[workload](params, shared)


def close(shared: dict[str, Any]) -> None:
    """Releases what the operations opened (channels, connections, appenders), newest first."""
    for closer in reversed(shared.get("closers", [])):
        try:
            closer()
        except Exception:
            pass
