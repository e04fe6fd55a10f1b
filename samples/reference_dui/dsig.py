"""XML signatures of the reference DUI, written from the W3C XML-DSig 1.1 and ETSI XAdES (EN 319 132-1 /
TS 101 903 1.3.2) texts over ``cryptography`` (RSA PKCS#1 v1.5, SHA-256) and libxml2's canonicalisation.

Why not signxml: the harness verifies signatures with signxml; the reference DUI must be a second, independent
reading of the texts, so a misreading shared by one library cannot make builder and checker agree. (python-xmlsec
was the other candidate; its libxml2 must be the very same build as lxml's, which a fresh install does not
guarantee.) Every Reference carries its canonicalisation as an explicit Transform.

- ``sign_enveloped(element, signer, id_attribute)``: the VIHF's signature (§6.6.4 enveloped-signature transform
  + exclusive c14n), placed right after the element's first child (the SAML Issuer).
- ``xades_enveloping(manifest, signer)``: the DMP signature document, a ds:Signature holding in ds:Objects the
  ds:Manifest it signs and the xades:QualifyingProperties (SigningTime, SigningCertificate, DataObjectFormat).
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import uuid

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from lxml import etree
from segur_reference_dui.pki import Signer

DS = "http://www.w3.org/2000/09/xmldsig#"
XADES = "http://uri.etsi.org/01903/v1.3.2#"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
MANIFEST_TYPE = "http://www.w3.org/2000/09/xmldsig#Manifest"
SIGNED_PROPERTIES_TYPE = "http://uri.etsi.org/01903#SignedProperties"


def _ds(tag: str) -> str:
    return f"{{{DS}}}{tag}"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def exc_c14n(element: etree._Element) -> bytes:
    return etree.tostring(element, method="c14n", exclusive=True, with_comments=False)


def sha256_b64(data: bytes) -> str:
    return _b64(hashlib.sha256(data).digest())


def _reference(signed_info: etree._Element, uri: str, digest: str, transforms: tuple[str, ...],
               ref_type: str = "", ref_id: str = "") -> None:
    attrs = {"URI": uri}
    if ref_id:
        attrs["Id"] = ref_id
    if ref_type:
        attrs["Type"] = ref_type
    ref = etree.SubElement(signed_info, _ds("Reference"), attrs)
    holder = etree.SubElement(ref, _ds("Transforms"))
    for algorithm in transforms:
        etree.SubElement(holder, _ds("Transform"), Algorithm=algorithm)
    etree.SubElement(ref, _ds("DigestMethod"), Algorithm=SHA256)
    etree.SubElement(ref, _ds("DigestValue")).text = digest


def _signed_info() -> etree._Element:
    si = etree.Element(_ds("SignedInfo"), nsmap={"ds": DS})
    etree.SubElement(si, _ds("CanonicalizationMethod"), Algorithm=EXC_C14N)
    etree.SubElement(si, _ds("SignatureMethod"), Algorithm=RSA_SHA256)
    return si


def _finish(signature: etree._Element, signed_info: etree._Element, signer: Signer) -> None:
    """SignatureValue over the canonical SignedInfo *in place* (its final context), then KeyInfo."""
    value = signer.key.sign(exc_c14n(signed_info), padding.PKCS1v15(), hashes.SHA256())
    signed_info.addnext(sv := etree.Element(_ds("SignatureValue")))
    sv.text = _b64(value)
    key_info = etree.Element(_ds("KeyInfo"))
    etree.SubElement(etree.SubElement(key_info, _ds("X509Data")), _ds("X509Certificate")).text = _b64(signer.cert_der)
    sv.addnext(key_info)


def sign_enveloped(element: etree._Element, signer: Signer, id_attribute: str = "ID") -> etree._Element:
    """Sign ``element`` (which must carry ``id_attribute``) with an enveloped signature; returns it."""
    ref_uri = f"#{element.get(id_attribute)}"
    # the enveloped-signature transform removes the Signature; computing the digest before inserting it is the same
    unsigned = copy.deepcopy(element)
    for old in unsigned.findall(_ds("Signature")):
        unsigned.remove(old)
    digest = sha256_b64(exc_c14n(unsigned))
    signature = etree.Element(_ds("Signature"), nsmap={"ds": DS})
    signed_info = _signed_info()
    signature.append(signed_info)
    _reference(signed_info, ref_uri, digest, (ENVELOPED, EXC_C14N))
    element.insert(1, signature)
    _finish(signature, signed_info, signer)
    return element


def xades_enveloping(manifest: etree._Element, signer: Signer, *, description: str, mime_type: str = "text/xml",
                     now: dt.datetime | None = None) -> etree._Element:
    """An enveloping XAdES-BES signature over ``manifest`` (a ds:Manifest carrying an ``Id``)."""
    sig_id = f"sig-{uuid.uuid4()}"
    props_id = f"props-{uuid.uuid4()}"
    manifest_ref_id = f"ref-{uuid.uuid4()}"
    signature = etree.Element(_ds("Signature"), {"Id": sig_id}, nsmap={"ds": DS})
    signed_info = _signed_info()
    signature.append(signed_info)
    manifest_object = etree.SubElement(signature, _ds("Object"))
    manifest_object.append(manifest)
    props_object = etree.SubElement(signature, _ds("Object"))
    qualifying = etree.SubElement(props_object, f"{{{XADES}}}QualifyingProperties", Target=f"#{sig_id}",
                                  nsmap={"xades": XADES})
    signed_props = etree.SubElement(qualifying, f"{{{XADES}}}SignedProperties", Id=props_id)
    ssp = etree.SubElement(signed_props, f"{{{XADES}}}SignedSignatureProperties")
    moment = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(microsecond=0)
    etree.SubElement(ssp, f"{{{XADES}}}SigningTime").text = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    cert = etree.SubElement(etree.SubElement(ssp, f"{{{XADES}}}SigningCertificate"), f"{{{XADES}}}Cert")
    cert_digest = etree.SubElement(cert, f"{{{XADES}}}CertDigest")
    etree.SubElement(cert_digest, _ds("DigestMethod"), Algorithm=SHA256)
    etree.SubElement(cert_digest, _ds("DigestValue")).text = sha256_b64(signer.cert_der)
    issuer_serial = etree.SubElement(cert, f"{{{XADES}}}IssuerSerial")
    etree.SubElement(issuer_serial, _ds("X509IssuerName")).text = signer.cert.issuer.rfc4514_string()
    etree.SubElement(issuer_serial, _ds("X509SerialNumber")).text = str(signer.cert.serial_number)
    sdop = etree.SubElement(signed_props, f"{{{XADES}}}SignedDataObjectProperties")
    fmt = etree.SubElement(sdop, f"{{{XADES}}}DataObjectFormat", ObjectReference=f"#{manifest_ref_id}")
    etree.SubElement(fmt, f"{{{XADES}}}Description").text = description
    etree.SubElement(fmt, f"{{{XADES}}}MimeType").text = mime_type
    # digests of the same-document references, each element canonicalised where it finally sits
    _reference(signed_info, f"#{manifest.get('Id')}", sha256_b64(exc_c14n(manifest)), (EXC_C14N,),
               MANIFEST_TYPE, manifest_ref_id)
    _reference(signed_info, f"#{props_id}", sha256_b64(exc_c14n(signed_props)), (EXC_C14N,),
               SIGNED_PROPERTIES_TYPE)
    _finish(signature, signed_info, signer)
    return signature
