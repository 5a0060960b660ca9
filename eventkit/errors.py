"""Domain errors: raised inside the services, translated to gRPC status only at the edge (status.py)."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error a caller can act on; `reason` is a stable machine-readable code."""

    reason = "ERROR"

    def __init__(self, message: str, **metadata: str) -> None:
        super().__init__(message)
        self.message = message
        self.metadata = {key: str(value) for key, value in metadata.items()}


class InvalidArgument(DomainError):
    """A request field is malformed; the message names the field."""

    reason = "INVALID_ARGUMENT"

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}", field=field)
        self.field = field


class NotFound(DomainError):
    """The user does not exist or was deleted."""

    reason = "USER_NOT_FOUND"


class VersionConflict(DomainError):
    """The caller's expected version is not the stream's current version."""

    reason = "VERSION_CONFLICT"

    def __init__(self, expected: int, current: int) -> None:
        super().__init__(
            f"version conflict: expected version {expected}, current version is {current}",
            expected_version=str(expected),
            current_version=str(current),
        )
        self.expected = expected
        self.current = current


class RequestIdReused(DomainError):
    """A request_id already served a different request."""

    reason = "REQUEST_ID_REUSED"


class UnreadableHistory(DomainError):
    """A user's stored events cannot be folded (written out of band, or corrupted)."""

    reason = "USER_HISTORY_UNREADABLE"


class OutOfRange(DomainError):
    """A position lies beyond the event store's head: nothing has been written there yet."""

    reason = "POSITION_BEYOND_HEAD"


class Unavailable(DomainError):
    """A database the call needs cannot be reached now; retrying later may succeed."""

    reason = "DATABASE_UNAVAILABLE"


class ShuttingDown(Unavailable):
    """The server is stopping; the call was not served, and retrying (elsewhere, or later) is safe."""

    reason = "SERVER_SHUTTING_DOWN"


class DeadlineExceeded(DomainError):
    """The call's deadline passed before it could answer."""

    reason = "DEADLINE_EXCEEDED"


class Unauthenticated(DomainError):
    """The call carries no bearer token, or one this service does not know."""

    reason = "UNAUTHENTICATED"


class PermissionDenied(DomainError):
    """The call's token is valid but its role may not call this method."""

    reason = "PERMISSION_DENIED"


class TooManyStreams(DomainError):
    """A bound on open streams is reached; others are still served."""

    reason = "TOO_MANY_STREAMS"
