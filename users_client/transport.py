"""How a client reaches a service: plaintext or TLS (with a client certificate for mTLS), and a bearer token."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import grpc

from users_client import errors


@dataclass(frozen=True)
class Security:
    """TLS files and a bearer token; empty fields mean "not used" (the defaults give plaintext, no token)."""

    tls: bool = False
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    server_name: str = ""
    token: str = ""
    token_file: str = ""

    @property
    def uses_tls(self) -> bool:
        """TLS is on when asked for, or implied by a CA or a client certificate."""
        return self.tls or bool(self.ca_file or self.cert_file or self.key_file)


def _on(raw: str) -> bool:
    return raw.strip().lower() in ("1", "true", "yes", "on")


def security_from_env(env: Mapping[str, str] = os.environ) -> Security:
    """Returns the Security that USERS_TLS, USERS_TLS_*_FILE, USERS_TLS_SERVER_NAME and USERS_TOKEN(_FILE) describe."""
    return Security(
        tls=_on(env.get("USERS_TLS", "")),
        ca_file=env.get("USERS_TLS_CA_FILE", "").strip(),
        cert_file=env.get("USERS_TLS_CERT_FILE", "").strip(),
        key_file=env.get("USERS_TLS_KEY_FILE", "").strip(),
        server_name=env.get("USERS_TLS_SERVER_NAME", "").strip(),
        token=env.get("USERS_TOKEN", "").strip(),
        token_file=env.get("USERS_TOKEN_FILE", "").strip(),
    )


def _read(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError as exc:
        raise errors.InvalidArgument(
            f"cannot read the {what} {path}: {exc.strerror}", metadata={"field": what}
        ) from None


def _credentials(security: Security) -> grpc.ChannelCredentials:
    if bool(security.cert_file) != bool(security.key_file):
        raise errors.InvalidArgument("a client certificate needs both its certificate and its key file")
    return grpc.ssl_channel_credentials(
        root_certificates=_read(security.ca_file, "CA file") if security.ca_file else None,
        private_key=_read(security.key_file, "key file") if security.key_file else None,
        certificate_chain=_read(security.cert_file, "certificate file") if security.cert_file else None,
    )


def _token(security: Security) -> str:
    if security.token_file:
        return _read(security.token_file, "token file").decode("utf-8", errors="replace").strip()
    return security.token


class _Bearer(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    """Adds `authorization: Bearer <token>` to every call (also over plaintext, unlike call credentials)."""

    def __init__(self, token: str) -> None:
        self._header = ("authorization", f"Bearer {token}")

    def _details(self, details: Any) -> Any:
        return details._replace(metadata=[*(details.metadata or ()), self._header])

    def intercept_unary_unary(self, continuation: Callable[..., Any], details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation: Callable[..., Any], details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)

    def intercept_stream_unary(self, continuation: Callable[..., Any], details: Any, requests: Any) -> Any:
        return continuation(self._details(details), requests)

    def intercept_stream_stream(self, continuation: Callable[..., Any], details: Any, requests: Any) -> Any:
        return continuation(self._details(details), requests)


def open_channel(
    address: str, security: Security = Security(), options: Sequence[tuple[str, Any]] = ()
) -> grpc.Channel:
    """Returns a channel to `address` that uses TLS and sends the token as `security` says."""
    options = list(options)
    if security.server_name:
        options.append(("grpc.ssl_target_name_override", security.server_name))
    if security.uses_tls:
        channel = grpc.secure_channel(address, _credentials(security), options=options)
    else:
        channel = grpc.insecure_channel(address, options=options)
    token = _token(security)
    return grpc.intercept_channel(channel, _Bearer(token)) if token else channel
