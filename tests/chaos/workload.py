"""Writers that retry with request ids and read their own writes back; every answer is recorded for the checker."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import grpc

from tests.chaos.calls import Unanswered, until_answered
from users.v1 import command_service_pb2 as cmd
from users.v1 import command_service_pb2_grpc as cmd_grpc
from users.v1 import query_service_pb2 as qry
from users.v1 import query_service_pb2_grpc as qry_grpc

GIVE_UP_AFTER_STOP = 180.0  # the system is whole again by then; an unanswered command is a violation


@dataclass(frozen=True)
class Ack:
    """A command answered with success: where the service said it stored the event."""

    request_id: str
    kind: str
    user_id: str
    version: int
    position: int
    at: float  # seconds since the run started


@dataclass(frozen=True)
class Rejection:
    """A command answered with a definite error: it must not be stored."""

    request_id: str
    code: str


@dataclass(frozen=True)
class Read:
    """A read-your-writes read: GetUser with min_position of a write; what it saw."""

    user_id: str
    position: int
    written_version: int
    seen_version: int | None  # None: the user was not found


@dataclass
class Records:
    """Everything the writers saw, shared between their threads."""

    started: float = field(default_factory=time.monotonic)
    acks: list[Ack] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    reads: list[Read] = field(default_factory=list)
    unanswered: list[str] = field(default_factory=list)
    retries: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Writer(threading.Thread):
    """Sends a random mix of commands (some meant to be rejected) to both command services until stopped."""

    def __init__(
        self,
        number: int,
        commands: list[str],
        queries: list[str],
        records: Records,
        stop: threading.Event,
        rng: random.Random,
        pause: float = 0.0,
    ) -> None:
        super().__init__(name=f"writer-{number}", daemon=True)
        self.number, self.records, self.stop, self.rng, self.pause = number, records, stop, rng, pause
        self.commands = {a: cmd_grpc.CommandServiceStub(grpc.insecure_channel(a)) for a in commands}
        self.queries = {a: qry_grpc.QueryServiceStub(grpc.insecure_channel(a)) for a in queries}
        self.users: dict[str, int] = {}  # this writer's live users -> current version
        self.sent = 0
        self._stopped_at: float | None = None

    def _give_up(self) -> bool:
        if not self.stop.is_set():
            return False
        if self._stopped_at is None:
            self._stopped_at = time.monotonic()
        return time.monotonic() - self._stopped_at > GIVE_UP_AFTER_STOP

    def _pick(self, addresses: list[str]) -> str:
        return self.rng.choice(addresses)

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.step()
            except Unanswered as exc:
                with self.records.lock:
                    self.records.unanswered.append(f"{self.name}: {exc}")
                return
            if self.pause:
                self.stop.wait(self.pause)  # steady load for the soak, not synchronisation

    def step(self) -> None:
        """Sends one command until it has a definite answer, then maybe reads it back."""
        self.sent += 1
        roll, request_id = self.rng.random(), str(uuid.uuid4())
        ids = list(self.users)
        user = self.rng.choice(ids) if ids else ""
        if not ids or roll < 0.35:
            kind, request = "AddUser", cmd.AddUserRequest(name=f"w{self.number} {self.sent}", request_id=request_id)
        elif roll < 0.75:
            kind = "EditUser"
            request = cmd.EditUserRequest(id=user, name=f"r{self.sent}", expected_version=self.users[user])
        elif roll < 0.83:  # a stale expected version: ABORTED
            kind = "EditUser"
            request = cmd.EditUserRequest(id=user, name=f"x{self.sent}", expected_version=self.users[user] + 3)
        elif roll < 0.9:
            kind, request = "DeleteUser", cmd.DeleteUserRequest(id=user, expected_version=self.users[user])
        elif roll < 0.95:  # a user that never existed: NOT_FOUND
            kind, user = "EditUser", str(uuid.uuid4())
            request = cmd.EditUserRequest(id=user, name="nobody")
        else:  # an empty name: INVALID_ARGUMENT
            kind, request = "AddUser", cmd.AddUserRequest(name="")
        request.request_id = request_id
        response, code = until_answered(
            lambda address, timeout: getattr(self.commands[address], kind)(request, timeout=timeout),
            list(self.commands),
            self._pick,
            self.records.retries,
            self.records.lock,
            self._give_up,
        )
        if code is not None:
            with self.records.lock:
                self.records.rejections.append(Rejection(request_id, code.name))
            return
        self._acknowledged(kind, request_id, response)

    def _acknowledged(self, kind: str, request_id: str, response: Any) -> None:
        at = time.monotonic() - self.records.started
        if kind == "DeleteUser":
            ack = Ack(request_id, kind, response.id, response.version, response.position, at)
            self.users.pop(response.id, None)
        else:
            ack = Ack(request_id, kind, response.user.id, response.user.version, response.position, at)
            self.users[ack.user_id] = ack.version
        with self.records.lock:
            self.records.acks.append(ack)
        if kind != "DeleteUser" and self.rng.random() < 0.5:
            self._read_back(ack)

    def _read_back(self, ack: Ack) -> None:
        """Reads the write at once with min_position, from either query service."""
        request = qry.GetUserRequest(id=ack.user_id, min_position=ack.position)
        response, code = until_answered(
            lambda address, timeout: self.queries[address].GetUser(request, timeout=timeout),
            list(self.queries),
            self._pick,
            self.records.retries,
            self.records.lock,
            self._give_up,
        )
        seen = response.user.version if code is None else None
        with self.records.lock:
            self.records.reads.append(Read(ack.user_id, ack.position, ack.version, seen))
