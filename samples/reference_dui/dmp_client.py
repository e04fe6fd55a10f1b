"""The reference DUI's DMP client: feeds the DMP with ITI-41, as a compliant DUI should (protocols.md §1).

``submit(document, resident, endpoint, defects, *, replaces=None) -> dict`` is what ``server.py`` calls
for ``POST /documents/{id}/dmp``. In order:

1. refuse when the resident's INS is not qualified (INS Règle 28: no INS, no DMP);
2. TD0.2: ask whether a DMP exists for the INS (our simulator's stand-in endpoint ``<url>/td02``);
3. for a replacement, ITI-18 FindDocuments to learn the *current* entryUUID of the replaced document;
4. ITI-41: SOAP 1.2 + MTOM, WS-Addressing, a signed VIHF (indirect mode, structure "cachet"), the
   metadata derived from the CDA header (read here with our own XPath, independently of the harness's
   reader, so the harness's comparison really tests something), a XAdES signature document covering
   the documents, an RPLC association when replacing;
5. interpret the answer: Success → "sent" (then ITI-18 GetDocuments to keep the entryUUID); Failure,
   PartialSuccess or SOAP Fault → "failed" with the DMP's codes and texts shown (CNDA PRE_ERR); HTTP 5xx,
   timeout or connection loss → "queued" (to retry later, never lost, never "sent").

Each ``DEFECTS`` entry breaks exactly one of these behaviours, so the harness can prove it catches it.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tempfile
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.generator import BytesGenerator
from email.message import EmailMessage, Message, MIMEPart
from email.policy import HTTP
from pathlib import Path
from typing import Any

import requests
from lxml import etree
from segur_reference_dui import dsig, vihf, xds
from segur_reference_dui.pki import Signer, default_pki, dmp_trust_anchors_pem
from segur_reference_dui.vihf import AUTOMATE_SYSTEM, G15_PROFESSION, R01_SAVOIR_FAIRE, SECTOR, VihfIdentity
from segur_reference_dui.xmlsafe import XmlRejected, parse

DEFECTS = {
    "hash_mismatch": "Déclare dans la métadonnée hash une empreinte qui n'est pas celle du document envoyé",
    "vihf_unsigned": "Envoie un VIHF sans signature XML",
    "vihf_missing_attribute": "Omet l'attribut Secteur_Activite du VIHF",
    "metadata_mismatch": "Déclare un titre et une date de création différents de l'en-tête CDA",
    "no_signature_document": "N'ajoute pas le document de signature XAdES à la soumission",
    "wrong_rplc_target": "Remplace un document en visant une entryUUID qui n'est pas celle trouvée par ITI-18",
    "submits_unqualified": "Alimente le DMP pour un usager dont l'INS n'est pas qualifiée",
    "no_td02": "N'appelle pas TD0.2 (existence du DMP) avant d'alimenter",
    "marks_sent_after_failure": "Marque le document « envoyé » même quand le DMP a refusé ou n'a pas répondu",
    "mtom_no_start_info": "Envoie l'ITI-41 en multipart/related sans le paramètre start-info (SOAP 1.2 non annoncé)",
    "calls_td03": "Demande une autorisation d'accès (TD0.3) avant d'alimenter le DMP",
    "wrong_mime_type": "Déclare le CDA avec le mimeType application/pdf dans la fiche du document",
}

HL7 = "urn:hl7-org:v3"
H = f"{{{HL7}}}"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
WSA = "http://www.w3.org/2005/08/addressing"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
XDSB = "urn:ihe:iti:xds-b:2007"
XOP = "http://www.w3.org/2004/08/xop/include"
ACTION_ITI41 = "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b"
ACTION_ITI18 = "urn:ihe:iti:2007:RegistryStoredQuery"
# TD0.2 / TD0.3 as the harness's DMP simulator serves them (docs/dmp.md: the DMP guide's own format is not public)
TD0 = "urn:segur-conformance:dmp-simulator:td0"
ACTION_TD02 = "urn:segur-conformance:dmp:TD0.2"
ACTION_TD03 = "urn:segur-conformance:dmp:TD0.3"
# the signature document's entry: IHE DSG codes as the DMP uses them (protocols.md §1.3)
DSG_CLASS = {"code": "urn:oid:1.3.6.1.4.1.19376.1.2.1.1.1", "scheme": "URN", "display": "Digital Signature"}
DSG_TYPE = {"code": "E1762", "scheme": "ASTM", "display": "Full Document"}
DSG_FORMAT = {"code": "http://www.w3.org/2000/09/xmldsig#", "scheme": "URN", "display": "Default Signature Style"}
DSG_EVENT = {"code": "1.2.840.10065.1.12.1.14", "scheme": "1.2.840.10065.1.12", "display": "Source"}
DSG_LANGUAGE = "art"
LOCAL_IPP_OID = "1.2.250.1.999.2.1"  # the reference DUI's IPP namespace (test arc)
SOURCE_ID = "1.2.250.1.999.1.1"  # the reference DUI's sourceId (test arc)
LPS_NAME = "segur-conformance DUI de référence"
LPS_VERSION = "1.0"
LPS_HOMOLOGATION = "TEST-SEGUR-REF-0001"
TIMEOUT_S = 10.0
INS_OIDS = ("1.2.250.1.213.1.4.8", "1.2.250.1.213.1.4.9", "1.2.250.1.213.1.4.10", "1.2.250.1.213.1.4.11")
# contentTypeCode: the DMP subset J59 is not public [?]; DRIMbox uses system 1.2.250.1.213.2.2
CONTENT_TYPE = {"code": "07", "scheme": "1.2.250.1.213.2.2", "display": "Consultation externe"}
# classCode by typeCode (cda.md §1.2: no published table [?]; our reading of the TRE_A03 labels)
CLASS_BY_TYPE = {"SYNTH": "11", "60591-5": "11", "74207-2": "11", "78341-5": "11", "60280-5": "11",
                 "80788-3": "44", "18776-5": "44", "83869-8": "44", "80771-9": "44", "34842-5": "10"}
CLASS_LABELS = {"10": "Compte rendu", "11": "Synthèse", "44": "Plan de soins, protocole de soins"}
FORMAT_BY_TEMPLATE = {
    "1.2.250.1.213.1.1.1.13": ("urn:asip:ci-sis:vsm:2012", "1.2.250.1.213.1.1.4.2.282"),
    "1.3.6.1.4.1.19376.1.5.3.1.1.13.1.1": ("urn:asip:ci-sis:dlu:2015", "1.2.250.1.213.1.1.4.2.282"),
}
FORMAT_BY_TYPE = {
    "74207-2": ("urn:asip:ci-sis:dlu:2015", "1.2.250.1.213.1.1.4.2.282"),
    "78341-5": ("urn:asip:ci-sis:fludt:2017", "1.2.250.1.213.1.1.4.2.282"),
    "60280-5": ("urn:asip:ci-sis:fludr:2017", "1.2.250.1.213.1.1.4.2.282"),
    "SYNTH": ("urn:asip:ci-sis:vsm:2012", "1.2.250.1.213.1.1.4.2.282"),
    "60591-5": ("urn:ihe:pcc:ips:2020", "1.3.6.1.4.1.19376.1.2.3"),
}
N1_FORMATS = {"application/pdf": "urn:ihe:iti:xds-sd:pdf:2008", "text/plain": "urn:ihe:iti:xds-sd:text:2008"}
FALLBACK_FORMAT = ("urn:asipSante:modelesHorsProfils:2011", "1.2.250.1.213.1.1.4.2.282")


# ---------------------------------------------------------------------------------------------
# the CDA header, as this DUI reads it
# ---------------------------------------------------------------------------------------------
@dataclass
class Person:
    id: str = ""
    root: str = ""
    family: str = ""
    given: str = ""
    code: tuple[str, str, str] = ("", "", "")
    function: tuple[str, str, str] = ("", "", "")
    org_id: str = ""
    org_name: str = ""


@dataclass
class CdaFacts:
    unique_id: str = ""
    type_code: tuple[str, str, str] = ("", "", "")
    title: str = ""
    effective_time: str = ""
    confidentiality: tuple[str, str, str] = ("", "", "")
    language: str = ""
    templates: list[str] = field(default_factory=list)
    ins: tuple[str, str] = ("", "")  # (matricule, oid)
    ipp: tuple[str, str] = ("", "")
    patient_family: str = ""
    patient_given: str = ""
    birth_time: str = ""
    sex: str = ""
    authors: list[Person] = field(default_factory=list)
    legal: Person | None = None
    service_start: str = ""
    service_stop: str = ""
    event_code: tuple[str, str, str] = ("", "", "")
    facility: tuple[str, str, str] = ("", "", "")
    practice: tuple[str, str, str] = ("", "", "")
    n1_media: str = ""
    related_rplc: str = ""


def _attr(el: etree._Element | None, name: str) -> str:
    return (el.get(name) or "").strip() if el is not None else ""


def _coded(el: etree._Element | None) -> tuple[str, str, str]:
    return (_attr(el, "code"), _attr(el, "codeSystem"), _attr(el, "displayName"))


def _uid(el: etree._Element | None) -> str:
    root, ext = _attr(el, "root"), _attr(el, "extension")
    return f"{root}^{ext}" if ext else root


def _person(entity: etree._Element | None, person_tag: str, org_tag: str) -> Person:
    p = Person()
    if entity is None:
        return p
    ids = entity.findall(f"{H}id")
    pid = next((i for i in ids if _attr(i, "root") == "1.2.250.1.71.4.2.1"), ids[0] if ids else None)
    p.id, p.root = _attr(pid, "extension") or _attr(pid, "root"), _attr(pid, "root")
    p.code = _coded(entity.find(f"{H}code"))
    name = entity.find(f"{H}{person_tag}/{H}name")
    if name is not None:
        p.family = " ".join((f.text or "").strip() for f in name.findall(f"{H}family"))
        p.given = " ".join((g.text or "").strip() for g in name.findall(f"{H}given"))
    org = entity.find(f"{H}{org_tag}")
    if org is not None:
        oid = org.find(f"{H}id")
        p.org_id = _attr(oid, "extension") or _attr(oid, "root")
        p.org_name = (org.findtext(f"{H}name") or "").strip()
    return p


def read_cda(cda: bytes) -> CdaFacts:
    root = parse(cda).getroot()
    f = CdaFacts()
    f.unique_id = _uid(root.find(f"{H}id"))
    f.type_code = _coded(root.find(f"{H}code"))
    f.title = " ".join((root.findtext(f"{H}title") or "").split())
    f.effective_time = _attr(root.find(f"{H}effectiveTime"), "value")
    f.confidentiality = _coded(root.find(f"{H}confidentialityCode"))
    f.language = _attr(root.find(f"{H}languageCode"), "code")
    f.templates = [_attr(t, "root") for t in root.findall(f"{H}templateId")]
    role = root.find(f"{H}recordTarget/{H}patientRole")
    if role is not None:
        for i in role.findall(f"{H}id"):
            if _attr(i, "root") in INS_OIDS:
                f.ins = (_attr(i, "extension"), _attr(i, "root"))
            elif not f.ipp[0]:
                f.ipp = (_attr(i, "extension"), _attr(i, "root"))
        patient = role.find(f"{H}patient")
        if patient is not None:
            name = patient.find(f"{H}name")
            if name is not None:
                fam = name.find(f"{H}family[@qualifier='BR']")
                fam = fam if fam is not None else name.find(f"{H}family")
                f.patient_family = (fam.text or "").strip() if fam is not None else ""
                f.patient_given = (name.findtext(f"{H}given") or "").strip()
            f.birth_time = _attr(patient.find(f"{H}birthTime"), "value")
            f.sex = _attr(patient.find(f"{H}administrativeGenderCode"), "code")
    for author in root.findall(f"{H}author"):
        p = _person(author.find(f"{H}assignedAuthor"), "assignedPerson", "representedOrganization")
        p.function = _coded(author.find(f"{H}functionCode"))
        f.authors.append(p)
    legal = root.find(f"{H}legalAuthenticator/{H}assignedEntity")
    if legal is not None:
        f.legal = _person(legal, "assignedPerson", "representedOrganization")
    event = root.find(f"{H}documentationOf/{H}serviceEvent")
    if event is not None:
        f.event_code = _coded(event.find(f"{H}code"))
        f.service_start = _attr(event.find(f"{H}effectiveTime/{H}low"), "value")
        f.service_stop = _attr(event.find(f"{H}effectiveTime/{H}high"), "value")
        f.practice = _coded(event.find(f"{H}performer/{H}assignedEntity/{H}representedOrganization/"
                                       f"{H}standardIndustryClassCode"))
    f.facility = _coded(root.find(f"{H}componentOf/{H}encompassingEncounter/{H}location/{H}healthCareFacility/"
                                  f"{H}code"))
    n1 = root.find(f"{H}component/{H}nonXMLBody/{H}text")
    f.n1_media = _attr(n1, "mediaType")
    for rel in root.findall(f"{H}relatedDocument"):
        if _attr(rel, "typeCode") == "RPLC":
            f.related_rplc = _uid(rel.find(f"{H}parentDocument/{H}id"))
    return f


# ---------------------------------------------------------------------------------------------
# metadata
# ---------------------------------------------------------------------------------------------
def _xcn(p: Person) -> str:
    return f"{p.id}^{p.family}^{p.given}^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS"


def _xon(p: Person) -> str:
    return f"{p.org_name}^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^{p.org_id}" if p.org_id else ""


def _hl7_coded(c: tuple[str, str, str]) -> str:
    return f"{c[0]}^{c[2]}^{c[1]}" if c[0] else ""


_TS = re.compile(r"(\d{4,14})(?:\.\d+)?([+-])(\d{2})(\d{2})")


def _dtm(value: str) -> str:
    """An HL7 TS as an XDS DTM, which is UTC (ITI TF-3 §4.2.3.1.5): a zoned time is moved to UTC at its own
    precision; a time without zone (or coarser than the hour) is kept as written."""
    value = (value or "").strip()
    m = _TS.fullmatch(value)
    if not m:
        return re.sub(r"\.\d+$", "", value) if re.fullmatch(r"\d{4,14}(\.\d+)?", value) else ""
    digits, sign, hours, minutes = m.groups()
    if len(digits) < 10:
        return digits
    full = datetime.strptime(digits.ljust(14, "0"), "%Y%m%d%H%M%S")
    offset = timedelta(hours=int(hours), minutes=int(minutes))
    utc = full - offset if sign == "+" else full + offset
    return utc.strftime("%Y%m%d%H%M%S")[:len(digits)]


def _format(f: CdaFacts) -> tuple[str, str]:
    if f.n1_media in N1_FORMATS:
        return N1_FORMATS[f.n1_media], "1.3.6.1.4.1.19376.1.2.3"
    for tid in f.templates:
        if tid in FORMAT_BY_TEMPLATE:
            return FORMAT_BY_TEMPLATE[tid]
    return FORMAT_BY_TYPE.get(f.type_code[0], FALLBACK_FORMAT)


def document_metadata(f: CdaFacts, data: bytes, patient_cx: str, source_patient_id: str) -> dict[str, Any]:
    """The DocumentEntry metadata this DUI derives from the CDA header (protocols.md §1.4)."""
    authors = [{"authorPerson": [_xcn(a)], "authorInstitution": [_xon(a)] if a.org_id else [],
                "authorRole": [_hl7_coded(a.function)] if a.function[0] else [],
                "authorSpecialty": [_hl7_coded(a.code)] if a.code[0] else []} for a in f.authors]
    cls = CLASS_BY_TYPE.get(f.type_code[0], "10")
    fmt = _format(f)
    md: dict[str, Any] = {
        "uniqueId": f.unique_id, "patientId": patient_cx, "sourcePatientId": source_patient_id,
        "title": f.title, "mimeType": "text/xml", "languageCode": f.language or "fr-FR",
        "creationTime": _dtm(f.effective_time), "serviceStartTime": _dtm(f.service_start),
        "serviceStopTime": _dtm(f.service_stop), "hash": hashlib.sha1(data).hexdigest(), "size": str(len(data)),
        "legalAuthenticator": _xcn(f.legal) if f.legal else "",
        "sourcePatientInfo": [line for line in (
            f"PID-5|{f.patient_family}^{f.patient_given}^^^^^L" if f.patient_family else "",
            f"PID-7|{f.birth_time[:8]}" if f.birth_time else "",
            f"PID-8|{f.sex}" if f.sex else "") if line],
        "authors": authors,
        "classCode": [{"code": cls, "scheme": "1.2.250.1.213.1.1.4.1", "display": CLASS_LABELS.get(cls, "")}],
        "typeCode": [{"code": f.type_code[0], "scheme": f.type_code[1], "display": f.type_code[2]}],
        "formatCode": [{"code": fmt[0], "scheme": fmt[1], "display": fmt[0]}],
        "confidentialityCode": [{"code": f.confidentiality[0], "scheme": f.confidentiality[1] or
                                 "2.16.840.1.113883.5.25", "display": f.confidentiality[2]}],
        "healthcareFacilityTypeCode": [{"code": f.facility[0], "scheme": f.facility[1], "display": f.facility[2]}],
        "practiceSettingCode": [{"code": f.practice[0], "scheme": f.practice[1], "display": f.practice[2]}],
    }
    if f.event_code[0]:
        md["eventCodeList"] = [{"code": f.event_code[0], "scheme": f.event_code[1], "display": f.event_code[2]}]
    return md


def signature_metadata(sig: bytes, patient_cx: str, f: CdaFacts) -> dict[str, Any]:
    """The DSG signature DocumentEntry (protocols.md §1.3)."""
    now = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    author = f.authors[0] if f.authors else Person()
    return {
        "uniqueId": f"2.25.{uuid.uuid4().int}", "patientId": patient_cx, "sourcePatientId": patient_cx,
        "title": "Source", "mimeType": "text/xml", "languageCode": DSG_LANGUAGE, "creationTime": now,
        "serviceStartTime": now, "serviceStopTime": now, "hash": hashlib.sha1(sig).hexdigest(), "size": str(len(sig)),
        "legalAuthenticator": _xcn(f.legal) if f.legal else _xcn(author),
        "authors": [{"authorPerson": [_xcn(author)], "authorInstitution": [_xon(author)] if author.org_id else []}],
        "classCode": [DSG_CLASS], "typeCode": [DSG_TYPE], "formatCode": [DSG_FORMAT], "eventCodeList": [DSG_EVENT],
        "confidentialityCode": [{"code": "N", "scheme": "2.16.840.1.113883.5.25", "display": "Normal"}],
        "healthcareFacilityTypeCode": [{"code": f.facility[0], "scheme": f.facility[1], "display": f.facility[2]}],
        "practiceSettingCode": [{"code": f.practice[0], "scheme": f.practice[1], "display": f.practice[2]}],
    }


def vihf_identity(f: CdaFacts, patient_cx: str) -> VihfIdentity:
    """Indirect mode: the structure's cachet signs; the user is the document's first author."""
    author = f.authors[0] if f.authors else Person()
    roles: list[tuple[str, str, str]]
    m = re.fullmatch(r"G15_(\d+)(?:/(\w+))?", author.code[0])
    if m:
        roles = [(m.group(1), G15_PROFESSION, author.code[2].split(" - ")[0] or "Profession")]
        if m.group(2):
            roles.append((m.group(2), R01_SAVOIR_FAIRE, author.code[2] or "Savoir-faire"))
    else:
        roles = [("AUTOMATE", AUTOMATE_SYSTEM, "AUTOMATE")]
    sector = f.facility[0] if f.facility[1] == "1.2.250.1.71.4.2.4" else "SA41"
    return VihfIdentity(name_id=author.id or "inconnu", subject_id=f"{author.family} {author.given}".strip() or LPS_NAME,
                        structure_id=author.org_id or "1000000000", sector=f"{sector}^1.2.250.1.71.4.2.4",
                        resource_id=patient_cx, roles=roles, lps_name=LPS_NAME, lps_version=LPS_VERSION,
                        lps_homologation=LPS_HOMOLOGATION)


# ---------------------------------------------------------------------------------------------
# building the ITI-41 request
# ---------------------------------------------------------------------------------------------
def trust_anchors_pem() -> bytes:
    """The test trust anchor of this DUI's signing certificates (VIHF, XAdES): its own test PKI (pki.py), the one
    a real DUI replaces with its IGC-Santé test chain. The harness takes it through the entry point (entry.py)."""
    return dmp_trust_anchors_pem()


def cachet_for(structure_id: str) -> Signer:
    return default_pki().cachet(structure_id, org="DUI de référence")


def security(identity: VihfIdentity, keypair: Signer, defects: frozenset[str] | set[str]) -> etree._Element:
    """The VIHF that goes in wsse:Security."""
    return vihf.build(identity, keypair, signed="vihf_unsigned" not in defects,
                      omit=(SECTOR,) if "vihf_missing_attribute" in defects else ())


def signature_document(documents: list[tuple[str, bytes]], keypair: Signer) -> bytes:
    """The content of the signature entry: a XAdES signature over a ds:Manifest that lists each document by
    ``urn:oid:<uniqueId>`` with the SHA-256 of its exact bytes (IHE DSG, as the DMP asks)."""
    manifest = etree.Element(f"{{{dsig.DS}}}Manifest", {"Id": f"manifest-{uuid.uuid4()}"}, nsmap={"ds": dsig.DS})
    for unique_id, data in documents:
        ref = etree.SubElement(manifest, f"{{{dsig.DS}}}Reference", URI=f"urn:oid:{unique_id}")
        etree.SubElement(ref, f"{{{dsig.DS}}}DigestMethod", Algorithm=dsig.SHA256)
        etree.SubElement(ref, f"{{{dsig.DS}}}DigestValue").text = dsig.sha256_b64(data)
    signature = dsig.xades_enveloping(manifest, keypair, description="Manifeste des documents soumis au DMP (IHE DSG)")
    return etree.tostring(signature, xml_declaration=True, encoding="UTF-8")


def new_message_id() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def envelope(action: str, to: str, payload: etree._Element, *, assertion: etree._Element | None,
             message_id: str | None = None) -> etree._Element:
    """SOAP 1.2 with WS-Addressing (Action and To mustUnderstand, MessageID) and the VIHF in wsse:Security."""
    env = etree.Element(f"{{{SOAP12}}}Envelope", nsmap={"soap": SOAP12, "wsa": WSA})
    header = etree.SubElement(env, f"{{{SOAP12}}}Header")
    must = {f"{{{SOAP12}}}mustUnderstand": "true"}
    etree.SubElement(header, f"{{{WSA}}}Action", must).text = action
    etree.SubElement(header, f"{{{WSA}}}MessageID").text = message_id or new_message_id()
    etree.SubElement(header, f"{{{WSA}}}To", must).text = to
    if assertion is not None:
        etree.SubElement(header, f"{{{WSSE}}}Security", nsmap={"wsse": WSSE}).append(assertion)
    etree.SubElement(env, f"{{{SOAP12}}}Body").append(payload)
    return env


class _BinaryGenerator(BytesGenerator):
    """Writes a ``Content-Transfer-Encoding: binary`` body byte for byte: the email package would otherwise
    rewrite the line ends of an all-ASCII part, and the DMP hashes the exact bytes."""

    def _handle_text(self, msg: Message) -> None:
        if msg.get("Content-Transfer-Encoding") == "binary":
            # the stored form (bytes as surrogate-escaped text); get_payload() would decode it by its charset
            self.write(msg._payload)  # type: ignore[attr-defined]
        else:
            super()._handle_text(msg)  # type: ignore[misc]

    _writeBody = _handle_text


def mtom(soap_xml: bytes, attachments: list[tuple[str, bytes, str]], action: str) -> tuple[str, bytes]:
    """``(Content-Type, body)`` of a SOAP 1.2 MTOM/XOP package (multipart/related, RFC 2387; XOP §4), built with
    the standard ``email`` package: the root part is the envelope (application/xop+xml), then one part per
    (Content-ID, bytes, MIME type)."""
    package = EmailMessage(policy=HTTP)
    package.make_related()
    root_cid = f"root.{uuid.uuid4().hex}@dui-reference.test"
    root = MIMEPart(policy=HTTP)
    root.set_content(soap_xml, "application", "xop+xml", cte="binary",
                     params={"charset": "UTF-8", "type": f'application/soap+xml; action="{action}"'})
    root["Content-ID"] = f"<{root_cid}>"
    package.attach(root)  # type: ignore[arg-type]  # a MIMEPart is what a multipart holds
    for content_id, data, mime_type in attachments:
        part = MIMEPart(policy=HTTP)
        maintype, _, subtype = mime_type.partition("/")
        part.set_content(data, maintype, subtype, cte="binary")
        part["Content-ID"] = f"<{content_id}>"
        package.attach(part)  # type: ignore[arg-type]
    package.set_param("type", "application/xop+xml")
    package.set_param("start", f"<{root_cid}>")
    package.set_param("start-info", "application/soap+xml")
    package.set_param("action", action)
    out = io.BytesIO()
    _BinaryGenerator(out, policy=HTTP).flatten(package)  # sets the boundary
    raw = out.getvalue()
    body = raw[raw.index(b"\r\n\r\n") + 4:]
    return str(package["Content-Type"]), body


def build_iti41(cda: bytes, facts: CdaFacts, *, patient_cx: str, source_patient_id: str, to: str,
                keypair: Signer, defects: frozenset[str] | set[str] = frozenset(),
                replaces_uuid: str | None = None) -> tuple[str, bytes, str]:
    """``(Content-Type, body, MessageID)`` of a complete ITI-41 request for one CDA document."""
    md = document_metadata(facts, cda, patient_cx, source_patient_id)
    if "wrong_mime_type" in defects:
        md["mimeType"] = "application/pdf"
    if "hash_mismatch" in defects:
        md["hash"] = hashlib.sha1(cda + b" ").hexdigest()
    if "metadata_mismatch" in defects:
        md["title"] = f"{md['title']} (copie)"
        md["creationTime"] = "20000101000000"
    sig = signature_document([(md["uniqueId"], cda)], keypair)
    now = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    author = facts.authors[0] if facts.authors else Person()
    ss_md = {"uniqueId": f"2.25.{uuid.uuid4().int}", "sourceId": SOURCE_ID, "patientId": patient_cx,
             "submissionTime": now, "title": "Alimentation DMP",
             "contentTypeCode": [CONTENT_TYPE],
             "authors": [{"authorPerson": [_xcn(author)], "authorInstitution": [_xon(author)] if author.org_id else []}]}
    with_signature = "no_signature_document" not in defects
    objects: list[etree._Element] = [xds.submission_set("SubmissionSet01", ss_md),
                                     xds.document_entry("Document01", md)]
    if with_signature:
        objects.append(xds.document_entry("Signature01", signature_metadata(sig, patient_cx, facts)))
    objects.append(xds.association("Assoc01", xds.HAS_MEMBER, "SubmissionSet01", "Document01", original=True))
    if with_signature:
        objects.append(xds.association("Assoc02", xds.HAS_MEMBER, "SubmissionSet01", "Signature01", original=True))
        objects.append(xds.association("Assoc03", xds.SIGNS, "Signature01", "SubmissionSet01"))
    if replaces_uuid:
        objects.append(xds.association("Assoc04", xds.RPLC, "Document01", replaces_uuid))
    pnr = etree.Element(f"{{{XDSB}}}ProvideAndRegisterDocumentSetRequest", nsmap={"xdsb": XDSB, "xop": XOP})
    pnr.append(xds.submit_objects_request(objects))
    attachments = [(f"doc1.{uuid.uuid4().hex[:8]}@dui-reference.test", cda, "text/xml")]
    if with_signature:
        attachments.append((f"sig1.{uuid.uuid4().hex[:8]}@dui-reference.test", sig, "text/xml"))
    for doc_id, (content_id, _data, _type) in zip(("Document01", "Signature01"), attachments, strict=False):
        doc = etree.SubElement(pnr, f"{{{XDSB}}}Document", id=doc_id)
        etree.SubElement(doc, f"{{{XOP}}}Include", href=f"cid:{content_id}")
    message_id = new_message_id()
    identity = vihf_identity(facts, patient_cx)
    env = envelope(ACTION_ITI41, to, pnr, assertion=security(identity, keypair, defects), message_id=message_id)
    xml = etree.tostring(env, xml_declaration=True, encoding="UTF-8")
    ctype, body = mtom(xml, attachments, ACTION_ITI41)
    if "mtom_no_start_info" in defects:
        ctype = re.sub(r';\s*start-info="?[^";]*"?', "", ctype)
    return ctype, body, message_id


# ---------------------------------------------------------------------------------------------
# talking to the DMP
# ---------------------------------------------------------------------------------------------
class _Unreachable(Exception):
    """No usable answer: HTTP 5xx, timeout, connection refused or dropped."""


_keys_lock = threading.Lock()
_ca_files: dict[str, str] = {}
_ca_dir: tempfile.TemporaryDirectory[str] | None = None


def _verify(endpoint: dict[str, Any]) -> bool | str:
    """requests' ``verify``: the CA given in the endpoint (written once to a file), else system trust."""
    global _ca_dir
    pem = endpoint.get("ca_pem")
    if not pem:
        return True
    with _keys_lock:
        if pem not in _ca_files:
            if _ca_dir is None:
                _ca_dir = tempfile.TemporaryDirectory(prefix="segur-ref-dmp-")
            path = Path(_ca_dir.name) / f"ca-{hashlib.sha256(pem.encode()).hexdigest()[:16]}.pem"
            path.write_text(pem, encoding="ascii")
            _ca_files[pem] = str(path)
        return _ca_files[pem]


def _post(endpoint: dict[str, Any], path: str, body: bytes, content_type: str) -> etree._Element:
    url = endpoint["url"].rstrip("/") + path
    session = requests.Session()
    session.trust_env = False
    try:
        resp = session.post(url, data=body, headers={"Content-Type": content_type}, verify=_verify(endpoint),
                            timeout=float(endpoint.get("timeout_s") or TIMEOUT_S))
    except requests.RequestException as exc:
        raise _Unreachable(f"DMP injoignable ({type(exc).__name__})") from None
    finally:
        session.close()
    if resp.status_code >= 500 and "xml" not in resp.headers.get("Content-Type", ""):
        raise _Unreachable(f"DMP en erreur HTTP {resp.status_code}")
    try:
        return parse(resp.content).getroot()
    except XmlRejected:
        raise _Unreachable(f"réponse illisible du DMP (HTTP {resp.status_code})") from None


@dataclass(frozen=True)
class Answer:
    """What the DMP answered: a SOAP Fault, or a body (rs:RegistryResponse, query:AdhocQueryResponse…)."""

    kind: str  # "response" | "fault" | "other"
    status: str = ""
    errors: tuple[tuple[str, str], ...] = ()  # (errorCode, codeContext)
    fault: str = ""
    payload: etree._Element | None = None

    @property
    def success(self) -> bool:
        return self.kind == "response" and self.status == xds.SUCCESS

    def describe(self) -> str:
        """One French line for the user with the DMP's own codes and texts (CNDA: PRE_ERR)."""
        if self.kind == "fault":
            return f"Erreur SOAP du DMP {self.fault}".strip()
        status = self.status.rsplit(":", 1)[-1] if self.status else self.kind
        detail = "; ".join(f"{code}: {text}".rstrip(": ") for code, text in self.errors)
        return f"DMP {status} — {detail}" if detail else f"DMP {status}"


def read_answer(root: etree._Element) -> Answer:
    soap_ns = etree.QName(root).namespace or SOAP12
    body = root.find(f"{{{soap_ns}}}Body")
    child = next((c for c in body if isinstance(c.tag, str)), None) if body is not None else None
    if child is None:
        return Answer("other")
    if etree.QName(child).localname == "Fault":
        codes = " / ".join(v.strip() for v in (el.text or "" for el in child.iter(f"{{{soap_ns}}}Value")) if v.strip())
        texts = " ".join(t.strip() for t in (el.text or "" for el in child.iter(f"{{{soap_ns}}}Text")) if t.strip())
        return Answer("fault", fault=f"({codes}) : {texts}")
    errors = tuple((e.get("errorCode", ""), e.get("codeContext", "")) for e in child.iter(f"{{{xds.RS}}}RegistryError"))
    return Answer("response", status=child.get("status", ""), errors=errors, payload=child)


def _soap_call(endpoint: dict[str, Any], path: str, action: str, payload: etree._Element, identity: VihfIdentity,
               keypair: Signer, defects: frozenset[str] | set[str]) -> Answer:
    to = endpoint["url"].rstrip("/") + path
    env = envelope(action, to, payload, assertion=security(identity, keypair, defects))
    xml = etree.tostring(env, xml_declaration=True, encoding="UTF-8")
    return read_answer(_post(endpoint, path, xml, f'application/soap+xml; charset=UTF-8; action="{action}"'))


def _td02(endpoint: dict[str, Any], identity: VihfIdentity, keypair: Signer, defects: frozenset[str] | set[str],
          patient_cx: str) -> str:
    req = etree.Element(f"{{{TD0}}}TD02Request", nsmap={"td0": TD0}, ins=patient_cx)
    answer = _soap_call(endpoint, "/td02", ACTION_TD02, req, identity, keypair, defects)
    if answer.kind == "fault":
        raise _Refused(answer.describe())
    return answer.payload.get("status", "") if answer.payload is not None else ""


class _Refused(Exception):
    """The DMP answered, and said no."""


def find_entries(endpoint: dict[str, Any], identity: VihfIdentity, keypair: Signer,
                 defects: frozenset[str] | set[str], patient_cx: str) -> dict[str, str]:
    """ITI-18 FindDocuments (approved): uniqueId → current entryUUID."""
    answer = _soap_call(endpoint, "/registry", ACTION_ITI18, xds.find_documents_query(patient_cx), identity, keypair,
                        defects)
    if answer.kind != "response" or answer.payload is None:
        raise _Refused(answer.describe())
    return xds.unique_ids_to_entries(answer.payload)


# ---------------------------------------------------------------------------------------------
# the contract entry point
# ---------------------------------------------------------------------------------------------
def _result(document: Any, status: str, error: str | None, defects: frozenset[str] | set[str]) -> dict[str, Any]:
    if "marks_sent_after_failure" in defects and status in ("failed", "queued"):
        status, error = "sent", None
    document.dmp_status = status if status != "refused" else getattr(document, "dmp_status", "not_sent")
    document.dmp_error = error
    return {"status": status, "error": error}


# A variant of the compliant sandbox that retries a "queued" document in the background after this many
# seconds (SC.DMP/ALI/PROG.01 "nouvel essai plus tard"), as a real DUI's send queue does. Off by default: the
# harness must give it the same verdicts as the default (tests/test_isolation.py), so requests a retry sends
# during a later test must never be blamed on that test.
ENV_RETRY_S = "SEGUR_REFERENCE_DMP_RETRY_S"
MAX_RETRIES = 3


def _retry_delay() -> float | None:
    try:
        delay = float(os.environ.get(ENV_RETRY_S, ""))
    except ValueError:
        return None
    return delay if 0 < delay <= 600 else None


def _schedule_retry(document: Any, resident: Any, endpoint: dict[str, Any], defects: frozenset[str],
                    replaces: Any, attempt: int) -> None:
    delay = _retry_delay()
    if delay is None or attempt >= MAX_RETRIES:
        return

    def retry() -> None:
        if getattr(document, "dmp_status", "") == "queued":
            submit(document, resident, endpoint, defects, replaces=replaces, attempt=attempt + 1)

    timer = threading.Timer(delay, retry)
    timer.daemon = True  # the sandbox stops with the run, pending retries included
    timer.start()


def submit(document: Any, resident: Any, endpoint: dict[str, Any], defects: frozenset[str] | set[str], *,
           replaces: Any = None, attempt: int = 0) -> dict[str, Any]:
    """Send one document to the DMP; returns {"status": "sent"|"queued"|"failed"|"refused", "error"}."""
    defects = frozenset(defects)
    # ins_shared_unqualified (insi_client.py) is the same fault on every channel: CDA, DMP and MSSanté
    if getattr(resident, "status", "") != "QUAL" and not defects & {"submits_unqualified", "ins_shared_unqualified"}:
        return _result(document, "refused", "INS non qualifiée : alimentation du DMP impossible tant que l'identité "
                       "n'est pas qualifiée (INS, Règle 28)", defects)
    try:
        facts = read_cda(document.cda)
    except XmlRejected as exc:
        return _result(document, "failed", f"document CDA illisible : {exc.reason}", defects)
    ins = getattr(resident, "ins", None) or {}
    if ins.get("matricule"):
        patient_cx = f"{ins['matricule']}^^^&{ins.get('oid') or '1.2.250.1.213.1.4.10'}&ISO^NH"
    elif facts.ins[0]:
        patient_cx = f"{facts.ins[0]}^^^&{facts.ins[1]}&ISO^NH"
    else:  # only reachable with the submits_unqualified defect: no INS at all
        patient_cx = f"{resident.id}^^^&{LOCAL_IPP_OID}&ISO^PI"
    ipp = facts.ipp if facts.ipp[0] else (resident.id, LOCAL_IPP_OID)
    source_patient_id = f"{ipp[0]}^^^&{ipp[1]}&ISO^PI"
    identity = vihf_identity(facts, patient_cx)
    keypair = cachet_for(identity.structure_id)
    document.dmp_status = "queued"
    try:
        status = None if "no_td02" in defects else _td02(endpoint, identity, keypair, defects, patient_cx)
        if status and status != "ACTIF":
            return _result(document, "failed", f"pas de DMP actif pour ce patient (TD0.2 : {status})", defects)
        if "calls_td03" in defects:  # an access authorisation is for reading a DMP, never for feeding it
            req = etree.Element(f"{{{TD0}}}TD03Request", nsmap={"td0": TD0}, ins=patient_cx)
            _soap_call(endpoint, "/td03", ACTION_TD03, req, identity, keypair, defects)
        target = None
        if replaces is not None:
            old_uid = read_cda(replaces.cda).unique_id
            target = find_entries(endpoint, identity, keypair, defects, patient_cx).get(old_uid)
            if "wrong_rplc_target" in defects:
                target = f"urn:uuid:{uuid.uuid4()}"
            if target is None:
                return _result(document, "failed", f"document remplacé introuvable dans le DMP (uniqueId {old_uid})",
                               defects)
        to = endpoint["url"].rstrip("/") + "/repository"
        ctype, body, _mid = build_iti41(document.cda, facts, patient_cx=patient_cx,
                                        source_patient_id=source_patient_id, to=to, keypair=keypair,
                                        defects=defects, replaces_uuid=target)
        answer = read_answer(_post(endpoint, "/repository", body, ctype))
    except _Unreachable as exc:
        _schedule_retry(document, resident, endpoint, defects, replaces, attempt)
        return _result(document, "queued", f"{exc} : document conservé, nouvel envoi plus tard", defects)
    except _Refused as exc:
        return _result(document, "failed", str(exc), defects)
    except XmlRejected as exc:
        return _result(document, "failed", f"document remplacé illisible : {exc.reason}", defects)
    if not answer.success:
        return _result(document, "failed", answer.describe(), defects)
    try:
        uuids = find_entries(endpoint, identity, keypair, defects, patient_cx)
        document.dmp_entry_uuid = uuids.get(facts.unique_id)
    except (_Unreachable, _Refused):
        document.dmp_entry_uuid = None  # sent all the same; the entryUUID will be asked again when needed
    return _result(document, "sent", None, defects)
