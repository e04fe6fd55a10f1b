"""The reference DUI's own test PKI: one CA and the structure "cachet" certificates that sign its VIHF and
its XAdES signature documents (DMP, indirect authentication).

A real DUI signs with its structure's IGC-Santé organisation certificate and declares its IGC-Santé *test*
chain to the harness (``run --dmp-trust``). This sandbox makes its own chain with ``cryptography`` (RFC 5280
profile: CA with critical basicConstraints and keyCertSign, leaves with AKI/SKI and a signing keyUsage) and
hands the CA to the harness through the entry point (``entry.dmp_trust_anchors_pem``), never through the
harness's code. RSA 2048 and SHA-256, as in the ANS VIHF example. One PKI per process (key generation costs
tens of milliseconds).
"""

from __future__ import annotations

import datetime as dt
import functools
import threading
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

KEY_BITS = 2048
VALIDITY = dt.timedelta(days=30)


@dataclass(frozen=True)
class Signer:
    """A signing certificate and its private key."""

    cert: x509.Certificate
    key: rsa.RSAPrivateKey

    @property
    def cert_der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def subject_dn(self) -> str:
        return self.cert.subject.rfc4514_string()


def _name(cn: str, org: str, ou: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
                      x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)


class DuiPki:
    """The CA of this DUI's test chain and the cachets it issued (one per structure)."""

    def __init__(self) -> None:
        self._start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
        self._ca_key = _key()
        name = _name("DUI de référence - AC de test", "DUI de référence (TEST)", "IGC de test du DUI (factice)")
        public = self._ca_key.public_key()
        self.ca = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(public)
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(self._start).not_valid_after(self._start + VALIDITY)
                   .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                   .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                                key_encipherment=False, data_encipherment=False, key_agreement=False,
                                                key_cert_sign=True, crl_sign=True, encipher_only=False,
                                                decipher_only=False), critical=True)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
                   .sign(self._ca_key, hashes.SHA256()))
        self._cachets: dict[str, Signer] = {}
        self._lock = threading.Lock()

    @property
    def ca_pem(self) -> bytes:
        return self.ca.public_bytes(serialization.Encoding.PEM)

    def cachet(self, structure_id: str, org: str = "DUI de référence") -> Signer:
        """The structure's signing certificate ("cachet"), made once per structure."""
        with self._lock:
            if structure_id not in self._cachets:
                key = _key()
                public = key.public_key()
                ski = x509.SubjectKeyIdentifier.from_public_key(self._ca_key.public_key())
                cert = (x509.CertificateBuilder()
                        .subject_name(_name(f"{org} - cachet {structure_id}", org, structure_id))
                        .issuer_name(self.ca.subject).public_key(public)
                        .serial_number(x509.random_serial_number())
                        .not_valid_before(self._start).not_valid_after(self._start + VALIDITY)
                        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True,
                                                     key_encipherment=False, data_encipherment=False,
                                                     key_agreement=False, key_cert_sign=False, crl_sign=False,
                                                     encipher_only=False, decipher_only=False), critical=True)
                        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
                        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski),
                                       critical=False)
                        .sign(self._ca_key, hashes.SHA256()))
                self._cachets[structure_id] = Signer(cert, key)
            return self._cachets[structure_id]


@functools.cache
def default_pki() -> DuiPki:
    return DuiPki()


def dmp_trust_anchors_pem() -> bytes:
    """The test trust anchor of this DUI's signing certificates (VIHF, XAdES), PEM."""
    return default_pki().ca_pem
