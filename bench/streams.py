"""StreamEvents clients that run inside a client process: one fast stream, or many subscribers at once."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import grpc

from bench.load import Window
from bench.stats import Histogram

# Up to this many streams share one HTTP/2 connection; more connections spread the server's work.
STREAMS_PER_CHANNEL = 50
_OWN_CONNECTION = [("grpc.use_local_subchannel_pool", 1)]


def single_stream(address: str, window: Window) -> dict[str, Any]:
    """Reads one StreamEvents stream as fast as the server sends; returns the messages in the window."""
    from users.v1 import query_service_pb2 as pb
    from users.v1 import query_service_pb2_grpc as pb_grpc

    messages = 0
    with grpc.insecure_channel(address) as channel:
        stub = pb_grpc.QueryServiceStub(channel)
        time.sleep(max(0.0, window.start_at - time.time()))  # the common start, shared with the profiler
        call = stub.StreamEvents(pb.StreamEventsRequest(after_position=2**40))
        try:
            for _ in call:
                now = time.time()
                if now >= window.end:
                    break
                if now >= window.begin:
                    messages += 1
        finally:
            call.cancel()
    return {"messages": messages, "seconds": window.duration}


def subscribe(
    address: str, streams: int, window: Window, after_position: int | None, record: bool, batch: int = 1
) -> dict[str, Any]:
    """Holds `streams` live StreamEvents subscriptions through the window; returns what they received.

    With `batch` > 1 the streams ask for up to that many events per message (max_batch_size);
    "messages" then counts the events they carried, and "frames" the messages.

    Delivery latency is the arrival time less the event's record time in the store (same machine
    clock). With `record`, the first stream also returns (position, arrival time) pairs, so that
    propagation can be measured from each AddUser reply.
    """
    return asyncio.run(_subscribe(address, streams, window, after_position, record, batch))


async def _subscribe(
    address: str, streams: int, window: Window, after_position: int | None, record: bool, batch: int
) -> dict[str, Any]:
    from users.v1 import query_service_pb2 as pb
    from users.v1 import query_service_pb2_grpc as pb_grpc

    channels = [
        grpc.aio.insecure_channel(address, options=_OWN_CONNECTION)
        for _ in range(max(1, -(-streams // STREAMS_PER_CHANNEL)))
    ]
    out: dict[str, Any] = {
        "hist": Histogram(),
        "messages": 0,
        "frames": 0,
        "ready_in_time": 0,
        "ready": 0,
        "errors": {},
        "first_error": "",
        "arrivals": [],
    }
    calls: list[Any] = []
    # None: live only (the server sends CaughtUp at once); a position: replay after it first.
    request = pb.StreamEventsRequest(max_batch_size=batch)
    if after_position is not None:
        request.after_position = after_position

    # Latencies are kept as plain floats and binned after the window: the histogram's bucketing
    # cost more than the rest of a subscriber's work per event, on the cores the server shares.
    latencies: list[float] = []

    async def follow(index: int) -> None:
        stub = pb_grpc.QueryServiceStub(channels[index % len(channels)])
        call = stub.StreamEvents(request)
        calls.append(call)
        ready = False
        try:
            while (message := await call.read()) is not grpc.aio.EOF:
                now = time.time()
                if not ready:
                    ready = True
                    out["ready"] += 1
                    out["ready_in_time"] += now < window.begin
                if message.HasField("event"):
                    events = [message.event]
                elif message.HasField("batch"):
                    events = message.batch.events
                else:
                    continue
                if record and index == 0:
                    # Every arrival, even before the window: a reply counted in the window may
                    # belong to an event that reached the subscriber just before it opened.
                    out["arrivals"] += [(event.position, now) for event in events]
                if not window.begin <= now < window.end:
                    continue
                latencies.extend([now - (s.seconds + s.nanos * 1e-9) for s in (e.record_time for e in events)])
                out["messages"] += len(events)
                out["frames"] += 1
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.CANCELLED:
                out["errors"][exc.code().name] = out["errors"].get(exc.code().name, 0) + 1
                out["first_error"] = out["first_error"] or f"{exc.code().name}: {exc.details()}"
        except asyncio.CancelledError:
            pass

    await asyncio.sleep(max(0.0, window.start_at - time.time()))
    tasks = [asyncio.create_task(follow(i)) for i in range(streams)]
    await asyncio.sleep(max(0.0, window.end - time.time()))
    for call in calls:
        call.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for channel in channels:
        await channel.close()
    out["hist"].extend(latencies)
    return out
