"""The shutdown gate: refuses calls once closed, waits for admitted ones, and ends them on expiry (asyncio)."""

from __future__ import annotations

import asyncio
import threading

from eventkit.gate import AsyncGate, Gate


def test_a_closed_gate_refuses_new_calls_and_drains_once_the_admitted_ones_leave() -> None:
    gate = Gate()
    assert gate.enter() and gate.enter()
    gate.close()
    assert not gate.enter()
    assert not gate.drain(0.01)  # two calls still in flight
    gate.leave()
    left = threading.Thread(target=gate.leave)
    left.start()
    assert gate.drain(10)
    left.join()


def test_an_open_gate_with_nothing_in_flight_is_drained_at_once() -> None:
    assert Gate().drain(0)


def test_expiring_an_async_gate_cancels_the_calls_in_flight_and_refuses_new_ones() -> None:
    async def scenario() -> tuple[bool, bool, bool, bool]:
        gate = AsyncGate()
        entered = asyncio.Event()

        async def call() -> str:
            assert gate.enter()
            entered.set()
            try:
                await asyncio.Event().wait()  # a read that never ends on its own
                return "finished"
            except asyncio.CancelledError:
                return "cancelled by the gate" if gate.expired else "cancelled"
            finally:
                gate.leave()

        task = asyncio.create_task(call())
        await entered.wait()
        gate.close()
        refused = not gate.enter()
        drained_before = await gate.drain(0.01)
        gate.expire()
        drained_after = await gate.drain(10)
        return refused, drained_before, drained_after, await task == "cancelled by the gate"

    assert asyncio.run(scenario()) == (True, False, True, True)
