"""Shared mechanics of the harness's small test PKIs: keys, names, a CA, leaves, a CRL.

Why shared: the DMP domain (RSA "cachet" signing and HTTPS server certificates, ``conformance/dmp/pki.py``)
and the MSSanté domain (EC IGC-Santé-like CA, operator and mailbox certificates, CRL,
``conformance/mss/pki.py``) both need to mint X.509 material on the fly, never touching real key material
or the internet. This module holds only the mechanics; which certificates exist, their names, validity
and variants stay in the domain modules. ``cryptography`` only.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TypeAlias

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID, ObjectIdentifier

PrivateKey: TypeAlias = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def ec_key() -> ec.EllipticCurvePrivateKey:
    """EC P-256: a whole PKI in well under a second."""
    return ec.generate_private_key(ec.SECP256R1())


def name(common_name: str, organisation: str, unit: str = "") -> x509.Name:
    """C=FR, O=organisation, [OU=unit,] CN=common_name."""
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
             x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation)]
    if unit:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


def key_usage(*, digital_signature: bool = False, content_commitment: bool = False,
              key_encipherment: bool = False, key_agreement: bool = False,
              key_cert_sign: bool = False, crl_sign: bool = False) -> x509.KeyUsage:
    """A KeyUsage with only the named bits set (data encipherment and en/decipher-only never are)."""
    return x509.KeyUsage(digital_signature=digital_signature, content_commitment=content_commitment,
                         key_encipherment=key_encipherment, data_encipherment=False,
                         key_agreement=key_agreement, key_cert_sign=key_cert_sign, crl_sign=crl_sign,
                         encipher_only=False, decipher_only=False)


@dataclass(frozen=True)
class CertKey:
    """A certificate and its private key, with the PEM forms TLS stacks and signers load."""

    cert: x509.Certificate
    key: PrivateKey

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

    @property
    def serial(self) -> int:
        return self.cert.serial_number


def create_ca(subject: x509.Name, key: PrivateKey, *, not_before: dt.datetime,
              not_after: dt.datetime) -> CertKey:
    """A self-signed CA (keyCertSign + cRLSign, no path length limit), SHA-256."""
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject).issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before).not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(key_usage(key_cert_sign=True, crl_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return CertKey(cert, key)


def host_names(hosts: Iterable[str]) -> list[x509.GeneralName]:
    """SAN entries for hosts: an IP address where the text is one, a DNS name otherwise."""
    out: list[x509.GeneralName] = []
    for host in hosts:
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            out.append(x509.DNSName(host))
    return out


def issue(ca: CertKey, subject: x509.Name, key: PrivateKey, *, not_before: dt.datetime,
          not_after: dt.datetime, usage: x509.KeyUsage | None = None,
          extended_usages: Sequence[ObjectIdentifier] = (), hosts: Sequence[str] = (),
          emails: Sequence[str] = (), crl_url: str | None = None) -> CertKey:
    """An end-entity certificate for ``key`` signed by ``ca`` (SHA-256).

    ``usage`` is critical when given; ``hosts`` (IP or DNS) then ``emails`` form the SAN; ``crl_url``
    adds a CRL distribution point.
    """
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject).issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before).not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
                       critical=False)
    )
    if usage is not None:
        builder = builder.add_extension(usage, critical=True)
    if extended_usages:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(extended_usages)), critical=False)
    sans = host_names(hosts) + [x509.RFC822Name(e) for e in emails]
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    if crl_url:
        builder = builder.add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
            full_name=[x509.UniformResourceIdentifier(crl_url)], relative_name=None,
            reasons=None, crl_issuer=None)]), critical=False)
    return CertKey(builder.sign(ca.key, hashes.SHA256()), key)


def build_crl(ca: CertKey, serials: Iterable[int], *, last_update: dt.datetime, next_update: dt.datetime,
              revoked_at: dt.datetime) -> x509.CertificateRevocationList:
    """A CRL of ``ca`` listing ``serials`` (in ascending order), all revoked at ``revoked_at``."""
    builder = (x509.CertificateRevocationListBuilder().issuer_name(ca.cert.subject)
               .last_update(last_update).next_update(next_update))
    for serial in sorted(serials):
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(revoked_at).build())
    return builder.sign(ca.key, hashes.SHA256())
