"""LoopWaiters: the appender's answers reach the event loop once per batch, whichever comes first."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future
from typing import Any

import pytest

from command_service.aio_service import LoopWaiters
from eventkit.errors import NotFound


def test_a_batch_answered_from_another_thread_completes_every_waiting_call() -> None:
    async def scenario() -> list[Any]:
        waiters = LoopWaiters(asyncio.get_running_loop())
        futures: list[Future[Any]] = [Future() for _ in range(3)]
        waiting = [waiters.wait(future) for future in futures]

        def appender() -> None:
            futures[0].set_result("first")
            futures[1].set_exception(NotFound("gone"))
            futures[2].set_result("third")
            waiters.answered(futures)

        threading.Thread(target=appender).start()
        return await asyncio.gather(*waiting, return_exceptions=True)

    first, second, third = asyncio.run(asyncio.wait_for(scenario(), 10))
    assert (first, third) == ("first", "third") and isinstance(second, NotFound)


def test_an_answer_that_came_before_the_wait_is_not_missed() -> None:
    async def scenario() -> Any:
        waiters = LoopWaiters(asyncio.get_running_loop())
        future: Future[Any] = Future()
        future.set_result("early")
        waiters.answered([future])  # delivered to nobody: the call is not waiting yet
        return await waiters.wait(future)

    assert asyncio.run(asyncio.wait_for(scenario(), 10)) == "early"


def test_a_call_that_stopped_waiting_is_forgotten() -> None:
    async def scenario() -> None:
        waiters = LoopWaiters(asyncio.get_running_loop())
        future: Future[Any] = Future()
        waiter = waiters.wait(future)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(waiter, 0.01)
        waiters.forget(future)
        future.set_result("late")
        waiters.answered([future])
        await asyncio.sleep(0)  # lets the delivery run: it finds nobody, and raises nothing

    asyncio.run(scenario())
