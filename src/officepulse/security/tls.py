"""https and wss: the server's certificate and key from settings, or with
``--dev-tls`` a pair made here for trying it out.

The dev pair is a small certificate authority of its own (``ca.pem``) that
signs the server's certificate (``cert.pem``, for localhost and this machine's
names and addresses). Agents trust ``ca.pem`` through their ``ca_file``; the
server's certificate can then be made again (new names, expiry) under the
same authority without touching the agents. All of it is kept in the server's
data folder and reused on the next start.
"""

from __future__ import annotations

import ipaddress
import os
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from officepulse.settings import ServerSettings, SettingsError, env_name, unreadable

CA_LIFETIME = timedelta(days=3650)
CERT_LIFETIME = timedelta(days=365)
RENEW_BEFORE = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class TlsSetup:
    context: ssl.SSLContext
    cert: Path
    ca: Path | None  # the dev authority agents should trust (--dev-tls only)
    made: bool  # --dev-tls made (part of) the pair on this start


def prepare(
    settings: ServerSettings, data_dir: Path, names: Sequence[str], now: datetime
) -> TlsSetup | None:
    """The TLS context the settings ask for, or None for plain http; a missing or
    broken file stops start-up with a SettingsError naming the setting."""
    cert, key = settings.tls_cert, settings.tls_key
    if settings.dev_tls:
        if cert is not None or key is not None:
            raise SettingsError(
                f"{env_name('dev_tls')} and {env_name('tls_cert')}/{env_name('tls_key')} "
                "both set: use one or the other"
            )
        folder = data_dir / "dev-tls"
        made = ensure_dev_pair(folder, names, now)
        cert_path, key_path = folder / "cert.pem", folder / "key.pem"
        return TlsSetup(load_context(cert_path, key_path), cert_path, folder / "ca.pem", made)
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        missing, given = ("tls_cert", "tls_key") if cert is None else ("tls_key", "tls_cert")
        raise SettingsError(f"{env_name(missing)} is not set: {env_name(given)} needs it")
    cert_path, key_path = Path(cert), Path(key)
    _check_cert(cert_path)
    _check_key(key_path)
    return TlsSetup(load_context(cert_path, key_path), cert_path, None, False)


def load_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except (ssl.SSLError, OSError) as exc:
        raise SettingsError(
            f"setting {env_name('tls_key')} ({key}) does not go with {env_name('tls_cert')} "
            f"({cert}): {exc}"
        ) from exc
    return context


def _read(path: Path, key: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise unreadable(key, path, exc) from exc


def _check_cert(path: Path) -> None:
    try:
        x509.load_pem_x509_certificates(_read(path, "tls_cert"))
    except ValueError as exc:
        raise SettingsError(
            f"setting {env_name('tls_cert')}: {path} is not a PEM certificate: {exc}"
        ) from exc


def _check_key(path: Path) -> None:
    try:
        serialization.load_pem_private_key(_read(path, "tls_key"), password=None)
    except (ValueError, TypeError) as exc:
        raise SettingsError(
            f"setting {env_name('tls_key')}: {path} is not an unencrypted PEM private key: {exc}"
        ) from exc


# -- the dev pair ---------------------------------------------------------------------


def ensure_dev_pair(folder: Path, names: Sequence[str], now: datetime) -> bool:
    """Make what is missing, expiring or not covering ``names``; True if anything was made."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_path, ca_key_path = folder / "ca.pem", folder / "ca-key.pem"
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    made = False
    ca = _load_valid(ca_path, now)
    ca_key = _load_key(ca_key_path)
    if ca is None or ca_key is None:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca = _make_ca(ca_key, now)
        _write_key(ca_key_path, ca_key)
        ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        made = True
    cert = None if made else _load_valid(cert_path, now)
    if cert is None or not _covers(cert, names) or _load_key(key_path) is None:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _make_cert(key, ca, ca_key, names, now)
        _write_key(key_path, key)
        cert_path.write_bytes(
            cert.public_bytes(serialization.Encoding.PEM)
            + ca.public_bytes(serialization.Encoding.PEM)
        )
        made = True
    return made


def _load_valid(path: Path, now: datetime) -> x509.Certificate | None:
    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError):
        return None
    if cert.not_valid_after_utc - RENEW_BEFORE < now:
        return None
    return cert


def _load_key(path: Path) -> ec.EllipticCurvePrivateKey | None:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError):
        return None
    return key if isinstance(key, ec.EllipticCurvePrivateKey) else None


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)


def _alt_names(names: Sequence[str]) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = []
    for name in dict.fromkeys(names):
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            out.append(x509.DNSName(name))
    return out


def _covers(cert: x509.Certificate, names: Sequence[str]) -> bool:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    return set(_alt_names(names)) <= set(san)


def _make_ca(key: ec.EllipticCurvePrivateKey, now: datetime) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "officepulse dev CA")])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )


def _make_cert(
    key: ec.EllipticCurvePrivateKey,
    ca: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    names: Sequence[str],
    now: datetime,
) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + CERT_LIFETIME)
        .add_extension(x509.SubjectAlternativeName(_alt_names(names)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
