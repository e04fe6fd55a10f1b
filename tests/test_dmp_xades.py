"""The XAdES signature document: a good one covers every document; each broken one fails (D7)."""

from __future__ import annotations

import base64
import dataclasses
import hashlib

import pytest
from lxml import etree
from signxml import XMLSigner, methods
from signxml.algorithms import CanonicalizationMethod
from signxml.xades import XAdESSigner

from conformance.dmp import ns
from conformance.dmp.pki import TestPki, default_pki
from conformance.dmp.xades import build_signature_document, check_signature_document, manifest

DOCS = [("1.2.250.1.999.3.1", b"<ClinicalDocument>un</ClinicalDocument>"),
        ("1.2.250.1.999.3.2^EXT", b"<ClinicalDocument>deux</ClinicalDocument>")]


@pytest.fixture(scope="module")
def cachet():
    return default_pki().cachet("1750000000")


def errors(findings) -> set[str]:
    return {f.rule for f in findings if f.is_error}


def test_good_signature_covers_every_document(cachet) -> None:
    sig = build_signature_document(DOCS, cachet)
    found = check_signature_document(sig, dict(DOCS), trust=[default_pki().ca.cert])
    assert not errors(found) and "DMP.DSG.ok" in {f.rule for f in found}


def test_sha1_manifest_is_accepted(cachet) -> None:
    sig = build_signature_document(DOCS, cachet, digest="sha1")
    assert not errors(check_signature_document(sig, dict(DOCS)))


def test_changed_document_and_uncovered_document(cachet) -> None:
    sig = build_signature_document(DOCS[:1], cachet)
    found = check_signature_document(sig, {DOCS[0][0]: b"<autre/>", DOCS[1][0]: DOCS[1][1]})
    assert errors(found) == {"DMP.DSG.digest_mismatch", "DMP.DSG.not_covered"}


def test_tampering_breaks_the_signature(cachet) -> None:
    sig = build_signature_document(DOCS, cachet)
    assert errors(check_signature_document(sig.replace(b"1.2.250.1.999.3.1", b"1.2.250.1.999.3.9"),
                                           dict(DOCS))) == {"DMP.DSG.signature"}


def test_unsigned_manifest_proves_nothing(cachet) -> None:
    """A plain XML-DSig over an unrelated object, with the Manifest beside it unsigned."""
    holder = etree.Element("Donnees", Id="data")
    holder.text = "rien"
    sig = XMLSigner(method=methods.enveloping, signature_algorithm="rsa-sha256", digest_algorithm="sha256").sign(
        holder, key=cachet.key_pem, cert=cachet.cert_pem.decode())
    obj = etree.SubElement(sig, f"{{{ns.DS}}}Object")
    obj.append(manifest(DOCS))
    found = errors(check_signature_document(etree.tostring(sig), dict(DOCS)))
    assert "DMP.DSG.manifest_unsigned" in found and "DMP.DSG.not_xades" in found


def test_tampered_signed_properties_break_the_signature(cachet) -> None:
    root = etree.fromstring(build_signature_document(DOCS, cachet))
    value = root.find(f".//{{{ns.XADES132}}}CertDigest/{{{ns.DS}}}DigestValue")
    value.text = base64.b64encode(hashlib.sha256(b"autre").digest()).decode()
    assert errors(check_signature_document(etree.tostring(root), dict(DOCS))) == {"DMP.DSG.signature"}


def test_signing_certificate_property_must_name_the_key_info_certificate(cachet) -> None:
    """Correctly signed, but xades:SigningCertificate names another certificate."""
    other = TestPki("other").cachet()

    class ForeignCertSigner(XAdESSigner):
        def add_signing_certificate(self, ssp, sig_root, signing_settings):  # type: ignore[no-untyped-def]
            super().add_signing_certificate(ssp, sig_root, dataclasses.replace(signing_settings,
                                                                               cert_chain=[other.cert]))

    signer = ForeignCertSigner(method=methods.enveloping, signature_algorithm="rsa-sha256", digest_algorithm="sha256",
                               c14n_algorithm=CanonicalizationMethod.CANONICAL_XML_1_0)
    sig = signer.sign(manifest(DOCS), key=cachet.key_pem, cert=cachet.cert_pem.decode(), always_add_key_value=False)
    assert errors(check_signature_document(etree.tostring(sig), dict(DOCS))) == {"DMP.DSG.signing_certificate"}


def test_untrusted_and_unreadable(cachet) -> None:
    sig = build_signature_document(DOCS, TestPki("other").cachet())
    assert errors(check_signature_document(sig, dict(DOCS), trust=[default_pki().ca.cert])) == {"DMP.DSG.untrusted"}
    assert errors(check_signature_document(None, dict(DOCS))) == {"DMP.DSG.no_content"}
    assert errors(check_signature_document(b"<x/>", dict(DOCS))) == {"DMP.DSG.not_signature"}
    assert errors(check_signature_document(b"<!DOCTYPE x [<!ENTITY e 'b'>]><x>&e;</x>", {})) == {"DMP.DSG.unreadable"}
    no_cert = etree.fromstring(build_signature_document(DOCS, cachet))
    ki = no_cert.find(f"{{{ns.DS}}}KeyInfo")
    ki.getparent().remove(ki)
    assert errors(check_signature_document(etree.tostring(no_cert), dict(DOCS))) == {"DMP.DSG.no_certificate"}


def test_unknown_bytes_are_checked_by_uri_only(cachet) -> None:
    sig = build_signature_document(DOCS, cachet)
    assert not errors(check_signature_document(sig, {DOCS[0][0]: None}))
