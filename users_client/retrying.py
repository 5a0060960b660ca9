"""Calls a unary RPC within one overall deadline, retrying while the service is UNAVAILABLE."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc

from eventkit.backoff import Backoff
from users_client import errors

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry UNAVAILABLE: `attempts` in all, backoff doubling up to `max_backoff`."""

    attempts: int = 4
    initial_backoff: float = 0.2
    max_backoff: float = 2.0

    def backoff(self) -> Backoff:
        """Returns a fresh schedule of waits (no jitter: one client's retries need no spreading)."""
        return Backoff(self.initial_backoff, self.max_backoff, jitter=0.0)


@dataclass(frozen=True)
class Target:
    """Which service a call goes to, for error messages."""

    service: str
    address: str


def call(
    rpc: Callable[..., T],
    request: Any,
    *,
    target: Target,
    timeout: float,
    policy: RetryPolicy = RetryPolicy(),
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """Returns `rpc(request)`, retrying UNAVAILABLE with backoff; raises a UsersError otherwise.

    The same request object is sent on every attempt. That is what makes a retried command safe:
    it carries the same request_id, so a command that was applied before the connection broke is
    answered from the store instead of being applied twice. The deadline covers all attempts, so a
    caller's timeout means what it says.
    """
    deadline = clock() + timeout
    backoff = policy.backoff()
    attempt = 1
    while True:
        remaining = deadline - clock()
        if remaining <= 0:
            raise errors.DeadlineExceeded(
                f"no answer within {timeout:g}s",
                code=grpc.StatusCode.DEADLINE_EXCEEDED,
                service=target.service,
                address=target.address,
            )
        try:
            return rpc(request, timeout=remaining)
        except grpc.RpcError as error:
            failure = errors.from_rpc_error(error, target.service, target.address)
        retryable = isinstance(failure, errors.Unavailable) and attempt < policy.attempts
        wait = backoff.next()
        if not retryable or deadline - clock() <= wait:
            raise failure
        sleep(wait)
        attempt += 1
