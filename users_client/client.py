"""A thin typed client for users.v1: deadlines, safe retries of UNAVAILABLE, and read-your-writes."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TypeVar

import grpc

from eventkit.ids import new_id
from users.v1 import command_service_pb2 as cmd
from users.v1 import command_service_pb2_grpc as cmd_grpc
from users.v1 import query_service_pb2 as qry
from users.v1 import query_service_pb2_grpc as qry_grpc
from users_client import errors, models, retrying
from users_client.retrying import RetryPolicy, Target
from users_client.transport import Security, open_channel, security_from_env

T = TypeVar("T")

DEFAULT_COMMAND_ADDR = "localhost:50051"
DEFAULT_QUERY_ADDR = "localhost:50052"
DEFAULT_TIMEOUT = 10.0
# A stream that was flowing is resumed this many times (backoff capped at max_backoff, about a
# minute in all): long enough for a query service to restart, short enough to notice a real outage.
_RESUME_ATTEMPTS = 30

# Reconnect quickly after a service restart, so that a retry a fraction of a second later finds it
# (gRPC's default first reconnect backoff is a whole second).
_CHANNEL_OPTIONS = [("grpc.initial_reconnect_backoff_ms", 100), ("grpc.max_reconnect_backoff_ms", 2000)]


def addresses_from_env(env: Mapping[str, str] = os.environ) -> tuple[str, str]:
    """Returns (command address, query address) from USERS_COMMAND_ADDR / USERS_QUERY_ADDR or the defaults."""
    command = env.get("USERS_COMMAND_ADDR", "").strip() or DEFAULT_COMMAND_ADDR
    query = env.get("USERS_QUERY_ADDR", "").strip() or DEFAULT_QUERY_ADDR
    return command, query


def new_request_id() -> str:
    """Returns a fresh request id (a UUID), for callers that want to retry a command themselves.

    Time-ordered (version 7), like user ids: each new id lands beside the last one in the event
    store's request-id index, where a random one would touch a random page of it (BENCHMARKS.md:
    once that index outgrows memory, random ids cost page reads and full-page images in the WAL).
    """
    return new_id()


class UsersClient:
    """Talks to the command service and the query service; every method raises a users_client.errors.UsersError."""

    def __init__(
        self,
        command_address: str | None = None,
        query_address: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy = RetryPolicy(),
        security: Security | None = None,
    ) -> None:
        """`security` (TLS files, bearer token) defaults to what USERS_TLS* and USERS_TOKEN* say."""
        env_command, env_query = addresses_from_env()
        self.command_address = command_address or env_command
        self.query_address = query_address or env_query
        self.timeout = timeout
        self.retry = retry
        # Channels connect lazily, on the first call.
        security = security if security is not None else security_from_env()
        self._command_channel = open_channel(self.command_address, security, _CHANNEL_OPTIONS)
        self._query_channel = open_channel(self.query_address, security, _CHANNEL_OPTIONS)
        self._commands = cmd_grpc.CommandServiceStub(self._command_channel)
        self._queries = qry_grpc.QueryServiceStub(self._query_channel)

    def __enter__(self) -> UsersClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Closes both channels."""
        self._command_channel.close()
        self._query_channel.close()

    def _command(self, rpc: Callable[..., T], request: object, timeout: float | None) -> T:
        target = Target("command service", self.command_address)
        return retrying.call(rpc, request, target=target, timeout=timeout or self.timeout, policy=self.retry)

    def _query(self, rpc: Callable[..., T], request: object, timeout: float | None) -> T:
        target = Target("query service", self.query_address)
        return retrying.call(rpc, request, target=target, timeout=timeout or self.timeout, policy=self.retry)

    def add_user(self, name: str, *, request_id: str | None = None, timeout: float | None = None) -> models.Written:
        """Adds a user; pass the result's `position` to get_user(min_position=...) to read it back at once."""
        request = cmd.AddUserRequest(name=name, request_id=request_id or new_request_id())
        response = self._command(self._commands.AddUser, request, timeout)
        return models.Written(models.User.from_proto(response.user), response.position)

    def edit_user(
        self,
        user_id: str,
        name: str,
        *,
        expected_version: int = 0,
        request_id: str | None = None,
        timeout: float | None = None,
    ) -> models.Written:
        """Renames a user; a non-zero `expected_version` that is not current raises VersionConflict."""
        request = cmd.EditUserRequest(
            id=user_id, name=name, expected_version=expected_version, request_id=request_id or new_request_id()
        )
        response = self._command(self._commands.EditUser, request, timeout)
        return models.Written(models.User.from_proto(response.user), response.position)

    def delete_user(
        self, user_id: str, *, expected_version: int = 0, request_id: str | None = None, timeout: float | None = None
    ) -> models.Deleted:
        """Deletes a user; a non-zero `expected_version` that is not current raises VersionConflict."""
        request = cmd.DeleteUserRequest(
            id=user_id, expected_version=expected_version, request_id=request_id or new_request_id()
        )
        response = self._command(self._commands.DeleteUser, request, timeout)
        return models.Deleted(response.id, response.version, response.position)

    def forget_user(
        self, user_id: str, *, request_id: str | None = None, timeout: float | None = None
    ) -> models.Deleted:
        """Forgets a user: its names become unreadable everywhere; forgetting it again changes nothing."""
        request = cmd.ForgetUserRequest(id=user_id, request_id=request_id or new_request_id())
        response = self._command(self._commands.ForgetUser, request, timeout)
        return models.Deleted(response.id, response.version, response.position)

    def get_user(self, user_id: str, *, min_position: int = 0, timeout: float | None = None) -> models.User:
        """Returns one user; with `min_position`, waits (within the deadline) until the read model has that write."""
        request = qry.GetUserRequest(id=user_id, min_position=min_position)
        return models.User.from_proto(self._query(self._queries.GetUser, request, timeout).user)

    def list_users(
        self,
        *,
        name_prefix: str = "",
        page_size: int = 0,
        page_token: str = "",
        min_position: int = 0,
        timeout: float | None = None,
    ) -> models.Page:
        """Returns one page of users ordered by name then id."""
        request = qry.ListUsersRequest(
            name_prefix=name_prefix, page_size=page_size, page_token=page_token, min_position=min_position
        )
        response = self._query(self._queries.ListUsers, request, timeout)
        return models.Page([models.User.from_proto(u) for u in response.users], response.next_page_token)

    def iter_users(
        self, *, name_prefix: str = "", page_size: int = 0, page_token: str = "", min_position: int = 0
    ) -> Iterator[models.User]:
        """Yields every user from the page of `page_token` ('' for the first) on, page after page (each with its own deadline)."""
        token = page_token
        while True:
            page = self.list_users(
                name_prefix=name_prefix, page_size=page_size, page_token=token, min_position=min_position
            )
            yield from page.users
            token = page.next_page_token
            if not token:
                return

    def stream_events(
        self, *, after: int | None = None, types: Iterable[str] = (), user_id: str = "", reconnect: bool = True
    ) -> Iterator[models.StreamItem]:
        """Yields events (and CaughtUp / Heartbeat markers) until the caller stops iterating.

        With `reconnect`, a stream cut by UNAVAILABLE (a query service restarting) resumes after
        the last position it delivered, so the caller sees no gap and no duplicate; a live-only
        stream (no `after`) that has delivered nothing yet resumes live. A stream that never
        started fails as fast as any call; one that was flowing waits up to about a minute.
        """
        target = Target("query service", self.query_address)
        numbers = [models.event_type_number(name) for name in types]
        position = after
        failures = 0
        flowed = False
        backoff = self.retry.backoff()
        while True:
            request = qry.StreamEventsRequest(event_types=numbers, user_id=user_id)
            if position is not None:
                request.after_position = position
            call = self._queries.StreamEvents(request)
            try:
                for message in call:
                    failures, flowed = 0, True
                    backoff.reset()
                    item = models.stream_item(message)
                    if item is None:
                        continue
                    position = item.position
                    yield item
                return
            except grpc.RpcError as error:
                failure = errors.from_rpc_error(error, target.service, target.address)
                failures += 1
                limit = _RESUME_ATTEMPTS if flowed else self.retry.attempts
                if not (reconnect and isinstance(failure, errors.Unavailable) and failures < limit):
                    raise failure from None
            finally:
                call.cancel()
            time.sleep(backoff.next())
