"""``openucs cert self-signed``: a certificate and key for trying HTTPS out, not for production.

Clients will not trust it until told to (``curl --cacert``, or adding it to the system's trust
store); a real deployment uses a certificate from its CA, on openucs or on a reverse proxy.
"""

import argparse
import datetime
import ipaddress
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from openucs.cli.common import CliError, Commands


def _names(hosts: list[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def self_signed(hosts: list[str], days: int) -> tuple[bytes, bytes]:
    """(certificate PEM, private key PEM) for ``hosts`` (DNS names or IP addresses)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(_names(hosts)), critical=False)
        # A CA of itself, so that clients can be told to trust exactly this certificate.
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def cmd_self_signed(args: argparse.Namespace) -> int:
    hosts = args.host or ["localhost", "127.0.0.1", "::1"]
    if args.days < 1:
        raise CliError("--days must be at least 1")
    cert_pem, key_pem = self_signed(hosts, args.days)
    cert_path, key_path = Path(args.cert), Path(args.key)
    for path in (cert_path, key_path):
        if path.exists() and not args.force:
            raise CliError(f"{path} exists; use --force to replace it")
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    key_path.parent.mkdir(parents=True, exist_ok=True)
    cert_path.write_bytes(cert_pem)
    # The key is written owner-only from its first byte.
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with open(fd, "wb") as f:
        f.write(key_pem)
    print(f"wrote {cert_path} and {key_path} for {', '.join(hosts)}, valid {args.days} days")
    print(f"serve with: openucs serve --tls-cert {cert_path} --tls-key {key_path}")
    return 0


def register(commands: Commands) -> None:
    cert = commands.add_parser("cert", help="TLS certificates").add_subparsers(dest="cert_command", required=True)
    self = cert.add_parser("self-signed", help="make a self-signed certificate for development")
    self.add_argument("--host", action="append", help="a DNS name or IP address (repeat); default: localhost")
    self.add_argument("--days", type=int, default=365, help="validity (default 365)")
    self.add_argument("--cert", default="openucs-data/tls/cert.pem", help="certificate file to write")
    self.add_argument("--key", default="openucs-data/tls/key.pem", help="private key file to write")
    self.add_argument("--force", action="store_true", help="replace existing files")
    self.set_defaults(func=cmd_self_signed)
