"""The CLI tells a TLS mismatch apart from a service that is not running."""

from __future__ import annotations

import grpc

from users_client import errors, messages

WHERE = dict(service="query service", address="localhost:50052", code=grpc.StatusCode.UNAVAILABLE)


def line(message: str) -> str:
    return messages.describe(errors.Unavailable(message, **WHERE))[0]  # type: ignore[arg-type]


def test_a_failed_handshake_names_the_reason_and_the_tls_options() -> None:
    text = line(
        "failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:1: Tls handshake failed"
        " (TSI_PROTOCOL_FAILURE): SSL_ERROR_SSL: error:1000007d:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED"
    )
    assert text.startswith(
        "the TLS handshake with the query service at localhost:50052 failed (CERTIFICATE_VERIFY_FAILED)"
    )
    assert "--ca-file" in text


def test_a_closed_connection_suggests_tls_and_a_refused_one_suggests_starting_the_services() -> None:
    closed = line("failed to connect to all addresses; last error: UNAVAILABLE: ipv4:127.0.0.1:1: Socket closed")
    assert "closed the connection; if it serves TLS, check --ca-file" in closed
    refused = line("failed to connect to all addresses; last error: UNKNOWN: Failed to connect to remote host")
    assert refused == "cannot reach the query service at localhost:50052 — is `make run` running?"
