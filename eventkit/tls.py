"""Server credentials: plaintext, TLS, or mutual TLS, from the certificate files configured in eventkit.config."""

from __future__ import annotations

from typing import Any

import grpc

from eventkit.transport_settings import Tls


def server_credentials(tls: Tls) -> grpc.ServerCredentials:
    """Returns TLS credentials; with a client CA, a client without a certificate it signed is refused."""
    return grpc.ssl_server_credentials(
        [(tls.key, tls.cert)],
        root_certificates=tls.client_ca,
        require_client_auth=tls.client_ca is not None,
    )


def bind(server: Any, host: str, port: int, tls: Tls | None) -> int:
    """Listens on host:port (0 picks a free port), over TLS when `tls` is given; returns the bound port."""
    address = f"{host}:{port}"
    bound = (
        server.add_insecure_port(address) if tls is None else server.add_secure_port(address, server_credentials(tls))
    )
    if bound == 0:
        raise OSError(f"cannot listen on {address}")
    return bound
