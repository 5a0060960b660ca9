"""Subscribers to StreamEvents that resume after their last position on whichever query service answers."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any, NamedTuple

import grpc

from users.v1 import query_service_pb2 as qry
from users.v1 import query_service_pb2_grpc as qry_grpc

RESUME_BACKOFF = 0.2  # between attempts, so a restarting service is not hammered


class Seen(NamedTuple):
    """One event as a subscriber received it."""

    position: int
    type: int
    user_id: str
    version: int


class Subscriber(threading.Thread):
    """Follows the stream from position 0 (optionally filtered by type), resuming after each cut."""

    def __init__(self, number: int, queries: list[str], types: tuple[int, ...] = ()) -> None:
        super().__init__(name=f"subscriber-{number}", daemon=True)
        self.types = types
        self.stubs = [qry_grpc.QueryServiceStub(grpc.insecure_channel(a)) for a in queries]
        self.seen: list[Seen] = []
        self.reached = 0  # the furthest position the stream vouched for (event, caught-up or heartbeat)
        self.cuts: Counter[str] = Counter()
        self._halt = threading.Event()
        self._call: Any = None
        self._lock = threading.Lock()

    def run(self) -> None:
        turn = 0
        while not self._halt.is_set():
            stub = self.stubs[turn % len(self.stubs)]
            request = qry.StreamEventsRequest(after_position=self.seen[-1].position if self.seen else 0)
            request.event_types.extend(self.types)
            with self._lock:
                if self._halt.is_set():
                    return
                self._call = stub.StreamEvents(request)
            try:
                for message in self._call:
                    self._receive(message)
            except grpc.RpcError as error:
                if self._halt.is_set():
                    return
                self.cuts[error.code().name] += 1
            turn += 1  # resume on the other replica: either one must continue the stream exactly
            self._halt.wait(RESUME_BACKOFF)

    def _receive(self, message: Any) -> None:
        kind = message.WhichOneof("kind")
        if kind == "event":
            event = message.event
            self.seen.append(Seen(event.position, event.type, event.user_id, event.version))
            self.reached = max(self.reached, event.position)
        elif kind in ("caught_up", "heartbeat"):
            self.reached = max(self.reached, getattr(message, kind).position)

    def finish(self) -> None:
        """Stops following and waits for the thread."""
        with self._lock:
            self._halt.set()
            if self._call is not None:
                self._call.cancel()
        self.join(30)
