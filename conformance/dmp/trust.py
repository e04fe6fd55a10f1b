"""Trust in the certificates that sign a VIHF or a XAdES signature document: path validation to the
test trust anchors the candidate declares (its IGC-Santé test chain).

A valid XML signature only proves that the bytes were signed by the key of the certificate sent along
with them; anyone can make such a certificate. What the DMP checks, and what the harness must check
too, is that this certificate chains to an authority it trusts and was valid when it signed. Path
validation is done by ``cryptography.x509.verification`` (RFC 5280 path building, CA constraints,
validity periods), not by hand: the candidate's leaf is an end entity used for signing (not a TLS
client), so any end-entity extension is accepted but keyUsage, when present, must allow signing.

Where the anchors come from: ``--dmp-trust FILE|DIR`` (ini ``dmp_trust``,
environment ``SEGUR_DMP_TRUST``), ``dmp/trust/*.pem`` in an artefact folder, and the embedded reference
sandbox's own test PKI. Without any anchor, trust is *not evaluated*: the signature proofs are then
"non évalué", never passed.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from conformance.findings import Finding

if TYPE_CHECKING:
    from conformance.dmp.engine import Check

ENV_TRUST = "SEGUR_DMP_TRUST"
MAX_ANCHOR_FILES = 64
MAX_ANCHOR_BYTES = 1024 * 1024
MAX_CHAIN_DEPTH = 8

HINT_FR = ("déclarez les ancres de confiance de test du candidat (sa chaîne IGC-Santé de test, PEM) : "
           "--dmp-trust FICHIER|DOSSIER, ini dmp_trust, variable SEGUR_DMP_TRUST, ou dmp/trust/*.pem en mode "
           "artefacts")
HINT_EN = ("declare the candidate's test trust anchors (its IGC-Santé test chain, PEM): --dmp-trust FILE|DIR, "
           "ini dmp_trust, environment SEGUR_DMP_TRUST, or dmp/trust/*.pem in artefact mode")
#: rules that say "trust not evaluated" (the suites turn them into a "not evaluated" verdict)
NOT_EVALUATED_RULES = ("DMP.VIHF.trust_not_evaluated", "DMP.DSG.trust_not_evaluated")


class TrustConfigError(ValueError):
    """A declared anchor file cannot be used (unreadable, no certificate)."""


def load_anchors(path: Path | str) -> list[x509.Certificate]:
    """Every certificate of a PEM file, or of the ``*.pem``/``*.crt`` files of a folder (bounded)."""
    p = Path(path).expanduser()
    files = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in (".pem", ".crt", ".cer")) \
        if p.is_dir() else [p]
    if len(files) > MAX_ANCHOR_FILES:
        raise TrustConfigError(f"{p}: more than {MAX_ANCHOR_FILES} anchor files")
    out: list[x509.Certificate] = []
    for f in files:
        try:
            if f.stat().st_size > MAX_ANCHOR_BYTES:
                raise TrustConfigError(f"{f}: anchor file larger than {MAX_ANCHOR_BYTES} bytes")
            data = f.read_bytes()
        except OSError as exc:
            raise TrustConfigError(f"{f}: {exc.strerror}") from None
        try:
            out.extend(x509.load_pem_x509_certificates(data))
        except ValueError:
            try:
                out.append(x509.load_der_x509_certificate(data))
            except ValueError:
                raise TrustConfigError(f"{f}: no PEM or DER certificate") from None
    if not out:
        raise TrustConfigError(f"{p}: no certificate")
    return out


def _signing_key_usage(_policy: object, _cert: x509.Certificate, ku: x509.KeyUsage | None) -> None:
    if ku is not None and not (ku.digital_signature or ku.content_commitment):
        raise ValueError("keyUsage allows neither digitalSignature nor nonRepudiation")


def verify_chain(cert: x509.Certificate, intermediates: Sequence[x509.Certificate],
                 anchors: Sequence[x509.Certificate], when: dt.datetime) -> str | None:
    """None when ``cert`` chains to one of ``anchors`` and every certificate is valid at ``when``;
    otherwise the reason (the library's words)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    ee_policy = ExtensionPolicy.permit_all().may_be_present(x509.KeyUsage, Criticality.AGNOSTIC, _signing_key_usage)
    try:
        verifier = (PolicyBuilder().store(Store(list(anchors))).time(when).max_chain_depth(MAX_CHAIN_DEPTH)
                    .extension_policies(ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=ee_policy)
                    .build_client_verifier())
        verifier.verify(cert, list(intermediates))
    except VerificationError as exc:
        return str(exc)[:300]
    except ValueError as exc:  # e.g. an empty store
        return str(exc)[:300]
    return None


def valid_at(cert: x509.Certificate, when: dt.datetime) -> bool:
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return cert.not_valid_before_utc <= when <= cert.not_valid_after_utc


def certificates_in(elements: Sequence[str]) -> list[x509.Certificate]:
    """The DER certificates of base64 ``X509Certificate`` texts (unreadable ones skipped)."""
    import base64
    import binascii

    out = []
    for text in elements[:MAX_CHAIN_DEPTH + 2]:
        try:
            out.append(x509.load_der_x509_certificate(base64.b64decode("".join(text.split()))))
        except (ValueError, binascii.Error):
            continue
    return out


def trust_findings(cert: x509.Certificate, others: Sequence[x509.Certificate],
                   anchors: Sequence[x509.Certificate] | None, when: dt.datetime, *, c: Check, prefix: str,
                   what_fr: str, what_en: str, xpath: str) -> list[Finding]:
    """Findings on the trust in a signing certificate, made by the calling check ``c`` (``prefix`` is
    DMP.VIHF or DMP.DSG: the rules ``<prefix>.trust_not_evaluated|cert_validity|untrusted|trusted`` and
    their severities are that check's, in profiles/dmp/checks.yaml).

    ``others`` are the other certificates sent with the signature (possible intermediates); ``when`` is
    the signing time. No anchors: one WARNING ``<prefix>.trust_not_evaluated`` that says what to
    configure (the suites turn it into "not evaluated"). Otherwise an ERROR when the certificate was
    not valid at ``when`` or does not chain to an anchor, else an INFO that the chain held.
    """
    stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    if not anchors:
        return [c(f"{prefix}.trust_not_evaluated",
                  f"chaîne de confiance du certificat {what_fr} non évaluée : aucune ancre de confiance "
                  f"déclarée ; {HINT_FR}", f"{what_en} certificate trust chain not evaluated: no trust anchor "
                  f"declared; {HINT_EN}", expected="chaîne vers une ancre déclarée", found="aucune ancre",
                  xpath=xpath)]
    if not valid_at(cert, when):
        return [c(f"{prefix}.cert_validity",
                  f"certificat {what_fr} hors de sa période de validité à la date de signature ({stamp})",
                  f"{what_en} certificate outside its validity period at signing time ({stamp})",
                  expected=f"{cert.not_valid_before_utc:%Y-%m-%d} … {cert.not_valid_after_utc:%Y-%m-%d}",
                  found=stamp, xpath=xpath)]
    reason = verify_chain(cert, others, anchors, when)
    if reason is not None:
        return [c(f"{prefix}.untrusted",
                  f"certificat {what_fr} : la chaîne ne remonte pas à une ancre de confiance déclarée ({reason})",
                  f"{what_en} certificate does not chain to a declared trust anchor ({reason})",
                  expected="chaîne vers une ancre déclarée (IGC-Santé de test)",
                  found=f"émetteur : {cert.issuer.rfc4514_string()}"[:300], xpath=xpath)]
    return [c(f"{prefix}.trusted",
              f"certificat {what_fr} : chaîne vérifiée jusqu'à une ancre déclarée, valide à la date de signature",
              f"{what_en} certificate chains to a declared anchor and was valid at signing time", xpath=xpath)]


def resolve_anchors(config: Any) -> tuple[list[x509.Certificate] | None, str]:
    """The test trust anchors a run declares, and where they came from (``""`` when none).

    ``config`` is the plugin's ``SegurConfig``: ``dmp_trust`` (option, ini or ``SEGUR_DMP_TRUST``), else
    ``<artefacts>/dmp/trust/`` in artefact mode, else the embedded reference sandbox's own test PKI.
    Raises ``TrustConfigError`` when a declared file holds no usable certificate.
    """
    path = getattr(config, "dmp_trust", None) or os.environ.get(ENV_TRUST) or None
    if path:
        return load_anchors(path), f"--dmp-trust {path}"
    artefacts = getattr(config, "artefacts_dir", None)
    if artefacts is not None and (Path(artefacts) / "dmp" / "trust").is_dir():
        folder = Path(artefacts) / "dmp" / "trust"
        return load_anchors(folder), str(folder)
    if getattr(config, "sandbox_url", None) == "reference":
        from conformance.reference import ReferenceMissing, load_reference

        try:  # the embedded sandbox hands its test CA through its entry point, never by import
            pem = load_reference().dmp_trust_anchors_pem()
        except ReferenceMissing as exc:
            raise TrustConfigError(str(exc)) from None
        return list(x509.load_pem_x509_certificates(pem)), "bac à sable de référence (IGC de test)"
    return None, ""
