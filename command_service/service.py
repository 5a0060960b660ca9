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


class CommandService(pb_grpc.CommandServiceServicer):
    """Validates each command, appends its event through the group-commit appender, answers."""

    def __init__(self, appender: Appender) -> None:
        self._appender = appender

    def _execute(self, command: domain.Command, context: grpc.ServicerContext) -> Outcome:
        remaining = context.time_remaining()  # None, or a huge number, without a deadline
        wait = DEFAULT_WAIT_SECONDS if remaining is None else max(min(remaining, DEFAULT_WAIT_SECONDS), 0.0)
        try:
            return self._appender.submit(command, correlation.get()).result(timeout=wait)
        except FutureTimeout:
            raise DeadlineExceeded(
                "the command did not commit before the deadline; retry with the same request_id"
            ) from None

    @grpc_errors
    def AddUser(self, request: pb.AddUserRequest, context: grpc.ServicerContext) -> Any:
        command = domain.AddUser(
            name=validation.clean_name(request.name),
            request_id=validation.parse_request_id(request.request_id),
        )
        outcome = self._execute(command, context)
        return pb.AddUserResponse(user=user_message(outcome.state), position=outcome.position)

    @grpc_errors
    def EditUser(self, request: pb.EditUserRequest, context: grpc.ServicerContext) -> Any:
        command = domain.EditUser(
            user_id=validation.parse_id(request.id),
            name=validation.clean_name(request.name),
            expected_version=validation.check_expected_version(request.expected_version),
            request_id=validation.parse_request_id(request.request_id),
        )
        outcome = self._execute(command, context)
        return pb.EditUserResponse(user=user_message(outcome.state), position=outcome.position)

    @grpc_errors
    def DeleteUser(self, request: pb.DeleteUserRequest, context: grpc.ServicerContext) -> Any:
        command = domain.DeleteUser(
            user_id=validation.parse_id(request.id),
            expected_version=validation.check_expected_version(request.expected_version),
            request_id=validation.parse_request_id(request.request_id),
        )
        outcome = self._execute(command, context)
        return pb.DeleteUserResponse(id=outcome.state.id, version=outcome.state.version, position=outcome.position)

    @grpc_errors
    def ForgetUser(self, request: pb.ForgetUserRequest, context: grpc.ServicerContext) -> Any:
        command = domain.ForgetUser(
            user_id=validation.parse_id(request.id),
            request_id=validation.parse_request_id(request.request_id),
        )
        outcome = self._execute(command, context)
        return pb.ForgetUserResponse(id=outcome.state.id, version=outcome.state.version, position=outcome.position)
