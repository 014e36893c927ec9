"""The cloud's own certificate authority and the certificate the API and the dashboard
serve over HTTPS, made by ``nimbus up`` and kept in ``<data dir>/tls``.

Clients trust the CA's certificate (``clouds.yaml`` names it as ``cacert``); its key stays
in the folder and signs the server's certificate only. The server's certificate names
127.0.0.1, ::1, localhost, this host and the addresses the API and the dashboard listen
on. ``ensure_certificates`` makes what is missing and makes the server's certificate
again when it lacks a name the settings now need or expires within ``RENEW_DAYS``; the CA
stays, so nothing that trusts it needs to change. Keys are ECDSA P-256, private from
their creation (``nimbus.private``).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from nimbus.config import Settings
from nimbus.private import private_dir, write_private

CA_DAYS, SERVER_DAYS, RENEW_DAYS = 3650, 825, 30
_IP = ipaddress.IPv4Address | ipaddress.IPv6Address
#: Addresses that mean "every interface": not a name a client connects to.
_WILDCARDS = {ipaddress.ip_address("0.0.0.0"), ipaddress.ip_address("::")}


@dataclass(frozen=True)
class ServerNames:
    """What the server's certificate must name."""

    dns: frozenset[str]
    ips: frozenset[_IP]


def server_names(settings: Settings) -> ServerNames:
    """Loopback, localhost, this host's name, and the API's and dashboard's hosts."""
    dns = {"localhost", settings.host_name}
    ips = {ipaddress.ip_address(a) for a in ("127.0.0.1", "::1")}
    for host in (settings.api_host, settings.dashboard_host):
        try:
            ips.add(ipaddress.ip_address(host))
        except ValueError:
            dns.add(host)
    return ServerNames(frozenset(n.lower() for n in dns if n), frozenset(ips - _WILDCARDS))


def ensure_certificates(settings: Settings, now: dt.datetime | None = None) -> bool:
    """Make the CA and the server's certificate if missing, and the server's again if it
    no longer fits (see the module); whether anything was made."""
    now = now or dt.datetime.now(dt.UTC)
    private_dir(settings.tls_dir)
    made = False
    if not (settings.tls_ca_cert.exists() and settings.tls_ca_key.exists()):
        _write_ca(settings, now)
        made = True
    names = server_names(settings)
    if made or not _fits(settings, names, now):
        _write_server(settings, names, now)
        made = True
    return made


def _write_public(path: Path, data: bytes) -> None:
    """A certificate, readable by all, replaced whole."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Nimbus"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _key_usage(signs_certificates: bool) -> x509.KeyUsage:
    """Digital signatures (ECDSA's handshake), and for the CA certificates and CRLs."""
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=signs_certificates,
        crl_sign=signs_certificates,
        encipher_only=False,
        decipher_only=False,
    )


def _write_ca(settings: Settings, now: dt.datetime) -> None:
    key = _new_key()
    name = _name(f"Nimbus CA ({settings.host_name})")
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(signs_certificates=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    write_private(settings.tls_ca_key, _pem_key(key))
    _write_public(settings.tls_ca_cert, _pem(cert))  # clients everywhere read it


def _write_server(settings: Settings, names: ServerNames, now: dt.datetime) -> None:
    ca_key = serialization.load_pem_private_key(settings.tls_ca_key.read_bytes(), None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    ca = x509.load_pem_x509_certificate(settings.tls_ca_cert.read_bytes())
    key = _new_key()
    alt_names: list[x509.GeneralName] = [x509.DNSName(n) for n in sorted(names.dns)]
    alt_names += [x509.IPAddress(ip) for ip in sorted(names.ips, key=str)]
    ca_ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(settings.host_name))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(min(now + dt.timedelta(days=SERVER_DAYS), ca.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(signs_certificates=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    write_private(settings.tls_key, _pem_key(key))
    _write_public(settings.tls_cert, _pem(cert))


def _public(key: object) -> bytes:
    assert isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey)
    public = key.public_key() if isinstance(key, ec.EllipticCurvePrivateKey) else key
    return public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _fits(settings: Settings, names: ServerNames, now: dt.datetime) -> bool:
    """Whether the server's certificate exists, goes with its key, was signed by the CA,
    names every name and lives on."""
    if not (settings.tls_cert.exists() and settings.tls_key.exists()):
        return False
    cert = x509.load_pem_x509_certificate(settings.tls_cert.read_bytes())
    ca = x509.load_pem_x509_certificate(settings.tls_ca_cert.read_bytes())
    key = serialization.load_pem_private_key(settings.tls_key.read_bytes(), None)
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    if _public(key) != _public(cert.public_key()):
        return False
    if cert.not_valid_after_utc - dt.timedelta(days=RENEW_DAYS) < now:
        return False
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    dns = {n.lower() for n in san.get_values_for_type(x509.DNSName)}
    ips = set(san.get_values_for_type(x509.IPAddress))
    return names.dns <= dns and names.ips <= ips
