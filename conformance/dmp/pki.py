"""A tiny test PKI for the DMP domain: a CA, a TLS server certificate and a "cachet" signing certificate.

Why our own: the real chain (IGC-Santé) is not available to a test harness, and the tests must never
touch the internet. The DMP simulator serves HTTPS with a server certificate of this CA (the candidate
receives ``ca_pem`` through ``PUT /endpoints``), and the reference sandbox signs its VIHF and its XAdES
signature document with a structure certificate ("cachet", as in indirect authentication) of this CA.

Keys are RSA 2048 (the algorithm of the ANS VIHF example, RSA-SHA256). Generating them costs tens of
milliseconds, so ``default_pki()`` caches one PKI per process. The X.509 mechanics (CA, leaves, PEM
forms) are shared with the MSS domain in ``conformance/pki.py``; this module only says which certificates
the DMP domain needs.
"""

from __future__ import annotations

import datetime as dt
import threading

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from conformance.pki import CertKey, create_ca, issue, key_usage, rsa_key
from conformance.pki import name as x509_name

KEY_BITS = 2048
VALIDITY = dt.timedelta(days=30)

#: A certificate and its private key (``cert_pem``, ``key_pem``, ``cert_der``, ``subject_dn``).
KeyPair = CertKey


def _name(cn: str, org: str = "segur-conformance (TEST)", ou: str = "") -> x509.Name:
    return x509_name(cn, org, ou)


class TestPki:
    """One CA and the certificates it issued. ``__test__ = False`` keeps pytest from collecting it."""

    __test__ = False

    def __init__(self, name: str = "segur-conformance DMP test CA") -> None:
        self._now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
        self.ca = create_ca(_name(name, ou="IGC-Santé de test (factice)"), rsa_key(KEY_BITS),
                            not_before=self._now, not_after=self._now + VALIDITY)

    @property
    def ca_pem(self) -> bytes:
        return self.ca.cert_pem

    def _issue(self, subject: x509.Name, *, server_names: tuple[str, ...] = (), signing: bool = False,
               validity: dt.timedelta = VALIDITY, not_before: dt.datetime | None = None) -> KeyPair:
        if server_names and signing:
            raise ValueError("a DMP test certificate is either a TLS server or a signing certificate")
        start = not_before or self._now
        usage = None
        if server_names:
            usage = key_usage(digital_signature=True, key_encipherment=True)
        elif signing:
            usage = key_usage(digital_signature=True, content_commitment=True)
        return issue(self.ca, subject, rsa_key(KEY_BITS), not_before=start, not_after=start + validity,
                     usage=usage, hosts=server_names,
                     extended_usages=(ExtendedKeyUsageOID.SERVER_AUTH,) if server_names else ())

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
