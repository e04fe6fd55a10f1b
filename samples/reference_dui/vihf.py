"""The reference DUI's VIHF: the SAML 2.0 assertion, signed by the structure's cachet, that tells the DMP who
calls (indirect authentication). Attributes from the DMP integration guide's VIHF table and the ANS example
(protocols.md §1.2); signature from ``dsig.sign_enveloped`` (RSA-SHA256, exclusive c14n, as the ANS example).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from lxml import etree
from segur_reference_dui.dsig import sign_enveloped
from segur_reference_dui.pki import Signer

SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
HL7 = "urn:hl7-org:v3"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
X509_SUBJECT_NAME = "urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName"
UNSPECIFIED_AUTHN = "urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified"

SECTOR = "Secteur_Activite"
G15_PROFESSION = "1.2.250.1.71.1.2.7"   # TRE_G15 profession
R01_SAVOIR_FAIRE = "1.2.250.1.71.4.2.5"  # TRE_R01 savoir-faire (second role of a physician)
AUTOMATE_SYSTEM = "1.2.250.1.213.1.1.4.6"
PURPOSE = ("normal", "1.2.250.1.213.1.1.4.248", "Accès normal")


@dataclass
class VihfIdentity:
    """Who calls: the user (the document's author) and the structure whose cachet signs."""

    name_id: str
    subject_id: str
    structure_id: str
    sector: str  # code^1.2.250.1.71.4.2.4
    resource_id: str  # the patient's INS, CX
    roles: list[tuple[str, str, str]] = field(default_factory=list)  # (code, codeSystem, displayName)
    lps_name: str = ""
    lps_version: str = ""
    lps_homologation: str = ""


def _coded(tag: str, code: str, system: str, display: str) -> etree._Element:
    el = etree.Element(f"{{{HL7}}}{tag}", nsmap={None: HL7, "xsi": XSI})
    el.set(f"{{{XSI}}}type", "CE")
    el.set("code", code)
    el.set("codeSystem", system)
    if display:
        el.set("displayName", display)
    return el


def build(identity: VihfIdentity, signer: Signer, *, signed: bool = True, omit: Sequence[str] = ()) -> etree._Element:
    """The VIHF assertion (``signed=False`` and ``omit`` are the defect switches)."""
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assertion = etree.Element(f"{{{SAML}}}Assertion", nsmap={"saml2": SAML}, ID=f"_{uuid.uuid4().hex}",
                              IssueInstant=now, Version="2.0")
    etree.SubElement(assertion, f"{{{SAML}}}Issuer", Format=X509_SUBJECT_NAME).text = signer.subject_dn
    subject = etree.SubElement(assertion, f"{{{SAML}}}Subject")
    etree.SubElement(subject, f"{{{SAML}}}NameID").text = identity.name_id
    authn = etree.SubElement(assertion, f"{{{SAML}}}AuthnStatement", AuthnInstant=now)
    etree.SubElement(etree.SubElement(authn, f"{{{SAML}}}AuthnContext"),
                     f"{{{SAML}}}AuthnContextClassRef").text = UNSPECIFIED_AUTHN
    statement = etree.SubElement(assertion, f"{{{SAML}}}AttributeStatement")
    attributes: list[tuple[str, list[str | etree._Element]]] = [
        ("VIHF_Version", ["3.0"]),
        ("urn:oasis:names:tc:xspa:1.0:subject:subject-id", [identity.subject_id]),
        ("urn:oasis:names:tc:xacml:2.0:subject:role", [_coded("Role", *role) for role in identity.roles]),
        ("Identifiant_Structure", [identity.structure_id]),
        (SECTOR, [identity.sector]),
        ("urn:oasis:names:tc:xspa:1.0:subject:purposeofuse", [_coded("PurposeOfUse", *PURPOSE)]),
        ("Authentification_Mode", ["INDIRECTE"]),
        ("urn:oasis:names:tc:xacml:2.0:resource:resource-id", [identity.resource_id]),
        ("Ressource_URN", ["urn:dmp"]),
        ("LPS_Nom", [identity.lps_name]),
        ("LPS_Version", [identity.lps_version]),
        ("LPS_ID_HOMOLOGATION_DMP", [identity.lps_homologation]),
    ]
    for name, values in attributes:
        if name in omit:
            continue
        attribute = etree.SubElement(statement, f"{{{SAML}}}Attribute", Name=name)
        for value in values:
            holder = etree.SubElement(attribute, f"{{{SAML}}}AttributeValue")
            if isinstance(value, str):
                holder.text = value
            else:
                holder.append(value)
    return sign_enveloped(assertion, signer) if signed else assertion
