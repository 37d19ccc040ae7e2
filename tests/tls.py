"""Certificates for tests: a CA made here, a server certificate for 127.0.0.1/localhost,
and client certificates it signs."""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path


def _name(text: str):
    from cryptography import x509
    from cryptography.x509.oid import NameOID
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])


def _write(directory: Path, stem: str, cert, key) -> tuple[Path, Path]:
    from cryptography.hazmat.primitives import serialization
    cert_path, key_path = directory / f"{stem}.pem", directory / f"{stem}-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def _issue(subject: str, issuer, issuer_key, ca: bool, extensions=()):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    now = datetime.datetime.now(datetime.timezone.utc)
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (x509.CertificateBuilder().subject_name(_name(subject))
               .issuer_name(issuer.subject if issuer is not None else _name(subject))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    for extension in extensions:
        builder = builder.add_extension(extension, critical=False)
    return builder.sign(issuer_key if issuer_key is not None else key, hashes.SHA256()), key


def make_tls(directory: Path, clients: tuple[str, ...] = ()) -> tuple[Path, ...]:
    """(ca.pem, server cert, server key, then a cert and key per client name)."""
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID
    ca, ca_key = _issue("eunomia test CA", None, None, True)
    ca_path, _ = _write(directory, "ca", ca, ca_key)
    server = _issue("127.0.0.1", ca, ca_key, False, (
        x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                     x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
        x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                               ExtendedKeyUsageOID.CLIENT_AUTH])))
    paths = [ca_path, *_write(directory, "server", *server)]
    for client in clients:
        issued = _issue(client, ca, ca_key, False, (
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]),))
        paths += _write(directory, f"client-{client}", *issued)
    return tuple(paths)
