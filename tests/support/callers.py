"""Clients that keep calling a service from several threads, and the status (code, reason) a call ends with."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status


class Callers:
    """Threads that each call `call(channel)` in a loop over their own channel until stopped."""

    def __init__(self, address: str, call: Callable[[grpc.Channel], Any], threads: int = 16) -> None:
        self.codes: Counter[grpc.StatusCode] = Counter()
        self._address = address
        self._call = call
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._loop, daemon=True) for _ in range(threads)]

    def __enter__(self) -> Callers:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _loop(self) -> None:
        with grpc.insecure_channel(self._address) as channel:
            while not self._stop.is_set():
                try:
                    self._call(channel)
                    code = grpc.StatusCode.OK
                except grpc.RpcError as error:
                    code = error.code()
                with self._lock:
                    self.codes[code] += 1

    def count(self, code: grpc.StatusCode) -> int:
        """Returns how many calls have ended with `code` so far."""
        with self._lock:
            return self.codes[code]

    def stop(self) -> Counter[grpc.StatusCode]:
        """Stops every thread after its current call; returns the codes counted."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)
        return Counter(self.codes)


def reason_of(error: grpc.RpcError) -> str:
    """Returns the ErrorInfo reason a failed call carries ("" without one)."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    info = error_details_pb2.ErrorInfo()
    if status is not None and status.details and status.details[0].Unpack(info):
        return info.reason
    return ""


def answer_of(call: Callable[[], Any]) -> tuple[grpc.StatusCode, str]:
    """Returns the status code and reason a call ends with."""
    try:
        call()
        return grpc.StatusCode.OK, ""
    except grpc.RpcError as error:
        return error.code(), reason_of(error)
