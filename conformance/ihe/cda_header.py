"""The CDA header as plain values: what the DMP and MSSanté rooms compare XDS metadata with.

In the shared IHE layer (``conformance.ihe``) so the CDA, DMP and MSS rooms read it without importing
each other. The XDS formatCode of a structured document depends on the document models (data of the CDA
room), so the CDA room derives it: ``conformance.cda.detect.header_format_code``.

Why one shared reader: the same header feeds three comparisons (ITI-41 DocumentEntry, XDM
METADATA.XML, the CDA suite's own checks). Reading it once, here, means the three can never read
``effectiveTime`` or the uniqueId differently. Values are kept *as written* in the document (no
normalisation that could hide a discrepancy); helpers give the XDS forms (``root^extension`` ids,
UTC timestamps) that CI-SIS derives from the header (kit ``FeuilleDeStyle/CDAHeaderToXDM.xsl``,
cda.md §1.2).

Reading never raises on a missing part: absent values are ``None`` or empty, and the checks decide.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

from lxml import etree

HL7 = "urn:hl7-org:v3"
NS = {"h": HL7}
XDS_SD_TEMPLATE = "1.3.6.1.4.1.19376.1.2.20"
HL7_FRANCE_TEMPLATE = "2.16.840.1.113883.2.8.2.1"
CISIS_TEMPLATE = "1.2.250.1.213.1.1.1.1"
INS_ROOTS = ("1.2.250.1.213.1.4.8", "1.2.250.1.213.1.4.9", "1.2.250.1.213.1.4.10", "1.2.250.1.213.1.4.11")

# ASS_A12 (cda.md §1.2): nonXMLBody media type → XDS formatCode.
N1_FORMAT_CODES: dict[str, str] = {
    "application/pdf": "urn:ihe:iti:xds-sd:pdf:2008",
    "text/plain": "urn:ihe:iti:xds-sd:text:2008",
    "text/rtf": "urn:ihe:iti-fr:xds-sd:rtf:2010",
    "image/jpeg": "urn:ihe:iti-fr:xds-sd:jpeg:2010",
    "image/tiff": "urn:ihe:iti-fr:xds-sd:tiff:2010",
}
UNREFERENCED_FORMAT_CODE = "urn:asipSante:modelesHorsProfils:2011"

_TS = re.compile(r"(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.\d+)?([+-]\d{4})?")


@dataclass(frozen=True)
class Coded:
    """A coded value (CE/CD) as written: code, codeSystem, displayName."""

    code: str
    system: str = ""
    display: str = ""


@dataclass(frozen=True)
class Organization:
    id_root: str = ""
    id_extension: str = ""
    name: str = ""
    industry_code: Coded | None = None  # standardIndustryClassCode (practiceSettingCode)


@dataclass(frozen=True)
class Actor:
    """An author, the legal authenticator or a performer: the person (or device) and its organisation."""

    id_root: str = ""
    id_extension: str = ""
    family: str = ""
    given: tuple[str, ...] = ()
    prefix: str = ""
    code: Coded | None = None  # assignedAuthor/code: the specialty (JDV_J01)
    function_code: Coded | None = None
    time: str = ""
    device: bool = False
    software_name: str = ""
    organization: Organization | None = None


@dataclass(frozen=True)
class CdaHeader:
    """Everything the XDS metadata of a CDA document is derived from (cda.md §1.2)."""

    type_code: Coded | None = None
    title: str = ""
    creation_time: str = ""
    confidentiality_code: Coded | None = None
    language: str = ""
    healthcare_facility_type_code: Coded | None = None
    practice_setting_code: Coded | None = None
    event_codes: tuple[Coded, ...] = ()
    service_start: str = ""
    service_stop: str = ""
    id_root: str = ""
    id_extension: str = ""
    set_id_root: str = ""
    set_id_extension: str = ""
    version: str = ""
    patient_ids: tuple[tuple[str, str], ...] = ()
    authors: tuple[Actor, ...] = ()
    legal_authenticator: Actor | None = None
    custodian: Organization | None = None
    related_document: str | None = None  # parentDocument/id as root^extension
    related_document_type: str = ""  # RPLC…
    template_ids: tuple[tuple[str, str], ...] = ()
    structured: bool = True
    media_type: str | None = None  # N1: nonXMLBody/text/@mediaType
    representation: str | None = None  # N1: nonXMLBody/text/@representation
    encounter_code: Coded | None = None
    extra: dict[str, str] = field(default_factory=dict, compare=False)

    # -- XDS forms ------------------------------------------------------------------------------
    @property
    def unique_id(self) -> str:
        """XDS uniqueId: ``root^extension`` (or root alone), as CDAHeaderToXDM.xsl builds it."""
        return xds_id(self.id_root, self.id_extension)

    @property
    def set_id(self) -> str:
        return xds_id(self.set_id_root, self.set_id_extension)

    @property
    def patient_id(self) -> tuple[str, str] | None:
        """(root, extension) of the INS when present, else of the first patientRole/id."""
        for root, ext in self.patient_ids:
            if root in INS_ROOTS:
                return root, ext
        return self.patient_ids[0] if self.patient_ids else None

    @property
    def ins(self) -> tuple[str, str] | None:
        """(root, extension) of the INS, or None when the document carries none (Règle 28)."""
        for root, ext in self.patient_ids:
            if root in INS_ROOTS:
                return root, ext
        return None

    @property
    def volet_template_ids(self) -> tuple[str, ...]:
        """The templateIds other than HL7 France and CI-SIS (the volet's, or XDS-SD for N1)."""
        return tuple(r for r, _ in self.template_ids if r not in (HL7_FRANCE_TEMPLATE, CISIS_TEMPLATE))

    @property
    def creation_time_utc(self) -> str | None:
        return to_utc(self.creation_time)

    @property
    def service_start_utc(self) -> str | None:
        return to_utc(self.service_start)

    @property
    def service_stop_utc(self) -> str | None:
        return to_utc(self.service_stop)


def xds_id(root: str, extension: str) -> str:
    if not root:
        return ""
    return f"{root}^{extension}" if extension else root


def to_utc(value: str) -> str | None:
    """HL7 TS → XDS DTM in UTC (``YYYYMMDDHHMMSS`` truncated to the given precision).

    A time without a zone cannot be converted honestly: None (the caller reports it). A date
    alone has no zone to apply and is returned as is.
    """
    m = _TS.fullmatch(value or "")
    if not m:
        return None
    year, month, day, hour, minute, second, zone = m.groups()
    if hour is None:
        return "".join(p for p in (year, month, day) if p)
    if zone is None:
        return None
    sign = 1 if zone[0] == "+" else -1
    offset = timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5])) * sign
    try:
        local = datetime(int(year), int(month or 1), int(day or 1), int(hour), int(minute or 0),
                         int(second or 0), tzinfo=timezone(offset))
    except ValueError:
        return None
    utc = local.astimezone(UTC)
    digits = utc.strftime("%Y%m%d%H%M%S")
    return digits[: 10 + (2 if minute else 0) + (2 if second else 0)]


# ---------------------------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------------------------
def _first(el: etree._Element | None, path: str) -> etree._Element | None:
    if el is None:
        return None
    found = el.find(path, NS)
    return found


def _attr(el: etree._Element | None, path: str, name: str) -> str:
    target = _first(el, path) if path else el
    return (target.get(name) or "") if target is not None else ""


def _text(el: etree._Element | None, path: str) -> str:
    target = _first(el, path)
    return "".join(target.itertext()).strip() if target is not None else ""


def _coded(el: etree._Element | None) -> Coded | None:
    if el is None or el.get("code") is None:
        return None
    return Coded(el.get("code") or "", el.get("codeSystem") or "", el.get("displayName") or "")


def _organization(el: etree._Element | None) -> Organization | None:
    if el is None:
        return None
    return Organization(
        id_root=_attr(el, "h:id", "root"),
        id_extension=_attr(el, "h:id", "extension"),
        name=_text(el, "h:name"),
        industry_code=_coded(_first(el, "h:standardIndustryClassCode")),
    )


def _actor(el: etree._Element | None, entity: str, *, time_el: etree._Element | None = None) -> Actor | None:
    """``el`` is author / legalAuthenticator / performer; ``entity`` its assignedAuthor/assignedEntity."""
    if el is None:
        return None
    assigned = _first(el, entity)
    person = _first(assigned, "h:assignedPerson/h:name")
    device = _first(assigned, "h:assignedAuthoringDevice")
    org = _first(assigned, "h:representedOrganization")
    return Actor(
        id_root=_attr(assigned, "h:id", "root"),
        id_extension=_attr(assigned, "h:id", "extension"),
        family=_text(person, "h:family"),
        given=tuple("".join(g.itertext()).strip() for g in person.iterfind("h:given", NS)) if person is not None else (),
        prefix=_text(person, "h:prefix"),
        code=_coded(_first(assigned, "h:code")),
        function_code=_coded(_first(el, "h:functionCode")),
        time=_attr(el, "h:time", "value"),
        device=device is not None,
        software_name=_text(device, "h:softwareName"),
        organization=_organization(org),
    )


def read_header(tree: etree._ElementTree | etree._Element) -> CdaHeader:
    """Read a parsed CDA's header (see ``conformance.safexml.parse_bytes``); never raises."""
    root = tree.getroot() if isinstance(tree, etree._ElementTree) else tree
    event = _first(root, "h:documentationOf/h:serviceEvent")
    performer_org = _first(event, "h:performer/h:assignedEntity/h:representedOrganization")
    encounter = _first(root, "h:componentOf/h:encompassingEncounter")
    body_text = _first(root, "h:component/h:nonXMLBody/h:text")
    related = _first(root, "h:relatedDocument")
    custodian = _first(root, "h:custodian/h:assignedCustodian/h:representedCustodianOrganization")
    patient_ids = tuple((i.get("root") or "", i.get("extension") or "")
                        for i in root.iterfind("h:recordTarget/h:patientRole/h:id", NS))
    return CdaHeader(
        type_code=_coded(_first(root, "h:code")),
        title=_text(root, "h:title"),
        creation_time=_attr(root, "h:effectiveTime", "value"),
        confidentiality_code=_coded(_first(root, "h:confidentialityCode")),
        language=_attr(root, "h:languageCode", "code"),
        healthcare_facility_type_code=_coded(_first(encounter, "h:location/h:healthCareFacility/h:code")),
        practice_setting_code=_coded(_first(performer_org, "h:standardIndustryClassCode")),
        event_codes=tuple(c for c in (_coded(e) for e in root.iterfind(
            "h:documentationOf/h:serviceEvent/h:code", NS)) if c is not None),
        service_start=_attr(event, "h:effectiveTime/h:low", "value"),
        service_stop=_attr(event, "h:effectiveTime/h:high", "value"),
        id_root=_attr(root, "h:id", "root"),
        id_extension=_attr(root, "h:id", "extension"),
        set_id_root=_attr(root, "h:setId", "root"),
        set_id_extension=_attr(root, "h:setId", "extension"),
        version=_attr(root, "h:versionNumber", "value"),
        patient_ids=patient_ids,
        authors=tuple(a for a in (_actor(el, "h:assignedAuthor") for el in root.iterfind("h:author", NS))
                      if a is not None),
        legal_authenticator=_actor(_first(root, "h:legalAuthenticator"), "h:assignedEntity"),
        custodian=_organization(custodian),
        related_document=(xds_id(_attr(related, "h:parentDocument/h:id", "root"),
                                 _attr(related, "h:parentDocument/h:id", "extension")) or None)
        if related is not None else None,
        related_document_type=(related.get("typeCode") or "") if related is not None else "",
        template_ids=tuple((t.get("root") or "", t.get("extension") or "")
                           for t in root.iterfind("h:templateId", NS)),
        structured=_first(root, "h:component/h:nonXMLBody") is None,
        media_type=body_text.get("mediaType") if body_text is not None else None,
        representation=body_text.get("representation") if body_text is not None else None,
        encounter_code=_coded(_first(encounter, "h:code")),
    )
