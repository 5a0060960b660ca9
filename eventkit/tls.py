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


class PortUnavailable(SystemExit):
    """The server cannot listen where it was told: the process ends with this one sentence, not a traceback."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(
            f"cannot listen on {host}:{port}: the port is already in use (or {host} is not an address of this"
            " machine); stop what holds it or choose another port"
        )


def bind(server: Any, host: str, port: int, tls: Tls | None) -> int:
    """Listens on host:port (0 picks a free port), over TLS when `tls` is given; returns the bound port."""
    address = f"{host}:{port}"
    try:
        bound = (
            server.add_insecure_port(address)
            if tls is None
            else server.add_secure_port(address, server_credentials(tls))
        )
    except RuntimeError:  # grpcio's "Failed to bind to address"
        bound = 0
    if bound == 0:
        raise PortUnavailable(host, port)
    return int(bound)
