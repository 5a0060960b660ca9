"""Bearer tokens and their roles: parsing the configured list and deciding whether a call may proceed."""

from __future__ import annotations

import hmac
from collections.abc import Iterable

from eventkit import errors

READ = "read"
WRITE = "write"
ROLES = (READ, WRITE)
# Long enough that guessing is hopeless; `openssl rand -hex 32` gives 64 characters.
MIN_TOKEN_LENGTH = 16
# Health answers probes (kubelet, compose, load balancers) that carry no credentials.
OPEN_PREFIXES = ("/grpc.health.v1.Health/",)
SCHEME = "bearer "


def parse(text: str, source: str) -> list[tuple[str, str]]:
    """Returns the (token, role) pairs of `text`: one `TOKEN ROLE` a line, blank lines and `#` comments skipped."""
    entries = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        # The token itself never goes into a message: these end up in logs.
        if len(parts) != 2 or parts[1] not in ROLES:
            raise ValueError(f"{source} entry {number}: expected `TOKEN read` or `TOKEN write`")
        if len(parts[0]) < MIN_TOKEN_LENGTH:
            raise ValueError(f"{source} entry {number}: a token needs at least {MIN_TOKEN_LENGTH} characters")
        entries.append((parts[0], parts[1]))
    return entries


class Authorizer:
    """Decides from a call's method and metadata whether it may proceed (tokens compared in constant time)."""

    def __init__(self, tokens: Iterable[tuple[str, str]], write_services: Iterable[str]) -> None:
        self._tokens = [(token.encode(), role) for token, role in tokens]
        self._write_prefixes = tuple(f"/{name}/" for name in write_services)

    def role_of(self, presented: bytes) -> str | None:
        """Returns the role of `presented`, comparing it with every configured token so timing reveals nothing."""
        found = None
        for token, role in self._tokens:
            if hmac.compare_digest(token, presented):
                found = role
        return found

    def check(self, method: str, metadata: Iterable[tuple[str, str | bytes]]) -> errors.DomainError | None:
        """Returns the error to answer `method` with, or None when the call may go on."""
        if method.startswith(OPEN_PREFIXES):
            return None
        header = next((value for key, value in metadata if key == "authorization"), None)
        if isinstance(header, bytes):
            header = header.decode("latin-1")
        if header is None or not header.lower().startswith(SCHEME):
            return errors.Unauthenticated("this service needs `authorization: Bearer <token>` in the call metadata")
        role = self.role_of(header[len(SCHEME) :].strip().encode("utf-8", errors="replace"))
        if role is None:
            return errors.Unauthenticated("the bearer token is not valid for this service")
        if role != WRITE and method.startswith(self._write_prefixes):
            return errors.PermissionDenied(f"a {role} token may not call {method}")
        return None
