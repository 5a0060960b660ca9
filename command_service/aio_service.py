"""The CommandService gRPC edge on the asyncio stack: the same commands and answers, awaited on the event loop."""

from __future__ import annotations

import asyncio
from concurrent.futures import Future
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


class LoopWaiters:
    """Hands the appender's answers to the event loop once per batch, not once per command.

    The appender's thread resolves plain futures and then calls `answered` once for the batch; one
    wake-up of the loop then completes every waiting call of that batch.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._waiting: dict[Future[Outcome], asyncio.Future[Outcome]] = {}

    def wait(self, future: Future[Outcome]) -> asyncio.Future[Outcome]:
        """(On the loop) returns an awaitable completed with `future`'s answer."""
        waiter: asyncio.Future[Outcome] = self._loop.create_future()
        if future.done():
            _copy(future, waiter)
        else:
            # Registered before the loop can run `_deliver`: answers come back only through the loop.
            self._waiting[future] = waiter
        return waiter

    def forget(self, future: Future[Outcome]) -> None:
        """(On the loop) stops waiting for `future` (its call ended: answered, timed out or cancelled)."""
        self._waiting.pop(future, None)

    def answered(self, futures: list[Future[Outcome]]) -> None:
        """(From any thread) completes the calls waiting for these answered futures, in one loop wake-up."""
        try:
            self._loop.call_soon_threadsafe(self._deliver, futures)
        except RuntimeError:  # the loop has closed: nobody waits any more
            pass

    def _deliver(self, futures: list[Future[Outcome]]) -> None:
        for future in futures:
            waiter = self._waiting.pop(future, None)
            if waiter is not None:
                _copy(future, waiter)


def _copy(future: Future[Outcome], waiter: asyncio.Future[Outcome]) -> None:
    if waiter.done():
        return
    error = future.exception()
    if error is not None:
        waiter.set_exception(error)
    else:
        waiter.set_result(future.result())


class AsyncCommandService(pb_grpc.CommandServiceServicer):
    """Validates each command, hands it to the group-commit appender and awaits its answer (grpc.aio server).

    Why: a call costs no handler thread, only a task on the loop, and a whole batch's answers reach
    the loop in one wake-up (LoopWaiters), so no pool of handler threads contends for the GIL.
    """

    def __init__(self, appender: Appender, waiters: LoopWaiters) -> None:
        self._appender = appender
        self._waiters = waiters

    async def _execute(self, command: domain.Command, context: grpc.aio.ServicerContext) -> Outcome:
        future = self._appender.submit(command, correlation.get())
        try:
            # A call that gives up leaves its command queued or committing: a retry with its request id is safe.
            return await asyncio.wait_for(self._waiters.wait(future), wait_seconds(context.time_remaining()))
        except TimeoutError:
            raise too_late() from None
        finally:
            self._waiters.forget(future)

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
