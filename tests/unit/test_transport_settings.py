"""The transport variables: TLS files, tokens, reflection, message limits, and what the health check dials with."""

from __future__ import annotations

from pathlib import Path

import pytest

from eventkit.envparse import ConfigError
from eventkit.transport_settings import Transport, probe, transport

TOKEN = "t" * 20


def test_the_defaults_are_plaintext_no_tokens_reflection_on_and_explicit_limits() -> None:
    assert transport({}) == Transport(None, (), True, 1024 * 1024, 4 * 1024 * 1024)


def test_tls_reads_the_files_and_mtls_adds_the_client_ca(tmp_path: Path) -> None:
    for name in ("cert", "key", "ca"):
        (tmp_path / name).write_bytes(name.encode())
    env = {"TLS_CERT_FILE": str(tmp_path / "cert"), "TLS_KEY_FILE": str(tmp_path / "key")}
    assert transport(env).tls is not None and transport(env).tls.client_ca is None  # type: ignore[union-attr]
    mutual = transport({**env, "TLS_CLIENT_CA_FILE": str(tmp_path / "ca")}).tls
    assert mutual is not None and (mutual.cert, mutual.key, mutual.client_ca) == (b"cert", b"key", b"ca")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TLS_CERT_FILE": "/nonexistent/cert"}, "TLS_CERT_FILE: cannot read /nonexistent/cert"),
        ({"TLS_CLIENT_CA_FILE": "/etc/hostname"}, "TLS_CLIENT_CA_FILE needs TLS_CERT_FILE and TLS_KEY_FILE"),
        ({"TLS_KEY_FILE": "/etc/hostname"}, "must be set together"),
        ({"GRPC_REFLECTION": "maybe"}, "GRPC_REFLECTION must be true or false"),
        ({"GRPC_MAX_RECEIVE_MESSAGE_BYTES": "10"}, "GRPC_MAX_RECEIVE_MESSAGE_BYTES must be >= 1024"),
        ({"AUTH_TOKENS": f"{TOKEN} root"}, "AUTH_TOKENS entry 1"),
    ],
)
def test_a_bad_value_stops_start_up_naming_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        transport(env)


def test_tokens_come_from_the_variable_and_the_file_together(tmp_path: Path) -> None:
    (tmp_path / "tokens").write_text(f"{'f' * 20} read\n")
    env = {"AUTH_TOKENS": f"{TOKEN} write, {'u' * 20} read", "AUTH_TOKENS_FILE": str(tmp_path / "tokens")}
    assert transport(env).tokens == ((TOKEN, "write"), ("u" * 20, "read"), ("f" * 20, "read"))


def test_the_health_check_presents_the_services_certificate_only_under_mtls() -> None:
    tls = {"TLS_CERT_FILE": "/c", "TLS_KEY_FILE": "/k", "HEALTHCHECK_TLS_CA_FILE": "/ca"}
    plain = probe(tls)
    assert (plain.tls, plain.ca_file, plain.cert_file, plain.key_file) == (True, "/ca", "", "")
    mutual = probe({**tls, "TLS_CLIENT_CA_FILE": "/clients"})
    assert (mutual.cert_file, mutual.key_file) == ("/c", "/k")
    assert probe({}).tls is False
