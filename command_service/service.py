"""The CommandService gRPC edge: turns requests into commands and outcomes into responses."""

from __future__ import annotations

from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

import grpc

from command_service import domain, validation
from command_service.appender import Appender
from command_service.outcomes import Outcome
from eventkit import correlation
from eventkit.errors import DeadlineExceeded
from eventkit.messages import user_message
from eventkit.status import grpc_errors
from users.v1 import command_service_pb2 as pb
from users.v1 import command_service_pb2_grpc as pb_grpc

# How long a call without a deadline waits for its batch to commit.
DEFAULT_WAIT_SECONDS = 30.0


def wait_seconds(remaining: float | None) -> float:
    """Returns how long a call waits for its batch: its deadline's remaining time, at most DEFAULT_WAIT_SECONDS."""
    # None, or a huge number, without a deadline.
    return DEFAULT_WAIT_SECONDS if remaining is None else max(min(remaining, DEFAULT_WAIT_SECONDS), 0.0)


def too_late() -> DeadlineExceeded:
    """The answer to a call whose batch did not commit before its deadline."""
    return DeadlineExceeded("the command did not commit before the deadline; retry with the same request_id")


def add_user(request: pb.AddUserRequest) -> domain.AddUser:
    """Returns the command an AddUser request asks for, or raises InvalidArgument."""
    return domain.AddUser(
        name=validation.clean_name(request.name), request_id=validation.parse_request_id(request.request_id)
    )


def edit_user(request: pb.EditUserRequest) -> domain.EditUser:
    """Returns the command an EditUser request asks for, or raises InvalidArgument."""
    return domain.EditUser(
        user_id=validation.parse_id(request.id),
        name=validation.clean_name(request.name),
        expected_version=validation.check_expected_version(request.expected_version),
        request_id=validation.parse_request_id(request.request_id),
    )


def delete_user(request: pb.DeleteUserRequest) -> domain.DeleteUser:
    """Returns the command a DeleteUser request asks for, or raises InvalidArgument."""
    return domain.DeleteUser(
        user_id=validation.parse_id(request.id),
        expected_version=validation.check_expected_version(request.expected_version),
        request_id=validation.parse_request_id(request.request_id),
    )


def forget_user(request: pb.ForgetUserRequest) -> domain.ForgetUser:
    """Returns the command a ForgetUser request asks for, or raises InvalidArgument."""
    return domain.ForgetUser(
        user_id=validation.parse_id(request.id), request_id=validation.parse_request_id(request.request_id)
    )


def added(outcome: Outcome) -> pb.AddUserResponse:
    """Returns AddUser's response."""
    return pb.AddUserResponse(user=user_message(outcome.state), position=outcome.position)


def edited(outcome: Outcome) -> pb.EditUserResponse:
    """Returns EditUser's response."""
    return pb.EditUserResponse(user=user_message(outcome.state), position=outcome.position)


def deleted(outcome: Outcome) -> pb.DeleteUserResponse:
    """Returns DeleteUser's response."""
    return pb.DeleteUserResponse(id=outcome.state.id, version=outcome.state.version, position=outcome.position)


def forgotten(outcome: Outcome) -> pb.ForgetUserResponse:
    """Returns ForgetUser's response."""
    return pb.ForgetUserResponse(id=outcome.state.id, version=outcome.state.version, position=outcome.position)


class CommandService(pb_grpc.CommandServiceServicer):
    """Validates each command, appends its event through the group-commit appender, answers (thread-pool server)."""

    def __init__(self, appender: Appender) -> None:
        self._appender = appender

    def _execute(self, command: domain.Command, context: grpc.ServicerContext) -> Outcome:
        try:
            future = self._appender.submit(command, correlation.get())
            return future.result(timeout=wait_seconds(context.time_remaining()))
        except FutureTimeout:
            raise too_late() from None

    @grpc_errors
    def AddUser(self, request: pb.AddUserRequest, context: grpc.ServicerContext) -> Any:
        return added(self._execute(add_user(request), context))

    @grpc_errors
    def EditUser(self, request: pb.EditUserRequest, context: grpc.ServicerContext) -> Any:
        return edited(self._execute(edit_user(request), context))

    @grpc_errors
    def DeleteUser(self, request: pb.DeleteUserRequest, context: grpc.ServicerContext) -> Any:
        return deleted(self._execute(delete_user(request), context))

    @grpc_errors
    def ForgetUser(self, request: pb.ForgetUserRequest, context: grpc.ServicerContext) -> Any:
        return forgotten(self._execute(forget_user(request), context))
