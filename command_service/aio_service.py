"""The CommandService gRPC edge on the asyncio stack: the same commands and answers, awaited on the event loop."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc

from command_service import domain
from command_service.appender import Appender
from command_service.outcomes import Outcome
from command_service.service import (
    add_user,
    added,
    delete_user,
    deleted,
    edit_user,
    edited,
    forget_user,
    forgotten,
    too_late,
    wait_seconds,
)
from eventkit import correlation
from eventkit.status import grpc_errors
from users.v1 import command_service_pb2 as pb
from users.v1 import command_service_pb2_grpc as pb_grpc


class AsyncCommandService(pb_grpc.CommandServiceServicer):
    """Validates each command, hands it to the group-commit appender and awaits its answer (grpc.aio server).

    Why: a call costs no handler thread, only a task on the loop; the appender's thread answers it
    through the loop (asyncio.wrap_future), so no pool of handler threads contends for the GIL.
    """

    def __init__(self, appender: Appender) -> None:
        self._appender = appender

    async def _execute(self, command: domain.Command, context: grpc.aio.ServicerContext) -> Outcome:
        future = asyncio.wrap_future(self._appender.submit(command, correlation.get()))
        try:
            # A call that gives up leaves its command queued or committing: a retry with its request id is safe.
            return await asyncio.wait_for(future, wait_seconds(context.time_remaining()))
        except TimeoutError:
            raise too_late() from None

    @grpc_errors
    async def AddUser(self, request: pb.AddUserRequest, context: grpc.aio.ServicerContext) -> Any:
        return added(await self._execute(add_user(request), context))

    @grpc_errors
    async def EditUser(self, request: pb.EditUserRequest, context: grpc.aio.ServicerContext) -> Any:
        return edited(await self._execute(edit_user(request), context))

    @grpc_errors
    async def DeleteUser(self, request: pb.DeleteUserRequest, context: grpc.aio.ServicerContext) -> Any:
        return deleted(await self._execute(delete_user(request), context))

    @grpc_errors
    async def ForgetUser(self, request: pb.ForgetUserRequest, context: grpc.aio.ServicerContext) -> Any:
        return forgotten(await self._execute(forget_user(request), context))
