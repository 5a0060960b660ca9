"""A throwaway certificate authority for tests: a CA, a server certificate for localhost, client certificates."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

Key = ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class Pair:
    """A certificate and its private key, as PEM files."""

    cert: Path
    key: Path


@dataclass(frozen=True)
class Pki:
    """Files of one test run: the CA, the services' certificate, a client's, and one from a CA nobody trusts."""

    ca: Path
    server: Pair
    client: Pair
    stranger: Pair


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(subject: str, issuer: x509.Name, key: Key) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
    )


def _authority(common_name: str) -> tuple[x509.Certificate, Key]:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        _builder(common_name, _name(common_name), key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )  # keyCertSign, cRLSign
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _leaf(
    directory: Path, name: str, ca: tuple[x509.Certificate, Key], usages: list[x509.ObjectIdentifier], server: bool
) -> Pair:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = _builder(name, ca[0].subject, key).add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    if server:
        names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    cert = builder.sign(ca[1], hashes.SHA256())
    pair = Pair(directory / f"{name}.crt", directory / f"{name}.key")
    pair.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pair.key.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return pair


def make_pki(directory: Path) -> Pki:
    """Writes a fresh CA and certificates into `directory` and returns their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = _authority("users-cqrs test CA")
    (directory / "ca.crt").write_bytes(ca[0].public_bytes(serialization.Encoding.PEM))
    # The services' certificate also allows client auth: with mTLS, their health checks present it.
    server = _leaf(
        directory, "server", ca, [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH], server=True
    )
    client = _leaf(directory, "client", ca, [ExtendedKeyUsageOID.CLIENT_AUTH], server=False)
    stranger = _leaf(
        directory, "stranger", _authority("some other CA"), [ExtendedKeyUsageOID.CLIENT_AUTH], server=False
    )
    return Pki(directory / "ca.crt", server, client, stranger)
