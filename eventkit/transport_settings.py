"""Reads how the gRPC servers talk (TLS, bearer tokens, reflection, message sizes) and how health checks dial them."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from eventkit import auth
from eventkit.envparse import ConfigError, boolean, file_bytes, integer


@dataclass(frozen=True)
class Tls:
    """A server's certificate chain and key (PEM), and the CA its clients must present a certificate from."""

    cert: bytes
    key: bytes
    client_ca: bytes | None


@dataclass(frozen=True)
class Transport:
    """How every gRPC server of a process talks: TLS, bearer tokens, reflection and message-size limits."""

    tls: Tls | None = None
    tokens: tuple[tuple[str, str], ...] = ()
    reflection: bool = True
    max_receive_bytes: int = 1024 * 1024
    max_send_bytes: int = 4 * 1024 * 1024


@dataclass(frozen=True)
class Probe:
    """How the health check dials its own service: over TLS or not, trusting which CA, presenting which certificate."""

    tls: bool
    ca_file: str
    server_name: str
    cert_file: str
    key_file: str


def _tls(env: Mapping[str, str]) -> Tls | None:
    cert, key, client_ca = (file_bytes(env, n) for n in ("TLS_CERT_FILE", "TLS_KEY_FILE", "TLS_CLIENT_CA_FILE"))
    if cert is None and key is None:
        if client_ca is not None:
            raise ConfigError("TLS_CLIENT_CA_FILE needs TLS_CERT_FILE and TLS_KEY_FILE (mTLS is TLS first)")
        return None
    if cert is None or key is None:
        raise ConfigError("TLS_CERT_FILE and TLS_KEY_FILE must be set together")
    return Tls(cert, key, client_ca)


def _tokens(env: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    # Two sources, one format ("TOKEN ROLE" per line; the variable also takes commas between
    # entries): a file suits mounted secrets, the variable suits a quick local run.
    sources = [("AUTH_TOKENS", env.get("AUTH_TOKENS", "").replace(",", "\n"))]
    text = file_bytes(env, "AUTH_TOKENS_FILE")
    if text is not None:
        sources.append(("AUTH_TOKENS_FILE", text.decode("utf-8", errors="replace")))
    try:
        return tuple(entry for name, lines in sources for entry in auth.parse(lines, name))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def transport(env: Mapping[str, str] = os.environ) -> Transport:
    """Reads how the gRPC servers talk: TLS, tokens, reflection, message-size limits."""
    return Transport(
        tls=_tls(env),
        tokens=_tokens(env),
        reflection=boolean(env, "GRPC_REFLECTION", True),
        max_receive_bytes=integer(env, "GRPC_MAX_RECEIVE_MESSAGE_BYTES", 1024 * 1024, minimum=1024),
        max_send_bytes=integer(env, "GRPC_MAX_SEND_MESSAGE_BYTES", 4 * 1024 * 1024, minimum=1024),
    )


def probe(env: Mapping[str, str] = os.environ) -> Probe:
    """Reads how the health check dials its own service (with mTLS it presents the service's own certificate)."""

    def get(name: str, default: str = "") -> str:
        return env.get(name, "").strip() or default

    mutual = bool(get("TLS_CLIENT_CA_FILE"))
    return Probe(
        tls=bool(get("TLS_CERT_FILE")),
        ca_file=get("HEALTHCHECK_TLS_CA_FILE"),
        server_name=get("HEALTHCHECK_TLS_SERVER_NAME"),
        cert_file=get("HEALTHCHECK_TLS_CERT_FILE", get("TLS_CERT_FILE") if mutual else ""),
        key_file=get("HEALTHCHECK_TLS_KEY_FILE", get("TLS_KEY_FILE") if mutual else ""),
    )
