"""200 concurrent StreamEvents subscribers while 5,000 events are written through the real services."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field

import grpc

from tests.support.system import StoredEvent, start_system, store_events
from users.v1 import command_service_pb2 as cpb
from users.v1 import command_service_pb2_grpc, query_service_pb2_grpc
from users.v1 import query_service_pb2 as pb

ADDED, EDITED, DELETED = 1, 2, 3
EARLY_EVENTS = 500  # written before the subscribers start, so some resume from old positions
LATE_EVENTS = 4500  # written while they follow
WRITERS = 16
DEADLINE_SECONDS = 300


@dataclass
class Plan:
    """What one subscriber asks for and how it behaves."""

    after: int | None
    types: tuple[int, ...] = ()
    user_id: str = ""
    slow: bool = False  # reads one message, then stalls until every fast subscriber has finished
    cancel_after: int = 0  # cancels after this many events (0: never)

    def selects(self, event: StoredEvent) -> bool:
        return (not self.types or event.type in self.types) and (not self.user_id or event.user_id == self.user_id)


@dataclass
class Outcome:
    """What one subscriber saw: where it started, the events, and whether it cancelled."""

    start: int | None
    events: list[StoredEvent] = field(default_factory=list)
    cancelled: bool = False


async def follow(stub, plan: Plan, target: asyncio.Future, fast_done: asyncio.Event, ready: asyncio.Event) -> Outcome:
    """Follows one stream; `ready` is set once it has caught up, stalled or cancelled."""
    request = pb.StreamEventsRequest(event_types=list(plan.types), user_id=plan.user_id)
    if plan.after is not None:
        request.after_position = plan.after
    call = stub.StreamEvents(request, timeout=DEADLINE_SECONDS)
    outcome, covered, stalled = Outcome(plan.after), plan.after or 0, False
    async for message in call:
        kind = message.WhichOneof("kind")
        if kind == "event":
            e = message.event
            outcome.events.append(StoredEvent(e.position, e.type, e.user_id, e.version, e.name))
        elif kind == "caught_up":
            ready.set()
            if outcome.start is None:
                outcome.start = message.caught_up.position  # a live-only subscriber starts here
        covered = max(covered, getattr(message, kind).position)
        if plan.slow and not stalled:
            stalled = True
            ready.set()
            await fast_done.wait()
        if plan.cancel_after and len(outcome.events) >= plan.cancel_after:
            outcome.cancelled = True
            ready.set()
            break
        if target.done() and covered >= target.result():
            break
    call.cancel()
    return outcome


async def write(command, count: int, watched: list[str], rng: random.Random) -> None:
    """Writes `count` events from WRITERS concurrent clients: adds, edits (often of watched users), deletes."""
    per_writer = [count // WRITERS + (i < count % WRITERS) for i in range(WRITERS)]

    async def writer(n: int, seed: int) -> None:
        mine, local = [], random.Random(seed)
        for _ in range(n):
            roll = local.random()
            if not mine or roll < 0.35:
                mine.append((await command.AddUser(cpb.AddUserRequest(name=f"user {local.randrange(10**6)}"))).user.id)
            elif roll < 0.6:
                await command.EditUser(
                    cpb.EditUserRequest(id=local.choice(watched), name=f"watched {local.randrange(10**6)}")
                )
            elif roll < 0.9:
                await command.EditUser(
                    cpb.EditUserRequest(id=local.choice(mine), name=f"edited {local.randrange(10**6)}")
                )
            else:
                await command.DeleteUser(cpb.DeleteUserRequest(id=mine.pop(local.randrange(len(mine)))))

    await asyncio.gather(*(writer(n, rng.randrange(10**9)) for n in per_writer))


def plans(rng: random.Random, watched: list[str], early: int) -> list[Plan]:
    """The 200 subscribers: live and resuming, filtered by type, user or both, slow, and cancelling."""
    old = lambda: rng.choice([0, rng.randrange(1, early)])  # noqa: E731
    live_or_old = lambda i: None if i % 2 else old()  # noqa: E731
    types = [(EDITED,), (DELETED,), (ADDED, DELETED)]
    return (
        [Plan(None) for _ in range(20)]
        + [Plan(old()) for _ in range(10)]
        + [Plan(live_or_old(i), types=types[i % 3]) for i in range(40)]
        + [Plan(live_or_old(i), user_id=rng.choice(watched), types=(EDITED,) if i % 4 == 0 else ()) for i in range(80)]
        + [Plan(live_or_old(i), types=(DELETED,), user_id=rng.choice(watched)) for i in range(20)]  # sparse
        + [Plan(live_or_old(i), slow=True) for i in range(10)]
        + [Plan(live_or_old(i), cancel_after=rng.randrange(20, 800)) for i in range(20)]
    )


async def scenario(system, rng: random.Random) -> tuple[list[Plan], list[Outcome]]:
    command_channel = grpc.aio.insecure_channel(system.command.address)
    query_channel = grpc.aio.insecure_channel(system.query.address)
    command = command_service_pb2_grpc.CommandServiceStub(command_channel)
    query = query_service_pb2_grpc.QueryServiceStub(query_channel)
    watched = [(await command.AddUser(cpb.AddUserRequest(name=f"watched {i}"))).user.id for i in range(80)]
    await write(command, EARLY_EVENTS - len(watched), watched, rng)
    subscribers = plans(rng, watched, EARLY_EVENTS)
    target, fast_done = asyncio.get_running_loop().create_future(), asyncio.Event()
    ready = [asyncio.Event() for _ in subscribers]
    tasks = [asyncio.create_task(follow(query, p, target, fast_done, r)) for p, r in zip(subscribers, ready)]
    # The others join while the late events are written; those that cancel or stall start first, so
    # that each has the events it needs (up to 800 to cancel, over 256 to fall behind its buffer).
    await asyncio.gather(*(r.wait() for r, plan in zip(ready, subscribers) if plan.slow or plan.cancel_after))
    await write(command, LATE_EVENTS, watched, rng)
    target.set_result(store_events(system.event_store)[-1].position)
    fast = [task for task, plan in zip(tasks, subscribers) if not plan.slow]
    await asyncio.gather(*fast)  # the slow ones are still stalled: nobody waits for them
    fast_done.set()
    outcomes = await asyncio.gather(*tasks)
    await command_channel.close()
    await query_channel.close()
    return subscribers, outcomes


def test_200_concurrent_subscribers_each_get_exactly_their_events_in_order_while_5000_are_written(
    services, event_store, read_model
) -> None:
    system = start_system(services, event_store, read_model, STREAM_SUBSCRIBER_BUFFER="256")
    rng = random.Random(200)
    subscribers, outcomes = asyncio.run(asyncio.wait_for(scenario(system, rng), DEADLINE_SECONDS))

    truth = store_events(system.event_store)
    assert len(truth) == EARLY_EVENTS + LATE_EVENTS
    end = truth[-1].position
    for index, (plan, outcome) in enumerate(zip(subscribers, outcomes)):
        assert outcome.start is not None, f"subscriber {index} never caught up"
        expected = [e for e in truth if outcome.start < e.position <= end and plan.selects(e)]
        if outcome.cancelled:
            assert outcome.events == expected[: len(outcome.events)], f"subscriber {index}: {plan}"
        else:
            assert outcome.events == expected, f"subscriber {index}: {plan}"
    assert sum(o.cancelled for o in outcomes) == 20
    assert "fell behind its buffer" in system.query.log_path.read_text()  # the stalled ones caught up from the log
