"""The client's retry loop: UNAVAILABLE is retried with the same request inside one deadline; nothing else is."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2

from users_client import errors
from users_client.retrying import RetryPolicy, Target, call

TARGET = Target("command service", "localhost:1")


class FakeRpcError(grpc.RpcError):
    """A failed call as grpc raises it: a code, details, and trailing metadata (with an ErrorInfo when given)."""

    def __init__(self, code: grpc.StatusCode, details: str = "", reason: str = "", **metadata: str) -> None:
        super().__init__(details)
        self._code, self._details = code, details
        self._trailers: tuple[tuple[str, bytes], ...] = ()
        if reason:
            detail = any_pb2.Any()
            detail.Pack(error_details_pb2.ErrorInfo(reason=reason, domain="users.v1", metadata=metadata))
            status = status_pb2.Status(code=code.value[0], message=details, details=[detail])
            self._trailers = (("grpc-status-details-bin", status.SerializeToString()),)

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> Any:
        return self._trailers


class Clock:
    """A clock that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class Script:
    """An RPC that fails or answers as scripted, recording each request and timeout it was called with."""

    def __init__(self, *outcomes: Any) -> None:
        self.outcomes = list(outcomes)
        self.calls: list[tuple[Any, float]] = []

    def __call__(self, request: Any, timeout: float) -> Any:
        self.calls.append((request, timeout))
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


def run(rpc: Script, clock: Clock, timeout: float = 10.0, policy: RetryPolicy = RetryPolicy()) -> Any:
    return call(
        rpc, "the request", target=TARGET, timeout=timeout, policy=policy, sleep=clock.sleep, clock=lambda: clock.now
    )


def test_unavailable_is_retried_with_the_same_request_and_backoff_that_doubles() -> None:
    clock = Clock()
    rpc = Script(FakeRpcError(grpc.StatusCode.UNAVAILABLE), FakeRpcError(grpc.StatusCode.UNAVAILABLE), "answer")
    assert run(rpc, clock) == "answer"
    assert [request for request, _ in rpc.calls] == ["the request"] * 3
    assert clock.slept == [0.2, 0.4]


def test_every_attempt_gets_only_what_is_left_of_one_deadline() -> None:
    clock = Clock()
    rpc = Script(FakeRpcError(grpc.StatusCode.UNAVAILABLE), "answer")
    run(rpc, clock, timeout=5.0)
    assert [timeout for _, timeout in rpc.calls] == [5.0, pytest.approx(4.8)]


def test_retries_stop_after_the_policys_attempts_with_unavailable() -> None:
    clock = Clock()
    rpc = Script(*[FakeRpcError(grpc.StatusCode.UNAVAILABLE, "down")] * 3)
    with pytest.raises(errors.Unavailable) as raised:
        run(rpc, clock, policy=RetryPolicy(attempts=3))
    assert len(rpc.calls) == 3 and raised.value.address == "localhost:1"


def test_no_retry_starts_when_the_deadline_would_pass_during_the_backoff() -> None:
    clock = Clock()
    rpc = Script(FakeRpcError(grpc.StatusCode.UNAVAILABLE))
    with pytest.raises(errors.Unavailable):
        run(rpc, clock, timeout=0.1)
    assert len(rpc.calls) == 1 and clock.slept == []


@pytest.mark.parametrize(
    ("code", "error_class"),
    [
        (grpc.StatusCode.NOT_FOUND, errors.NotFound),
        (grpc.StatusCode.ABORTED, errors.VersionConflict),
        (grpc.StatusCode.INVALID_ARGUMENT, errors.InvalidArgument),
        (grpc.StatusCode.ALREADY_EXISTS, errors.RequestIdReused),
        (grpc.StatusCode.DEADLINE_EXCEEDED, errors.DeadlineExceeded),
        (grpc.StatusCode.INTERNAL, errors.UsersError),
    ],
)
def test_other_failures_are_raised_at_once_as_their_error_class(code, error_class) -> None:
    clock = Clock()
    rpc = Script(FakeRpcError(code, "no"))
    with pytest.raises(error_class):
        run(rpc, clock)
    assert len(rpc.calls) == 1


def test_the_servers_error_info_reaches_the_error() -> None:
    failure = FakeRpcError(
        grpc.StatusCode.ABORTED,
        "version conflict: expected version 1, current version is 4",
        reason="VERSION_CONFLICT",
        expected_version="1",
        current_version="4",
    )
    with pytest.raises(errors.VersionConflict) as raised:
        run(Script(failure), Clock())
    assert raised.value.reason == "VERSION_CONFLICT"
    assert (raised.value.expected_version, raised.value.current_version) == (1, 4)
