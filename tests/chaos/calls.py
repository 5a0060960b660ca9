"""One gRPC call retried until it gets a definite answer: what a careful client does with a request id."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import grpc

from eventkit.backoff import Backoff

# No definite outcome: the command may or may not have been stored, so it is sent again with the
# same request id. CANCELLED, UNKNOWN and INTERNAL are counted apart: a correct server never sends
# them, and the report shows how often it did.
INDEFINITE = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.INTERNAL,
    }
)
ATTEMPT_TIMEOUT = 5.0
# Between attempts, so a restarting service is not hammered; the one retry schedule (eventkit.backoff).
FIRST_BACKOFF, MAX_BACKOFF = 0.05, 0.4


class Unanswered(Exception):
    """No definite answer before the give-up time (the run is over and the system stayed unavailable)."""


def until_answered(
    call: Callable[[str, float], Any],
    addresses: list[str],
    pick: Callable[[list[str]], str],
    retries: Counter[str],
    lock: threading.Lock,
    give_up: Callable[[], bool],
) -> tuple[Any, grpc.StatusCode | None]:
    """Returns (response, None) or (None, definite error code); retries indefinite answers on any replica."""
    backoff = Backoff(FIRST_BACKOFF, MAX_BACKOFF)
    while True:
        address = pick(addresses)
        try:
            return call(address, ATTEMPT_TIMEOUT), None
        except grpc.RpcError as error:
            code = error.code()
            if code not in INDEFINITE:
                return None, code
            with lock:
                retries[code.name] += 1
        if give_up():
            raise Unanswered(address)
        time.sleep(backoff.next())
