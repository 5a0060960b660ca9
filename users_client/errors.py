"""Errors the client raises: one class per kind of failure a caller can act on, built from gRPC statuses."""

from __future__ import annotations

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status


class UsersError(Exception):
    """A call failed. `service` and `address` say where; `reason` and `metadata` come from the server's ErrorInfo."""

    def __init__(
        self,
        message: str,
        *,
        code: grpc.StatusCode | None = None,
        reason: str = "",
        metadata: dict[str, str] | None = None,
        service: str = "",
        address: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.reason = reason
        self.metadata = dict(metadata or {})
        self.service = service
        self.address = address


class InvalidArgument(UsersError):
    """A request field was refused; `field` names it when the server said which."""

    @property
    def field(self) -> str:
        return self.metadata.get("field", "")


class NotFound(UsersError):
    """The user does not exist or was deleted."""


class VersionConflict(UsersError):
    """The expected version was not the user's current version."""

    @property
    def current_version(self) -> int | None:
        raw = self.metadata.get("current_version", "")
        return int(raw) if raw.isdigit() else None

    @property
    def expected_version(self) -> int | None:
        raw = self.metadata.get("expected_version", "")
        return int(raw) if raw.isdigit() else None


class RequestIdReused(UsersError):
    """The request_id was already used for a different request."""


class OutOfRange(UsersError):
    """A stream was asked to start after a position beyond the event store's head."""

    @property
    def store_head(self) -> int | None:
        raw = self.metadata.get("store_head", "")
        return int(raw) if raw.isdigit() else None


class Unavailable(UsersError):
    """The service (or its database) cannot be reached now; retrying later may succeed."""

    @property
    def service_reached(self) -> bool:
        """Tells whether the service itself answered (so it is its database that is down)."""
        return bool(self.reason)


class DeadlineExceeded(UsersError):
    """No answer came before the deadline; a command may still have been applied."""


_CLASS_OF: dict[grpc.StatusCode, type[UsersError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.ABORTED: VersionConflict,
    grpc.StatusCode.ALREADY_EXISTS: RequestIdReused,
    grpc.StatusCode.OUT_OF_RANGE: OutOfRange,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
}


def _error_info(error: grpc.RpcError) -> error_details_pb2.ErrorInfo | None:
    try:
        status = rpc_status.from_call(error)
    except (ValueError, AttributeError):
        return None  # a status that does not match its details is no reason to hide the error itself
    if status is None:
        return None
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info
    return None


def from_rpc_error(error: grpc.RpcError, service: str, address: str) -> UsersError:
    """Returns the UsersError for a failed call to `service` at `address`."""
    code = error.code() if hasattr(error, "code") else None
    message = (error.details() if hasattr(error, "details") else "") or ""
    info = _error_info(error)
    reason = info.reason if info is not None else ""
    metadata = dict(info.metadata) if info is not None else {}
    cls = _CLASS_OF.get(code, UsersError) if code is not None else UsersError
    return cls(message or str(code), code=code, reason=reason, metadata=metadata, service=service, address=address)
