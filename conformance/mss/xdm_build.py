"""Building IHE XDM packages (IHE_XDM.ZIP) from CDA documents.

Why in the harness: the reference DUI needs a correct package to send, and the harness's own tests
need good packages to break on purpose. The metadata values are derived here from the CDA header with
a reading independent from ``conformance.ihe.cda_header`` (which the checks use), so a shared bug cannot
make the builder and the checker agree by accident; the ebRIM elements are written by the shared
builder (``conformance.ihe.ebrim``), the inverse of the parser the checks use. Layout and slots:
protocols.md §1.4 and §2.2. Code lists the public sources do not give (the typeCode → classCode table
ASS_X04, the SS contentTypeCode) use stand-in values, named as such below.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import re
import uuid
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape

from lxml import etree

from conformance.ihe.ebrim import association, extrinsic_object, submission_set, submit_objects_request
from conformance.ihe.ns import ASSOC_HAS_MEMBER
from conformance.safexml import parse_bytes

HL7 = "urn:hl7-org:v3"
RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
N = {"h": HL7}
INS_OIDS = ("1.2.250.1.213.1.4.8", "1.2.250.1.213.1.4.9", "1.2.250.1.213.1.4.10", "1.2.250.1.213.1.4.11")
RPPS_OID = "1.2.250.1.71.4.2.1"
STRUCT_OID = "1.2.250.1.71.4.2.2"
FORMAT_BY_TYPE = {  # protocols.md §1.4 "Medico-social codes"
    "74207-2": "urn:asip:ci-sis:dlu:2015",
    "78341-5": "urn:asip:ci-sis:fludt:2017",
    "60280-5": "urn:asip:ci-sis:fludr:2017",
    "60591-5": "urn:asip:ci-sis:vsm:2012",
}
FORMAT_PDF = "urn:ihe:iti:xds-sd:pdf:2008"
FORMAT_GENERIC = "urn:ihe:iti:xds:2017:mimeTypeSufficient"
CLASS_STANDIN = ("11", "1.2.250.1.213.1.1.4.1", "Synthèse")  # stand-in: ASS_X04 not public
CONTENT_TYPE_STANDIN = ("04", "1.2.250.1.213.1.1.4.4", "Hospitalisation de jour")  # stand-in: J03 codes not read
SOURCE_OID = "1.2.250.1.999.1.1"  # the reference DUI's (invented) system OID


@dataclass
class XdmOptions:
    """What to put around the documents, and which deliberate defects to apply (reference DUI)."""

    sender: str = ""
    recipients: Sequence[str] = ()
    readme_text: str = "DUI de référence segur-conformance\r\nLogiciel : segur-conformance reference DUI 1.0\r\n"
    with_readme: bool = True
    with_index: bool = True
    corrupt_hash: bool = False
    corrupt_size: bool = False
    extra_files: dict[str, bytes] = field(default_factory=dict)


def _utc(ts: str) -> str:
    """HL7 TS (YYYYMMDD[HHMM[SS]][±ZZZZ]) → XDS UTC ``YYYYMMDDhhmmss`` (date only stays as it is)."""
    m = re.fullmatch(r"(\d{8})(\d{2})?(\d{2})?(\d{2})?(?:\.\d+)?([+-]\d{4})?", ts or "")
    if not m:
        return ts or ""
    if not m.group(2):
        return m.group(1)
    when = dt.datetime.strptime(m.group(1) + (m.group(2) or "00") + (m.group(3) or "00") + (m.group(4) or "00"),
                                "%Y%m%d%H%M%S")
    if m.group(5):
        sign = 1 if m.group(5)[0] == "+" else -1
        offset = dt.timedelta(hours=int(m.group(5)[1:3]), minutes=int(m.group(5)[3:5]))
        when -= sign * offset
    return when.strftime("%Y%m%d%H%M%S")


def _first(root: etree._Element, path: str, attr: str | None = None) -> str:
    el = root.find(path, N)
    if el is None:
        return ""
    return (el.get(attr) or "") if attr else "".join(el.itertext()).strip()


def _ii(el: etree._Element | None) -> str:
    if el is None:
        return ""
    root, ext = el.get("root") or "", el.get("extension") or ""
    return f"{root}^{ext}" if ext else root


def _xcn(entity: etree._Element | None) -> str:
    if entity is None:
        return ""
    ident = entity.find("h:id", N)
    person = entity.find("h:assignedPerson", N)
    if person is None:
        person = entity.find("h:assignedAuthor/h:assignedPerson", N)
    family = _first(person, "h:name/h:family") if person is not None else ""
    given = _first(person, "h:name/h:given") if person is not None else ""
    ext = ident.get("extension", "") if ident is not None else ""
    root = ident.get("root", RPPS_OID) if ident is not None else RPPS_OID
    return f"{ext}^{family}^{given}^^^^^^&{root}&ISO^D^^^IDNPS"


def metadata_from_cda(cda: bytes) -> dict[str, Any]:
    """The DocumentEntry values of one CDA (trusted input: the sender's own document)."""
    root = parse_bytes(cda).getroot()
    code = root.find("h:code", N)
    conf = root.find("h:confidentialityCode", N)
    type_code = code.get("code", "") if code is not None else ""
    patient_ids = root.findall("h:recordTarget/h:patientRole/h:id", N)
    ins = next((i for i in patient_ids if i.get("root") in INS_OIDS), None)
    local = next((i for i in patient_ids if i.get("root") not in INS_OIDS), None)
    patient_id = (f"{ins.get('extension')}^^^&{ins.get('root')}&ISO^NH" if ins is not None
                  else f"{local.get('extension')}^^^&{local.get('root')}&ISO^PI" if local is not None else "")
    source_patient = (f"{local.get('extension')}^^^&{local.get('root')}&ISO^PI" if local is not None else patient_id)
    patient = root.find("h:recordTarget/h:patientRole/h:patient", N)
    pid: list[str] = []
    if patient is not None:
        family = _first(patient, "h:name/h:family[@qualifier='BR']") or _first(patient, "h:name/h:family")
        given = _first(patient, "h:name/h:given[@qualifier='BR']") or _first(patient, "h:name/h:given")
        pid = [f"PID-5|{family}^{given}^^^^^L", f"PID-7|{_first(patient, 'h:birthTime', 'value')}",
               f"PID-8|{_first(patient, 'h:administrativeGenderCode', 'code') or 'U'}"]
    author = root.find("h:author/h:assignedAuthor", N)
    org = author.find("h:representedOrganization", N) if author is not None else None
    org_id = org.find("h:id", N) if org is not None else None
    author_slots: dict[str, list[str]] = {"authorPerson": [_xcn(author)]}
    if org is not None:
        author_slots["authorInstitution"] = [
            f"{_first(org, 'h:name')}^^^^^&{STRUCT_OID}&ISO^IDNST^^^{org_id.get('extension', '') if org_id is not None else ''}"]
    specialty = author.find("h:code", N) if author is not None else None
    if specialty is not None:
        author_slots["authorSpecialty"] = [
            f"{specialty.get('code', '')}^{specialty.get('displayName', '')}^{specialty.get('codeSystem', '')}"]
    facility = root.find("h:componentOf/h:encompassingEncounter/h:location/h:healthCareFacility/h:code", N)
    practice = root.find("h:documentationOf/h:serviceEvent/h:performer/h:assignedEntity/h:representedOrganization/"
                         "h:standardIndustryClassCode", N)
    nonxml = root.find("h:component/h:nonXMLBody", N) is not None
    fmt = FORMAT_PDF if nonxml else FORMAT_BY_TYPE.get(type_code, FORMAT_GENERIC)
    fmt_scheme = "1.3.6.1.4.1.19376.1.2.3" if fmt.startswith("urn:ihe") else "1.2.250.1.213.1.1.4.2.282"

    def coded(el: etree._Element | None) -> list[dict[str, str]]:
        if el is None:
            return []
        return [{"code": el.get("code", ""), "scheme": el.get("codeSystem", ""),
                 "display": el.get("displayName", "") or el.get("code", "")}]

    return {
        "uniqueId": _ii(root.find("h:id", N)),
        "title": _first(root, "h:title"),
        "creationTime": _utc(_first(root, "h:effectiveTime", "value")),
        "languageCode": _first(root, "h:languageCode", "code") or "fr-FR",
        "serviceStartTime": _utc(_first(root, "h:documentationOf/h:serviceEvent/h:effectiveTime/h:low", "value")),
        "serviceStopTime": _utc(_first(root, "h:documentationOf/h:serviceEvent/h:effectiveTime/h:high", "value")),
        "patientId": patient_id,
        "sourcePatientId": source_patient,
        "sourcePatientInfo": pid,
        "legalAuthenticator": _xcn(root.find("h:legalAuthenticator/h:assignedEntity", N)),
        "typeCode": coded(code),
        "classCode": [dict(zip(("code", "scheme", "display"), CLASS_STANDIN, strict=True))],
        "confidentialityCode": coded(conf),
        "formatCode": [{"code": fmt, "scheme": fmt_scheme, "display": fmt}],
        "healthcareFacilityTypeCode": coded(facility),
        "practiceSettingCode": coded(practice),
        "authors": [author_slots],
        "mimeType": "text/xml",
    }


def metadata_xml(entries: list[tuple[str, bytes, dict[str, Any]]], options: XdmOptions) -> bytes:
    """``SubmitObjectsRequest`` for (file name, bytes, metadata) triples."""
    ss_id = f"urn:uuid:{uuid.uuid4()}"
    objects: list[etree._Element] = []
    members: list[etree._Element] = []
    for name, data, meta in entries:
        de = f"urn:uuid:{uuid.uuid4()}"
        md = dict(meta)
        digest = hashlib.sha1(data + (b"x" if options.corrupt_hash else b"")).hexdigest()  # noqa: S324 - XDS SHA-1
        md.update({"hash": digest, "size": str(len(data) + (1 if options.corrupt_size else 0))})
        eo = extrinsic_object(de, md)
        # the XDM-only URI slot, placed with the other slots (they precede Name in the ebRIM sequence)
        uri = etree.Element(f"{{{RIM}}}Slot", name="URI")
        etree.SubElement(etree.SubElement(uri, f"{{{RIM}}}ValueList"), f"{{{RIM}}}Value").text = name
        last_slot = max((i for i, c in enumerate(eo) if c.tag == f"{{{RIM}}}Slot"), default=-1)
        eo.insert(last_slot + 1, uri)
        objects.append(eo)
        members.append(association(f"urn:uuid:{uuid.uuid4()}", ASSOC_HAS_MEMBER, ss_id, de,
                                   {"SubmissionSetStatus": ["Original"]}))
    patient_id = str(entries[0][2].get("patientId") or "") if entries else ""
    ss_md: dict[str, Any] = {
        "submissionTime": dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S"),
        "intendedRecipient": [f"^^Internet^{r}" for r in options.recipients],
        "title": "Envoi MSSanté",
        "authors": [{"authorTelecommunication": [f"^^Internet^{options.sender}"]}] if options.sender else [],
        "contentTypeCode": [dict(zip(("code", "scheme", "display"), CONTENT_TYPE_STANDIN, strict=True))],
        "uniqueId": f"2.25.{uuid.uuid4().int}", "sourceId": SOURCE_OID, "patientId": patient_id,
    }
    request = submit_objects_request([*submission_set(ss_id, ss_md), *objects, *members])
    return etree.tostring(request, xml_declaration=True, encoding="UTF-8")


def index_htm(entries: list[tuple[str, dict[str, object]]]) -> bytes:
    rows = "".join(f'<li><a href="IHE_XDM/SUBSET01/{n}">{escape(str(m["title"]))}</a></li>' for n, m in entries)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<html xmlns="http://www.w3.org/1999/xhtml"><head>'
            "<title>Contenu IHE XDM</title></head><body><h1>Documents</h1><ul>"
            f'{rows}</ul><p><a href="README.TXT">README.TXT</a></p></body></html>').encode()


def build_xdm(documents: Sequence[bytes], options: XdmOptions | None = None) -> bytes:
    """IHE_XDM.ZIP holding ``documents`` (CDA bytes) in IHE_XDM/SUBSET01/DOC0001.XML, DOC0002.XML, …"""
    options = options or XdmOptions()
    named = [(f"DOC{i:04d}.XML", data, metadata_from_cda(data)) for i, data in enumerate(documents, 1)]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        if options.with_index:
            zf.writestr("INDEX.HTM", index_htm([(n, m) for n, _, m in named]))
        if options.with_readme:
            zf.writestr("README.TXT", options.readme_text.encode("utf-8"))
        zf.writestr("IHE_XDM/SUBSET01/METADATA.XML", metadata_xml(named, options))
        for name, data, _ in named:
            zf.writestr(f"IHE_XDM/SUBSET01/{name}", data)
        for name, data in options.extra_files.items():
            zf.writestr(name, data)
    return buf.getvalue()
