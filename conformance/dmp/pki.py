"""A tiny test PKI for the DMP domain: a CA, a TLS server certificate and a "cachet" signing certificate.

Why our own: the real chain (IGC-Santé) is not available to a test harness, and the tests must never
touch the internet. The DMP simulator serves HTTPS with a server certificate of this CA (the candidate
receives ``ca_pem`` through ``PUT /endpoints``), and the reference sandbox signs its VIHF and its XAdES
signature document with a structure certificate ("cachet", as in indirect authentication) of this CA.

Keys are RSA 2048 (the algorithm of the ANS VIHF example, RSA-SHA256). Generating them costs tens of
milliseconds, so ``default_pki()`` caches one PKI per process. Kept self-contained on purpose: if the
MSS domain needs the same thing, a shared ``conformance/pki.py`` can absorb this module later.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import threading
from dataclasses import dataclass
from functools import cached_property

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

KEY_BITS = 2048
VALIDITY = dt.timedelta(days=30)


def _name(cn: str, org: str = "segur-conformance (TEST)", ou: str = "") -> x509.Name:
    parts = [x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"), x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)]
    if ou:
        parts.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou))
    parts.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(parts)


@dataclass(frozen=True)
class KeyPair:
    """A certificate and its private key, with the PEM forms the libraries want."""

    cert: x509.Certificate
    key: rsa.RSAPrivateKey

    @cached_property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @cached_property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())

    @cached_property
    def cert_der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    @property
    def subject_dn(self) -> str:
        """RFC 4514 form, the one a SAML ``X509SubjectName`` Issuer carries."""
        return self.cert.subject.rfc4514_string()


class TestPki:
    """One CA and the certificates it issued. ``__test__ = False`` keeps pytest from collecting it."""

    __test__ = False

    def __init__(self, name: str = "segur-conformance DMP test CA") -> None:
        self._now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
        key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
        subject = _name(name, ou="IGC-Santé de test (factice)")
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject).issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(self._now).not_valid_after(self._now + VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(ski, critical=False)
            .sign(key, hashes.SHA256())
        )
        self.ca = KeyPair(cert, key)

    @property
    def ca_pem(self) -> bytes:
        return self.ca.cert_pem

    def _issue(self, subject: x509.Name, *, server_names: tuple[str, ...] = (), signing: bool = False,
               validity: dt.timedelta = VALIDITY, not_before: dt.datetime | None = None) -> KeyPair:
        key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
        start = not_before or self._now
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject).issuer_name(self.ca.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + validity)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.ca.key.public_key()),
                           critical=False)
        )
        if server_names:
            alt: list[x509.GeneralName] = []
            for host in server_names:
                try:
                    alt.append(x509.IPAddress(ipaddress.ip_address(host)))
                except ValueError:
                    alt.append(x509.DNSName(host))
            builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
            builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            builder = builder.add_extension(
                x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=True,
                              data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                              encipher_only=False, decipher_only=False), critical=True)
        if signing:
            builder = builder.add_extension(
                x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=False,
                              data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                              encipher_only=False, decipher_only=False), critical=True)
        return KeyPair(builder.sign(self.ca.key, hashes.SHA256()), key)

    def server(self, *hosts: str) -> KeyPair:
        """TLS server certificate for the simulators (127.0.0.1 and localhost by default)."""
        names = hosts or ("127.0.0.1", "localhost")
        return self._issue(_name(names[0], ou="Serveur DMP de test"), server_names=names)

    def cachet(self, structure_id: str = "1000000000", org: str = "Structure de test") -> KeyPair:
        """A structure signing certificate ("cachet"), the one indirect authentication uses for the VIHF."""
        subject = _name(f"{org} - cachet {structure_id}", org=org, ou=structure_id)
        return self._issue(subject, signing=True)

    def expired_cachet(self) -> KeyPair:
        """A cachet whose validity ended yesterday (negative tests)."""
        start = dt.datetime.now(dt.UTC) - dt.timedelta(days=40)
        return self._issue(_name("Cachet expiré (test)", ou="expired"), signing=True,
                           validity=dt.timedelta(days=39), not_before=start)


_default: TestPki | None = None
_lock = threading.Lock()


def default_pki() -> TestPki:
    """One PKI per process: key generation is the slow part of every TLS or signature test."""
    global _default
    with _lock:
        if _default is None:
            _default = TestPki()
        return _default


def load_certificates(pem: bytes | str) -> list[x509.Certificate]:
    """Every certificate of a PEM bundle; an unreadable bundle gives an empty list, never a crash."""
    data = pem.encode("ascii", "replace") if isinstance(pem, str) else pem
    try:
        return list(x509.load_pem_x509_certificates(data))
    except ValueError:
        return []


def issued_by(cert: x509.Certificate, anchors: list[x509.Certificate]) -> bool:
    """True when one of ``anchors`` directly issued ``cert`` (signature check, not only the name)."""
    for anchor in anchors:
        try:
            cert.verify_directly_issued_by(anchor)
            return True
        except Exception:  # InvalidSignature, unsupported key types, wrong issuer name alike
            continue
    return False
