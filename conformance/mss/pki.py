"""An IGC-Santé-like test PKI for the MSSanté simulator: one CA, operator server certificates, ORG client
certificates for applicative mailboxes, and their expired, revoked and untrusted variants.

Why our own PKI: Référentiel #2 makes IGC-Santé the only accepted CA (ECO.1.1.10) and the REM asks the
DUI to refuse expired or revoked operator certificates (DUI.MSS.05/06). A test CA generated on the fly
lets the simulator present each case for real over TLS, without any real key material in the project.
EC P-256 keys keep generation fast (a whole PKI in well under a second); the hierarchy is flattened to
one CA because chain length is not what the REM checks. The X.509 mechanics (CA, leaves, CRL, PEM forms)
are shared with the DMP domain in ``conformance/pki.py``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from conformance.pki import CertKey, build_crl, create_ca, ec_key, issue, key_usage
from conformance.pki import name as x509_name

CA_NAME = "TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS"
ROGUE_CA_NAME = "AC NON RECONNUE (TEST)"
OPERATOR_NAME = "operateur-mss.test"
DEFAULT_HOSTS = ("127.0.0.1", "localhost")

#: A certificate with its private key (``cert_pem``, ``key_pem``, ``serial``).
Issued = CertKey


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _name(common_name: str, organisation: str = "SEGUR-CONFORMANCE TEST", unit: str = "") -> x509.Name:
    return x509_name(common_name, organisation, unit)


class _Authority:
    """One signing CA (the trusted test IGC-Santé, or a rogue one for "untrusted" cases)."""

    def __init__(self, common_name: str, crl_url: str | None) -> None:
        now = _now()
        self.issued = create_ca(_name(common_name, unit="IGC-SANTE TEST"), ec_key(),
                                not_before=now - dt.timedelta(days=365), not_after=now + dt.timedelta(days=3650))
        self.crl_url = crl_url

    def issue(self, common_name: str, *, server_hosts: tuple[str, ...] = (), email: str = "",
              days_before: int = 1, days_after: int = 365, unit: str = "") -> Issued:
        now = _now()
        purpose = ExtendedKeyUsageOID.SERVER_AUTH if server_hosts else ExtendedKeyUsageOID.CLIENT_AUTH
        return issue(self.issued, _name(common_name, unit=unit), ec_key(),
                     not_before=now - dt.timedelta(days=days_before),
                     not_after=now + dt.timedelta(days=days_after),
                     usage=key_usage(digital_signature=True, key_agreement=True), extended_usages=(purpose,),
                     hosts=server_hosts, emails=(email,) if email else (), crl_url=self.crl_url)


@dataclass
class TestPki:
    """The whole test PKI of one simulator run (see the module docstring for why)."""

    __test__ = False  # not a pytest test class despite its name

    ca: Issued
    server: Issued
    server_expired: Issued
    server_revoked: Issued
    server_untrusted: Issued
    server_wrong_host: Issued
    rogue_ca: Issued
    crl_url: str | None = None
    revoked_serials: set[int] = field(default_factory=set)
    _authority: _Authority | None = None

    @classmethod
    def create(cls, *, hosts: tuple[str, ...] = DEFAULT_HOSTS, crl_url: str | None = None) -> TestPki:
        authority = _Authority(CA_NAME, crl_url)
        rogue = _Authority(ROGUE_CA_NAME, None)
        unit = "OPERATEUR MSSANTE TEST"
        pki = cls(
            ca=authority.issued,
            server=authority.issue(OPERATOR_NAME, server_hosts=hosts, unit=unit),
            server_expired=authority.issue(OPERATOR_NAME, server_hosts=hosts, days_before=400,
                                           days_after=-1, unit=unit),
            server_revoked=authority.issue(OPERATOR_NAME, server_hosts=hosts, unit=unit),
            server_untrusted=rogue.issue(OPERATOR_NAME, server_hosts=hosts, unit=unit),
            server_wrong_host=authority.issue("autre-operateur.test", server_hosts=("autre-operateur.test",),
                                              unit=unit),
            rogue_ca=rogue.issued,
            crl_url=crl_url,
            _authority=authority,
        )
        pki.revoked_serials.add(pki.server_revoked.serial)
        return pki

    # -- client certificates of applicative mailboxes (ORG AUTH_CLI) -----------------------------
    def organisation(self, mailbox: str, *, variant: str = "valid") -> Issued:
        """An ORG authentication certificate for a BAL applicative (variant: valid|expired|revoked|untrusted)."""
        assert self._authority is not None
        cn = f"BAL APPLICATIVE {mailbox.split('@')[0].upper()}"[:64]
        if variant == "untrusted":
            return _Authority(ROGUE_CA_NAME, None).issue(cn, email=mailbox, unit="AUTH_CLI")
        if variant == "expired":
            return self._authority.issue(cn, email=mailbox, days_before=400, days_after=-1, unit="AUTH_CLI")
        issued = self._authority.issue(cn, email=mailbox, unit="AUTH_CLI")
        if variant == "revoked":
            self.revoked_serials.add(issued.serial)
        elif variant != "valid":
            raise ValueError(f"unknown certificate variant {variant!r}")
        return issued

    # -- revocation --------------------------------------------------------------------------------
    def crl(self) -> x509.CertificateRevocationList:
        now = _now()
        return build_crl(self.ca, self.revoked_serials, last_update=now - dt.timedelta(minutes=5),
                         next_update=now + dt.timedelta(days=7), revoked_at=now - dt.timedelta(days=1))

    def crl_pem(self) -> bytes:
        return self.crl().public_bytes(serialization.Encoding.PEM)

    def crl_der(self) -> bytes:
        return self.crl().public_bytes(serialization.Encoding.DER)

    def is_revoked(self, cert: x509.Certificate) -> bool:
        return cert.serial_number in self.revoked_serials

    def trust_bundle(self, *, with_crl: bool = True) -> str:
        """What a client is given as ``ca_pem``: the CA certificate, then its current CRL."""
        text = self.ca.cert_pem.decode("ascii")
        if with_crl:
            text += self.crl_pem().decode("ascii")
        return text

    def is_trusted(self, cert: x509.Certificate) -> bool:
        """Signed by our CA and within its validity dates (the checks a TLS stack does, for logs)."""
        try:
            cert.verify_directly_issued_by(self.ca.cert)
        except (InvalidSignature, ValueError, TypeError):
            return False
        now = _now()
        return cert.not_valid_before_utc <= now <= cert.not_valid_after_utc


def certificate_facts(cert: x509.Certificate) -> dict[str, str]:
    """Loggable facts of a certificate (subject, issuer, serial, dates, e-mail SAN)."""
    emails: list[str] = []
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        emails = [str(v) for v in san.get_values_for_type(x509.RFC822Name)]
    except x509.ExtensionNotFound:
        pass
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "serial": format(cert.serial_number, "x"),
        "not_before": cert.not_valid_before_utc.isoformat(),
        "not_after": cert.not_valid_after_utc.isoformat(),
        "email": emails[0] if emails else "",
    }


def split_bundle(pem: str | bytes) -> tuple[list[x509.Certificate], list[x509.CertificateRevocationList]]:
    """Certificates and CRLs of a PEM bundle (the ``ca_pem`` of the contract); bad blocks are skipped."""
    text = pem.decode("ascii", "replace") if isinstance(pem, bytes) else pem
    certs: list[x509.Certificate] = []
    crls: list[x509.CertificateRevocationList] = []
    for kind, block in _pem_blocks(text):
        try:
            if kind == "CERTIFICATE":
                certs.append(x509.load_pem_x509_certificate(block.encode("ascii")))
            elif kind == "X509 CRL":
                crls.append(x509.load_pem_x509_crl(block.encode("ascii")))
        except ValueError:
            continue
    return certs, crls


def _pem_blocks(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while len(out) < 64:
        start = text.find("-----BEGIN ", pos)
        if start < 0:
            break
        label_end = text.find("-----", start + 11)
        if label_end < 0:
            break
        kind = text[start + 11:label_end]
        end_marker = f"-----END {kind}-----"
        end = text.find(end_marker, label_end)
        if end < 0:
            break
        out.append((kind, text[start:end + len(end_marker)] + "\n"))
        pos = end + len(end_marker)
    return out
