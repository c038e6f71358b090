"""HTTPS for classrooms: browsers give the microphone only to secure pages (HTTPS or localhost), so a server
reached at http://192.168.x.x has no voice. `callcoach serve --https` serves TLS with a certificate made
here, offline, valid for this machine's names and addresses; students accept the browser's warning once.
A teacher's own certificate (CALLCOACH_TLS_CERTFILE / _KEYFILE) is used as it is."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

VALID_DAYS = 825  # the longest validity browsers accept for a server certificate
RENEW_BEFORE_DAYS = 30


@dataclass(frozen=True)
class TlsFiles:
    certfile: Path
    keyfile: Path
    self_signed: bool
    names: tuple[str, ...]  # host names and addresses the certificate covers


def local_addresses() -> list[str]:
    """This machine's IPv4 addresses other people can reach, best first. No packet is sent: connecting a
    UDP socket only asks the kernel which interface would route there."""
    found: list[str] = []
    for probe in ("10.255.255.255", "192.0.2.255", "8.8.8.8"):
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.connect((probe, 1))
                found.append(s.getsockname()[0])
        except OSError:
            continue
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            found.append(str(info[4][0]))
    except OSError:
        pass
    out: list[str] = []
    for a in found:
        if a not in out and not ipaddress.ip_address(a).is_loopback and not ipaddress.ip_address(a).is_unspecified:
            out.append(a)
    return out


def certificate_names(host: str) -> list[str]:
    """What the certificate must cover: localhost, loopback, this machine's name and addresses, and the host
    the server is bound to when it is a specific one."""
    names = ["localhost", "127.0.0.1", socket.gethostname(), *local_addresses()]
    if host not in ("0.0.0.0", "::", ""):
        names.append(host)
    return list(dict.fromkeys(n for n in names if n))


def _san(names: list[str]) -> x509.SubjectAlternativeName:
    entries: list[x509.GeneralName] = []
    for n in names:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            entries.append(x509.DNSName(n))
    return x509.SubjectAlternativeName(entries)


def _covered(cert: x509.Certificate, names: list[str], now: dt.datetime) -> bool:
    if cert.not_valid_after_utc - now < dt.timedelta(days=RENEW_BEFORE_DAYS):
        return False
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    have = {str(i) for i in san.get_values_for_type(x509.IPAddress)} | set(san.get_values_for_type(x509.DNSName))
    return set(names) <= have


def make_self_signed(names: list[str], now: dt.datetime | None = None) -> tuple[bytes, bytes]:
    """A P-256 key and a self-signed certificate for `names` (PEM). It is its own CA, so a client can pin it
    as the trust anchor (tests do)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "CallCoach"),
                         x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(_san(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def ensure_self_signed(directory: Path, names: list[str], now: dt.datetime | None = None) -> TlsFiles:
    """Reuse the certificate in `directory` while it covers `names` and is not about to expire (students'
    browsers then keep the exception they accepted); otherwise make a new one. Written atomically, key 0600."""
    now = now or dt.datetime.now(dt.timezone.utc)
    certfile, keyfile = directory / "cert.pem", directory / "key.pem"
    if certfile.is_file() and keyfile.is_file():
        try:
            old = x509.load_pem_x509_certificate(certfile.read_bytes())
            if _covered(old, names, now):
                return TlsFiles(certfile, keyfile, True, tuple(names))
        except ValueError:
            pass  # unreadable: replace it
    directory.mkdir(parents=True, exist_ok=True)
    cert_pem, key_pem = make_self_signed(names, now)
    for path, data, mode in ((keyfile, key_pem, 0o600), (certfile, cert_pem, 0o644)):
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.chmod(mode)
        tmp.replace(path)
    return TlsFiles(certfile, keyfile, True, tuple(names))


def tls_files(data_dir: Path, host: str, certfile: Path | None, keyfile: Path | None) -> TlsFiles:
    """The teacher's certificate if configured (both files must exist), else the self-signed one."""
    if certfile or keyfile:
        problems = [f"{env} {'is not set' if p is None else f'{p} does not exist'}"
                    for env, p in (("CALLCOACH_TLS_CERTFILE", certfile), ("CALLCOACH_TLS_KEYFILE", keyfile))
                    if p is None or not Path(p).is_file()]
        if problems:
            raise FileNotFoundError("HTTPS certificate / 证书配置有误: " + "; ".join(problems))
        return TlsFiles(Path(certfile), Path(keyfile), False, ())  # type: ignore[arg-type]
    return ensure_self_signed(data_dir / "tls", certificate_names(host))
