"""A throw-away test CA and a server certificate for loopback TLS peers.

``make_test_certs(directory)`` writes ``ca.pem``/``ca.key`` (a self-signed CA) and
``server.pem``/``server.key`` (signed by that CA, valid for 127.0.0.1, ::1 and localhost)
and returns their paths, so a TLS peer (Kamailio) can serve the server certificate and our
TLS transport can verify it against the CA.

The ``cryptography`` package is used when it is importable; otherwise the ``openssl`` CLI.
Both give the same files. Nothing outside ``directory`` is touched.
"""
from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
import subprocess
from pathlib import Path
from typing import NamedTuple, Sequence

__all__ = ["CertPaths", "make_test_certs", "DEFAULT_HOSTS"]

DEFAULT_HOSTS: tuple[str, ...] = ("127.0.0.1", "::1", "localhost")
_VALID_DAYS = 30


class CertPaths(NamedTuple):
    """Paths of the generated PEM files (unpacks as ``ca_cert, cert, key``)."""

    ca_cert: Path
    cert: Path
    key: Path

    @property
    def ca_key(self) -> Path:
        """The CA's private key (to sign more certificates, e.g. client ones)."""
        return self.ca_cert.with_name("ca.key")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def make_test_certs(directory: os.PathLike[str] | str,
                    hosts: Sequence[str] = DEFAULT_HOSTS,
                    backend: str | None = None) -> CertPaths:
    """Create a CA and a server cert for ``hosts`` in ``directory``; return the paths.

    ``backend`` is ``"cryptography"``, ``"openssl"`` or None (cryptography if importable).
    """
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    if not hosts:
        raise ValueError("at least one host name or address is needed")
    if backend is None:
        try:
            import cryptography  # noqa: F401
            backend = "cryptography"
        except ImportError:
            backend = "openssl"
    paths = CertPaths(d / "ca.pem", d / "server.pem", d / "server.key")
    if backend == "cryptography":
        _make_with_cryptography(paths, list(hosts))
    elif backend == "openssl":
        _make_with_openssl(paths, list(hosts))
    else:
        raise ValueError(f"unknown backend {backend!r}")
    for p in (paths.key, paths.ca_key):
        os.chmod(p, 0o600)
    return paths


def _make_with_cryptography(paths: CertPaths, hosts: list[str]) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = now - datetime.timedelta(hours=1), now + datetime.timedelta(days=_VALID_DAYS)

    def pem_key(key) -> bytes:
        return key.private_bytes(serialization.Encoding.PEM,
                                 serialization.PrivateFormat.TraditionalOpenSSL,
                                 serialization.NoEncryption())

    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sipctl test CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, key_cert_sign=True, crl_sign=True,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    sans: list[x509.GeneralName] = [
        x509.IPAddress(ipaddress.ip_address(h)) if _is_ip(h) else x509.DNSName(h) for h in hosts
    ]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                              ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    paths.ca_key.write_bytes(pem_key(ca_key))
    paths.ca_cert.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    paths.key.write_bytes(pem_key(key))
    paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _make_with_openssl(paths: CertPaths, hosts: list[str]) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("neither the cryptography package nor the openssl CLI is available")
    d = paths.ca_cert.parent

    def run(*args: str) -> None:
        r = subprocess.run([openssl, *args], cwd=d, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError(f"openssl {' '.join(args)} failed ({r.returncode}):\n{r.stderr}")

    san = ",".join(f"IP:{h}" if _is_ip(h) else f"DNS:{h}" for h in hosts)
    ext = d / "server.ext"
    ext.write_text(
        "basicConstraints=critical,CA:FALSE\n"
        f"subjectAltName={san}\n"
        "extendedKeyUsage=serverAuth,clientAuth\n"
        "authorityKeyIdentifier=keyid\n"
    )
    csr = d / "server.csr"
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256",
        "-days", str(_VALID_DAYS), "-subj", "/CN=sipctl test CA",
        "-addext", "basicConstraints=critical,CA:TRUE,pathlen:0",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
        "-keyout", str(paths.ca_key), "-out", str(paths.ca_cert))
    run("req", "-newkey", "rsa:2048", "-nodes", "-sha256", "-subj", f"/CN={hosts[0]}",
        "-keyout", str(paths.key), "-out", str(csr))
    run("x509", "-req", "-in", str(csr), "-CA", str(paths.ca_cert), "-CAkey", str(paths.ca_key),
        "-CAcreateserial", "-days", str(_VALID_DAYS), "-sha256",
        "-extfile", str(ext), "-out", str(paths.cert))
    for leftover in (csr, ext, d / "ca.srl"):
        leftover.unlink(missing_ok=True)
