"""The DMP signature document: a XAdES signature whose ds:Manifest lists every submitted document.

The DMP wants each ITI-41 submission signed (protocols.md §1.3): an extra DocumentEntry (IHE DSG codes)
whose content is an XML signature made with the structure's certificate. As in IHE DSG and the
DRIMbox client, the signature covers a ``ds:Manifest`` with one ``ds:Reference URI="urn:oid:<uniqueId>"``
per document, carrying the digest of the document's bytes, plus the XAdES ``SignedProperties``.

Building uses signxml's ``XAdESSigner`` (enveloping: the Manifest goes in a signed ``ds:Object``), with
inclusive c14n 1.0 because XML-DSig says a Reference without Transforms is canonicalised with it.
Checking verifies the XML signature with signxml, then does what no library does for us: finds the
Manifest *inside the signed data* (an unsigned Manifest proves nothing), and compares its digests with
the documents actually sent.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from lxml import etree
from signxml import InvalidInput, InvalidSignature, SignatureConfiguration, XMLVerifier, methods
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod
from signxml.exceptions import InvalidCertificate, InvalidDigest, SignXMLException
from signxml.xades import XAdESDataObjectFormat, XAdESSigner

from conformance.dmp import ns
from conformance.dmp.pki import KeyPair
from conformance.dmp.trust import certificates_in, trust_findings
from conformance.findings import Finding, error, info, warning
from conformance.ihe.ns import q
from conformance.safexml import XmlRejected, parse_bytes

REQ = ("DUI.DMP.01",)
DIGESTS = {
    "http://www.w3.org/2000/09/xmldsig#sha1": "sha1",
    "http://www.w3.org/2001/04/xmlenc#sha256": "sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha384": "sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512": "sha512",
}
DIGEST_URI = {v: k for k, v in DIGESTS.items()}
C14N_TRANSFORMS = {
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315": (False, False),
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments": (False, True),
    "http://www.w3.org/2001/10/xml-exc-c14n#": (True, False),
    "http://www.w3.org/2001/10/xml-exc-c14n#WithComments": (True, True),
}
XADES_NAMESPACES = (ns.XADES132, ns.XADES111, ns.XADES141)


def manifest(documents: Sequence[tuple[str, bytes]], digest: str = "sha256") -> etree._Element:
    """``ds:Manifest`` with one Reference per (uniqueId, bytes)."""
    m = etree.Element(q(ns.DS, "Manifest"), {"Id": "IHEManifest"}, nsmap={"ds": ns.DS})
    for unique_id, data in documents:
        ref = etree.SubElement(m, q(ns.DS, "Reference"), URI=f"urn:oid:{unique_id}")
        etree.SubElement(ref, q(ns.DS, "DigestMethod"), Algorithm=DIGEST_URI[digest])
        etree.SubElement(ref, q(ns.DS, "DigestValue")).text = base64.b64encode(
            hashlib.new(digest, data).digest()).decode("ascii")
    return m


def build_signature_document(documents: Sequence[tuple[str, bytes]], keypair: KeyPair, *,
                             digest: str = "sha256") -> bytes:
    """The content of the signature DocumentEntry: an enveloping XAdES-BES over the documents' Manifest."""
    signer = XAdESSigner(method=methods.enveloping, signature_algorithm="rsa-sha256", digest_algorithm="sha256",
                         c14n_algorithm=CanonicalizationMethod.CANONICAL_XML_1_0,
                         data_object_format=XAdESDataObjectFormat(Description="Manifeste des documents soumis "
                                                                  "au DMP (IHE DSG)", MimeType="text/xml"))
    sig = signer.sign(manifest(documents, digest), key=keypair.key_pem, cert=keypair.cert_pem.decode("ascii"),
                      always_add_key_value=False)
    return etree.tostring(sig, xml_declaration=True, encoding="UTF-8")


# ---------------------------------------------------------------------------------------------
# checking
# ---------------------------------------------------------------------------------------------
_CONFIG: dict[str, Any] = dict(expect_references=True, signature_methods=frozenset(SignatureMethod),
                               digest_algorithms=frozenset(DigestAlgorithm), ignore_ambiguous_key_info=True)
_DEFAULT_C14N_TRIES = (CanonicalizationMethod.CANONICAL_XML_1_0, CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
                       CanonicalizationMethod.CANONICAL_XML_1_1)


def _verify(data: bytes, cert: x509.Certificate, now: dt.datetime) -> tuple[list, str]:
    """signxml verification; retries the implicit reference canonicalisation the way real signers vary."""
    last: Exception | None = None
    for method in _DEFAULT_C14N_TRIES:
        config = SignatureConfiguration(default_reference_c14n_method=method, verification_time=now,
                                        **_CONFIG)
        try:
            results = XMLVerifier().verify(data, x509_cert=cert, expect_config=config)
            return (results if isinstance(results, list) else [results]), method.value
        except InvalidDigest as exc:
            last = exc
            continue
    assert last is not None
    raise last


def document_digest(data: bytes, algorithm: str, transforms: Sequence[str]) -> str:
    """Base64 digest of a document, after the c14n transform a Reference may declare."""
    payload = data
    for t in transforms:
        if t in C14N_TRANSFORMS:
            exclusive, comments = C14N_TRANSFORMS[t]
            try:
                tree = parse_bytes(data)
                payload = etree.tostring(tree, method="c14n", exclusive=exclusive, with_comments=comments)
            except XmlRejected:
                payload = data
    return base64.b64encode(hashlib.new(algorithm, payload).digest()).decode("ascii")


def check_signature_document(content: bytes | None, documents: Mapping[str, bytes | None], *, artefact: str = "",
                             trust: Sequence[x509.Certificate] | None = None, now: dt.datetime | None = None,
                             submission_set_uid: str = "", requirements: tuple[str, ...] = REQ) -> list[Finding]:
    """D7 content part: a valid XAdES signature whose signed Manifest covers every document sent.

    ``documents`` maps each submitted document's uniqueId to its bytes (None when the bytes were not
    available, e.g. an unresolved xop:Include: coverage is then checked by uniqueId only).
    """
    reqs = requirements
    now = now or dt.datetime.now(dt.UTC)
    where: dict[str, Any] = {"artefact": artefact, "requirements": reqs}
    if content is None:
        return [error("contenu du document de signature absent (partie MIME manquante)",
                      "signature document content missing (MIME part missing)", rule="DMP.DSG.no_content",
                      **where)]
    try:
        root = parse_bytes(content).getroot()
    except XmlRejected as exc:
        return [error(f"document de signature illisible : {exc.reason}", f"unreadable signature document: "
                      f"{exc.reason_en}", rule="DMP.DSG.unreadable", line=exc.line, **where)]
    if root.tag != q(ns.DS, "Signature"):
        return [error("le document de signature n'est pas une ds:Signature", "the signature document is not a "
                      "ds:Signature", rule="DMP.DSG.not_signature", xpath="/", expected="ds:Signature",
                      found=str(root.tag), **where)]
    out: list[Finding] = []
    cert_els = root.findall(f"{q(ns.DS, 'KeyInfo')}/{q(ns.DS, 'X509Data')}/{q(ns.DS, 'X509Certificate')}")
    cert_el = cert_els[0] if cert_els else None
    try:
        cert = x509.load_der_x509_certificate(base64.b64decode("".join((cert_el.text or "").split())))
    except (AttributeError, ValueError):
        return [error("document de signature sans certificat X.509 lisible dans KeyInfo",
                      "signature document without a readable X.509 certificate in KeyInfo",
                      rule="DMP.DSG.no_certificate", xpath="/Signature/KeyInfo", **where)]
    try:
        results, c14n_used = _verify(content, cert, now)
    except InvalidCertificate as exc:
        return [error(f"certificat du document de signature invalide : {exc}", f"invalid signature document "
                      f"certificate: {exc}", rule="DMP.DSG.cert_validity", **where)]
    except (InvalidSignature, InvalidDigest, InvalidInput, SignXMLException, etree.LxmlError, ValueError) as exc:
        return [error(f"signature XAdES invalide : {type(exc).__name__}: {str(exc)[:200]}",
                      f"invalid XAdES signature: {type(exc).__name__}: {str(exc)[:200]}", rule="DMP.DSG.signature",
                      xpath="/Signature", expected="signature valide", found="vérification en échec",
                      **where)]
    if c14n_used != CanonicalizationMethod.CANONICAL_XML_1_0.value:
        out.append(warning("référence sans Transforms canonisée autrement qu'en C14N 1.0 (défaut XML-DSig)",
                           "reference without Transforms canonicalised otherwise than C14N 1.0 (XML-DSig default)",
                           rule="DMP.DSG.implicit_c14n", expected=CanonicalizationMethod.CANONICAL_XML_1_0.value,
                           found=c14n_used, **where))
    signed = [r.signed_xml for r in results if r.signed_xml is not None]
    manifests = [m for s in signed for m in s.iter(q(ns.DS, "Manifest"))]
    if not manifests:
        has_any = root.find(f".//{q(ns.DS, 'Manifest')}") is not None
        out.append(error("aucun ds:Manifest couvert par la signature" + (" (un Manifest existe mais n'est pas signé)"
                                                                          if has_any else ""),
                         "no ds:Manifest covered by the signature" + (" (a Manifest exists but is not signed)"
                                                                      if has_any else ""),
                         rule="DMP.DSG.manifest_unsigned" if has_any else "DMP.DSG.no_manifest",
                         xpath="/Signature/Object/Manifest", **where))
    out.extend(_xades_findings(root, signed, cert, where))
    method = root.find(f"{q(ns.DS, 'SignedInfo')}/{q(ns.DS, 'SignatureMethod')}")
    if method is not None and "sha1" in (method.get("Algorithm") or "").lower():
        out.append(warning("signature XAdES en SHA-1 (algorithme faible)", "XAdES signature with SHA-1 (weak)",
                           rule="DMP.DSG.weak_algorithm", found=method.get("Algorithm") or "",
                           **where))
    out.extend(trust_findings(cert, certificates_in([c.text or "" for c in cert_els[1:]]), trust, now,
                              prefix="DMP.DSG", what_fr="du document de signature", what_en="signature document",
                              xpath="/Signature/KeyInfo", **where))
    if manifests:
        out.extend(_coverage(manifests, documents, submission_set_uid, where))
    if not any(f.is_error for f in out):
        trusted = any(f.rule == "DMP.DSG.trusted" for f in out)
        out.append(info("document de signature XAdES valide et couvrant tous les documents"
                        + ("" if trusted else " (confiance non évaluée)"),
                        "valid XAdES signature document covering every document"
                        + ("" if trusted else " (trust not evaluated)"), rule="DMP.DSG.ok", **where))
    return out


def _xades_findings(root: etree._Element, signed: list[etree._Element], cert: x509.Certificate,
                    where: dict[str, Any]) -> list[Finding]:
    out: list[Finding] = []
    props = [el for el in signed if etree.QName(el).localname == "SignedProperties"
             and etree.QName(el).namespace in XADES_NAMESPACES]
    if not props:
        present = next(root.iter(*(q(x, "SignedProperties") for x in XADES_NAMESPACES)), None) is not None
        out.append(error("signature non XAdES : aucune xades:SignedProperties signée" +
                         (" (présente mais non référencée par SignedInfo)" if present else ""),
                         "not a XAdES signature: no signed xades:SignedProperties" +
                         (" (present but not referenced by SignedInfo)" if present else ""),
                         rule="DMP.DSG.not_xades", xpath="/Signature/Object/QualifyingProperties/SignedProperties",
                         **where))
        return out
    sp = props[0]
    xns = etree.QName(sp).namespace or ns.XADES132
    certs = [c for name in ("SigningCertificate", "SigningCertificateV2") for c in sp.iter(q(xns, name))]
    if not certs:
        out.append(error("xades:SigningCertificate absent des propriétés signées",
                         "xades:SigningCertificate missing from the signed properties",
                         rule="DMP.DSG.signing_certificate", **where))
    else:
        der = cert.public_bytes(serialization.Encoding.DER)
        matched = False
        for digest_el in certs[0].iter(q(xns, "CertDigest")):
            method = digest_el.find(q(ns.DS, "DigestMethod"))
            value = digest_el.find(q(ns.DS, "DigestValue"))
            alg = DIGESTS.get(method.get("Algorithm", "") if method is not None else "")
            if alg and value is not None and (value.text or "").strip() == base64.b64encode(
                    hashlib.new(alg, der).digest()).decode("ascii"):
                matched = True
        if not matched:
            out.append(error("l'empreinte du certificat dans xades:SigningCertificate ne correspond pas au certificat "
                             "de KeyInfo", "the certificate digest in xades:SigningCertificate does not match the "
                             "KeyInfo certificate", rule="DMP.DSG.signing_certificate", **where))
    if next(sp.iter(q(xns, "SigningTime")), None) is None:
        out.append(warning("xades:SigningTime absent", "xades:SigningTime missing", rule="DMP.DSG.signing_time",
                           **where))
    return out


def _coverage(manifests: list[etree._Element], documents: Mapping[str, bytes | None], ss_uid: str,
              where: dict[str, Any]) -> list[Finding]:
    out: list[Finding] = []
    refs: dict[str, etree._Element] = {}
    for m in manifests:
        for ref in m.findall(q(ns.DS, "Reference")):
            uri = ref.get("URI") or ""
            key = uri[len("urn:oid:"):] if uri.startswith("urn:oid:") else uri
            refs.setdefault(key, ref)
    for uid, data in documents.items():
        ref = refs.get(uid)
        if ref is None:
            out.append(error(f"document {uid} non couvert par la signature (aucune Reference urn:oid:{uid} dans le "
                             "Manifest signé)", f"document {uid} not covered by the signature (no Reference "
                             f"urn:oid:{uid} in the signed Manifest)", rule="DMP.DSG.not_covered",
                             xpath="/Signature/Object/Manifest/Reference", expected=f"urn:oid:{uid}",
                             found=", ".join(sorted(refs)) or "aucune", **where))
            continue
        if data is None:
            continue
        method = ref.find(q(ns.DS, "DigestMethod"))
        value = ref.find(q(ns.DS, "DigestValue"))
        alg = DIGESTS.get(method.get("Algorithm", "") if method is not None else "")
        if alg is None:
            out.append(error(f"Reference {uid} : algorithme d'empreinte inconnu", f"Reference {uid}: unknown digest "
                             "algorithm", rule="DMP.DSG.digest_algorithm",
                             found=method.get("Algorithm", "") if method is not None else "absent",
                             **where))
            continue
        transforms = [t.get("Algorithm") or "" for t in ref.iter(q(ns.DS, "Transform"))]
        expected = document_digest(data, alg, transforms)
        found = (value.text or "").strip() if value is not None else ""
        if found != expected:
            out.append(error(f"empreinte du document {uid} dans le Manifest différente du document envoyé",
                             f"digest of document {uid} in the Manifest differs from the document sent",
                             rule="DMP.DSG.digest_mismatch", xpath="/Signature/Object/Manifest/Reference/DigestValue",
                             expected=expected, found=found, **where))
    extra = sorted(set(refs) - set(documents) - {ss_uid})
    if extra:
        out.append(warning("références du Manifest ne désignant aucun document soumis",
                           "Manifest references naming no submitted document", rule="DMP.DSG.extra_reference",
                           found=", ".join(extra)[:300], **where))
    return out
