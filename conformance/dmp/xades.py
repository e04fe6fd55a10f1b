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
from conformance.dmp.engine import Check, dmp_check
from conformance.dmp.pki import KeyPair
from conformance.dmp.trust import certificates_in, trust_findings
from conformance.findings import Finding
from conformance.ihe.ns import q
from conformance.safexml import XmlRejected, parse_bytes

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


@dmp_check("xades")
def check_signature_document(c: Check, content: bytes | None, documents: Mapping[str, bytes | None], *,
                             artefact: str = "",
                             trust: Sequence[x509.Certificate] | None = None, now: dt.datetime | None = None,
                             submission_set_uid: str = "",
                             requirements: tuple[str, ...] | None = None) -> list[Finding]:
    """D7 content part: a valid XAdES signature whose signed Manifest covers every document sent.

    ``documents`` maps each submitted document's uniqueId to its bytes (None when the bytes were not
    available, e.g. an unresolved xop:Include: coverage is then checked by uniqueId only).
    """
    now = now or dt.datetime.now(dt.UTC)
    if content is None:
        return [c("DMP.DSG.no_content", "contenu du document de signature absent (partie MIME manquante)",
                  "signature document content missing (MIME part missing)")]
    try:
        root = parse_bytes(content).getroot()
    except XmlRejected as exc:
        return [c("DMP.DSG.unreadable", f"document de signature illisible : {exc.reason}",
                  f"unreadable signature document: {exc.reason_en}", line=exc.line)]
    if root.tag != q(ns.DS, "Signature"):
        return [c("DMP.DSG.not_signature", "le document de signature n'est pas une ds:Signature",
                  "the signature document is not a ds:Signature", xpath="/", expected="ds:Signature",
                  found=str(root.tag))]
    out: list[Finding] = []
    cert_els = root.findall(f"{q(ns.DS, 'KeyInfo')}/{q(ns.DS, 'X509Data')}/{q(ns.DS, 'X509Certificate')}")
    cert_el = cert_els[0] if cert_els else None
    try:
        cert = x509.load_der_x509_certificate(base64.b64decode("".join((cert_el.text or "").split())))
    except (AttributeError, ValueError):
        return [c("DMP.DSG.no_certificate", "document de signature sans certificat X.509 lisible dans KeyInfo",
                  "signature document without a readable X.509 certificate in KeyInfo",
                  xpath="/Signature/KeyInfo")]
    try:
        results, c14n_used = _verify(content, cert, now)
    except InvalidCertificate as exc:
        return [c("DMP.DSG.cert_validity", f"certificat du document de signature invalide : {exc}",
                  f"invalid signature document certificate: {exc}")]
    except (InvalidSignature, InvalidDigest, InvalidInput, SignXMLException, etree.LxmlError, ValueError) as exc:
        return [c("DMP.DSG.signature", f"signature XAdES invalide : {type(exc).__name__}: {str(exc)[:200]}",
                  f"invalid XAdES signature: {type(exc).__name__}: {str(exc)[:200]}", xpath="/Signature",
                  expected="signature valide", found="vérification en échec")]
    if c14n_used != CanonicalizationMethod.CANONICAL_XML_1_0.value:
        out.append(c("DMP.DSG.implicit_c14n",
                     "référence sans Transforms canonisée autrement qu'en C14N 1.0 (défaut XML-DSig)",
                     "reference without Transforms canonicalised otherwise than C14N 1.0 (XML-DSig default)",
                     expected=CanonicalizationMethod.CANONICAL_XML_1_0.value, found=c14n_used))
    signed = [r.signed_xml for r in results if r.signed_xml is not None]
    manifests = [m for s in signed for m in s.iter(q(ns.DS, "Manifest"))]
    if not manifests:
        has_any = root.find(f".//{q(ns.DS, 'Manifest')}") is not None
        out.append(c("DMP.DSG.manifest_unsigned" if has_any else "DMP.DSG.no_manifest",
                     "aucun ds:Manifest couvert par la signature"
                     + (" (un Manifest existe mais n'est pas signé)" if has_any else ""),
                     "no ds:Manifest covered by the signature"
                     + (" (a Manifest exists but is not signed)" if has_any else ""),
                     xpath="/Signature/Object/Manifest"))
    out.extend(_xades_findings(c, root, signed, cert))
    method = root.find(f"{q(ns.DS, 'SignedInfo')}/{q(ns.DS, 'SignatureMethod')}")
    if method is not None and "sha1" in (method.get("Algorithm") or "").lower():
        out.append(c("DMP.DSG.weak_algorithm", "signature XAdES en SHA-1 (algorithme faible)",
                     "XAdES signature with SHA-1 (weak)", found=method.get("Algorithm") or ""))
    out.extend(trust_findings(cert, certificates_in([el.text or "" for el in cert_els[1:]]), trust, now, c=c,
                              prefix="DMP.DSG", what_fr="du document de signature", what_en="signature document",
                              xpath="/Signature/KeyInfo"))
    if manifests:
        out.extend(_coverage(c, manifests, documents, submission_set_uid))
    if not any(f.is_error for f in out):
        trusted = any(f.rule == "DMP.DSG.trusted" for f in out)
        out.append(c("DMP.DSG.ok",
                     "document de signature XAdES valide et couvrant tous les documents"
                     + ("" if trusted else " (confiance non évaluée)"),
                     "valid XAdES signature document covering every document"
                     + ("" if trusted else " (trust not evaluated)")))
    return out


def _xades_findings(c: Check, root: etree._Element, signed: list[etree._Element],
                    cert: x509.Certificate) -> list[Finding]:
    out: list[Finding] = []
    props = [el for el in signed if etree.QName(el).localname == "SignedProperties"
             and etree.QName(el).namespace in XADES_NAMESPACES]
    if not props:
        present = next(root.iter(*(q(x, "SignedProperties") for x in XADES_NAMESPACES)), None) is not None
        out.append(c("DMP.DSG.not_xades",
                     "signature non XAdES : aucune xades:SignedProperties signée"
                     + (" (présente mais non référencée par SignedInfo)" if present else ""),
                     "not a XAdES signature: no signed xades:SignedProperties"
                     + (" (present but not referenced by SignedInfo)" if present else ""),
                     xpath="/Signature/Object/QualifyingProperties/SignedProperties"))
        return out
    sp = props[0]
    xns = etree.QName(sp).namespace or ns.XADES132
    certs = [el for name in ("SigningCertificate", "SigningCertificateV2") for el in sp.iter(q(xns, name))]
    if not certs:
        out.append(c("DMP.DSG.signing_certificate", "xades:SigningCertificate absent des propriétés signées",
                     "xades:SigningCertificate missing from the signed properties"))
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
            out.append(c("DMP.DSG.signing_certificate",
                         "l'empreinte du certificat dans xades:SigningCertificate ne correspond pas au certificat "
                         "de KeyInfo", "the certificate digest in xades:SigningCertificate does not match the "
                         "KeyInfo certificate"))
    if next(sp.iter(q(xns, "SigningTime")), None) is None:
        out.append(c("DMP.DSG.signing_time", "xades:SigningTime absent", "xades:SigningTime missing"))
    return out


def _coverage(c: Check, manifests: list[etree._Element], documents: Mapping[str, bytes | None],
              ss_uid: str) -> list[Finding]:
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
            out.append(c("DMP.DSG.not_covered",
                         f"document {uid} non couvert par la signature (aucune Reference urn:oid:{uid} dans le "
                         "Manifest signé)", f"document {uid} not covered by the signature (no Reference "
                         f"urn:oid:{uid} in the signed Manifest)", xpath="/Signature/Object/Manifest/Reference",
                         expected=f"urn:oid:{uid}", found=", ".join(sorted(refs)) or "aucune"))
            continue
        if data is None:
            continue
        method = ref.find(q(ns.DS, "DigestMethod"))
        value = ref.find(q(ns.DS, "DigestValue"))
        alg = DIGESTS.get(method.get("Algorithm", "") if method is not None else "")
        if alg is None:
            out.append(c("DMP.DSG.digest_algorithm", f"Reference {uid} : algorithme d'empreinte inconnu",
                         f"Reference {uid}: unknown digest " "algorithm",
                         found=method.get("Algorithm", "") if method is not None else "absent"))
            continue
        transforms = [t.get("Algorithm") or "" for t in ref.iter(q(ns.DS, "Transform"))]
        expected = document_digest(data, alg, transforms)
        found = (value.text or "").strip() if value is not None else ""
        if found != expected:
            out.append(c("DMP.DSG.digest_mismatch",
                         f"empreinte du document {uid} dans le Manifest différente du document envoyé",
                         f"digest of document {uid} in the Manifest differs from the document sent",
                         xpath="/Signature/Object/Manifest/Reference/DigestValue", expected=expected, found=found))
    extra = sorted(set(refs) - set(documents) - {ss_uid})
    if extra:
        out.append(c("DMP.DSG.extra_reference", "références du Manifest ne désignant aucun document soumis",
                     "Manifest references naming no submitted document", found=", ".join(extra)[:300]))
    return out
