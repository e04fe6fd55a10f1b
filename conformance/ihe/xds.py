"""The ebRIM metadata model of an XDS submission (DocumentEntry, SubmissionSet, Association) and the
HL7 v2 datatypes XDS carries in its slots (CX, XCN, XON, DTM).

Why a model and not XPath in every check: the same metadata arrive in an ITI-41 body (DMP) and in an
XDM ``METADATA.XML`` (MSSanté); both are an ``lcm:SubmitObjectsRequest``. Parsing it once into plain
objects lets the DMP checks, the simulator and the MSS colleague's XDM checks share one reading, and
``DocumentEntry.metadata()`` gives the plain mapping that ``metadata_vs_cda.compare_metadata_with_cda``
expects (it can be filled from any other source too).

Parsing is tolerant: an odd element is skipped and noted in ``Submission.problems``; judging is for
``checks.py``.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from conformance.ihe import ns
from conformance.ihe.ns import q

# ---------------------------------------------------------------------------------------------
# HL7 v2 datatypes (ITI TF-3 Table 4.2.3.1.7-2)
# ---------------------------------------------------------------------------------------------
_OID = re.compile(r"[0-2](\.(0|[1-9][0-9]*))+")


def is_oid(value: str) -> bool:
    return bool(_OID.fullmatch(value or ""))


def _components(value: str) -> list[str]:
    return (value or "").split("^")


def _comp(parts: list[str], index: int) -> str:
    """1-based component access, empty when absent."""
    return parts[index - 1] if len(parts) >= index else ""


@dataclass(frozen=True)
class Cx:
    """``id^^^&oid&ISO^type`` — e.g. an INS ``NNNNNNNNNNNNNKK^^^&1.2.250.1.213.1.4.8&ISO^NH``."""

    id: str
    authority_oid: str
    authority_type: str
    id_type: str
    raw: str

    def problems(self) -> list[str]:
        out = []
        if not self.id:
            out.append("CX.1 (identifiant) vide")
        if not self.authority_oid:
            out.append("CX.4.2 (OID de l'autorité d'affectation) vide")
        elif not is_oid(self.authority_oid):
            out.append(f"CX.4.2 n'est pas un OID : {self.authority_oid}")
        if self.authority_type != "ISO":
            out.append(f"CX.4.3 doit valoir ISO (trouvé : {self.authority_type or 'vide'})")
        return out


def parse_cx(value: str) -> Cx:
    parts = _components(value)
    authority = _comp(parts, 4).split("&")
    return Cx(id=_comp(parts, 1), authority_oid=authority[1] if len(authority) > 1 else "",
              authority_type=authority[2] if len(authority) > 2 else "", id_type=_comp(parts, 5), raw=value or "")


@dataclass(frozen=True)
class Xcn:
    """``idNat^NOM^Prénom^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS`` (protocols.md §1.4)."""

    id: str
    family: str
    given: str
    authority_oid: str
    name_type: str
    id_type: str
    raw: str


def parse_xcn(value: str) -> Xcn:
    parts = _components(value)
    authority = _comp(parts, 9).split("&")
    return Xcn(id=_comp(parts, 1), family=_comp(parts, 2), given=_comp(parts, 3),
               authority_oid=authority[1] if len(authority) > 1 else "", name_type=_comp(parts, 10),
               id_type=_comp(parts, 13), raw=value or "")


@dataclass(frozen=True)
class Xon:
    """``Nom^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^StructIdNat``."""

    name: str
    authority_oid: str
    id_type: str
    id: str
    raw: str


def parse_xon(value: str) -> Xon:
    parts = _components(value)
    authority = _comp(parts, 6).split("&")
    return Xon(name=_comp(parts, 1), authority_oid=authority[1] if len(authority) > 1 else "",
               id_type=_comp(parts, 7), id=_comp(parts, 10) or _comp(parts, 3), raw=value or "")


_DTM = re.compile(r"\d{4}(\d{2}(\d{2}(\d{2}(\d{2}(\d{2})?)?)?)?)?")
_DTM_FORMATS = {4: "%Y", 6: "%Y%m", 8: "%Y%m%d", 10: "%Y%m%d%H", 12: "%Y%m%d%H%M", 14: "%Y%m%d%H%M%S"}


def parse_dtm(value: str) -> dt.datetime | None:
    """An XDS DTM (UTC, ``YYYY[MM[DD[hh[mm[ss]]]]]``); None when malformed."""
    value = (value or "").strip()
    if not _DTM.fullmatch(value):
        return None
    try:
        return dt.datetime.strptime(value, _DTM_FORMATS[len(value)]).replace(tzinfo=dt.UTC)
    except ValueError:
        return None


_HL7_TS = re.compile(r"(\d{4,14})(?:\.\d+)?([+-]\d{4})?")


def hl7_ts_to_dtm(value: str) -> tuple[str, bool]:
    """A CDA TS (``20200312111700+0100``) as an XDS DTM in UTC: ``("20200312101700", had_zone)``.

    Without a zone the digits are returned as they are (``had_zone`` False): the comparison can then
    only be literal, and the caller says so.
    """
    m = _HL7_TS.fullmatch((value or "").strip())
    if not m:
        return "", False
    digits, zone = m.group(1), m.group(2)
    if not zone or len(digits) < 10:
        return digits, bool(zone)
    fmt = _DTM_FORMATS.get(len(digits))
    if fmt is None:
        return digits, True
    try:
        local = dt.datetime.strptime(digits, fmt)
    except ValueError:
        return digits, True
    sign = 1 if zone[0] == "+" else -1
    offset = dt.timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5])) * sign
    utc = local - offset
    return utc.strftime(fmt), True


# ---------------------------------------------------------------------------------------------
# model
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Coded:
    code: str
    scheme: str
    display: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "scheme": self.scheme, "display": self.display}


@dataclass
class Author:
    person: list[str] = field(default_factory=list)
    institution: list[str] = field(default_factory=list)
    role: list[str] = field(default_factory=list)
    specialty: list[str] = field(default_factory=list)
    telecom: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, list[str]]:
        return {"authorPerson": list(self.person), "authorInstitution": list(self.institution),
                "authorRole": list(self.role), "authorSpecialty": list(self.specialty),
                "authorTelecommunication": list(self.telecom)}


@dataclass
class RegistryObject:
    id: str
    element: etree._Element | None = field(default=None, repr=False, compare=False)
    lid: str = ""
    status: str = ""
    title: str = ""
    comments: str = ""
    slots: dict[str, list[str]] = field(default_factory=dict)
    codes: dict[str, list[Coded]] = field(default_factory=dict)
    identifiers: dict[str, str] = field(default_factory=dict)
    authors: list[Author] = field(default_factory=list)
    unknown_schemes: list[str] = field(default_factory=list)

    def slot(self, name: str) -> str:
        values = self.slots.get(name) or []
        return values[0] if values else ""

    def code(self, name: str) -> Coded | None:
        values = self.codes.get(name) or []
        return values[0] if values else None

    @property
    def unique_id(self) -> str:
        return self.identifiers.get("uniqueId", "")

    @property
    def patient_id(self) -> str:
        return self.identifiers.get("patientId", "")

    @property
    def line(self) -> int | None:
        return self.element.sourceline if self.element is not None else None


@dataclass
class DocumentEntry(RegistryObject):
    mime_type: str = ""
    object_type: str = ""

    @property
    def is_signature(self) -> bool:
        cls = self.code("classCode")
        return bool(cls and cls.code == ns.DSG_CLASS[0])

    def metadata(self) -> dict[str, Any]:
        """The plain mapping ``compare_metadata_with_cda`` takes (slot and classification values).

        Keys: entryUUID, uniqueId, patientId, sourcePatientId, sourcePatientInfo, title, mimeType,
        languageCode, creationTime, serviceStartTime, serviceStopTime, hash, size, legalAuthenticator,
        repositoryUniqueId, authors (list of {authorPerson, authorInstitution, authorRole,
        authorSpecialty}), and the coded values classCode, typeCode, formatCode, confidentialityCode,
        healthcareFacilityTypeCode, practiceSettingCode, eventCodeList as lists of
        ``{"code", "scheme", "display"}``.
        """
        out: dict[str, Any] = {
            "entryUUID": self.id, "uniqueId": self.unique_id, "patientId": self.patient_id,
            "title": self.title, "mimeType": self.mime_type, "availabilityStatus": self.status,
            "authors": [a.to_dict() for a in self.authors],
        }
        for name in ("sourcePatientId", "languageCode", "creationTime", "serviceStartTime", "serviceStopTime",
                     "hash", "size", "legalAuthenticator", "repositoryUniqueId"):
            out[name] = self.slot(name)
        out["sourcePatientInfo"] = list(self.slots.get("sourcePatientInfo") or [])
        for name in ns.DE_SCHEMES:
            if name != "author":
                out[name] = [c.to_dict() for c in self.codes.get(name, [])]
        return out


@dataclass
class SubmissionSet(RegistryObject):
    pass


@dataclass
class Association:
    id: str
    type: str
    source: str
    target: str
    slots: dict[str, list[str]] = field(default_factory=dict)
    element: etree._Element | None = field(default=None, repr=False, compare=False)

    def slot(self, name: str) -> str:
        values = self.slots.get(name) or []
        return values[0] if values else ""

    @property
    def short_type(self) -> str:
        return self.type.rsplit(":", 1)[-1]


@dataclass
class Submission:
    submission_sets: list[SubmissionSet] = field(default_factory=list)
    entries: list[DocumentEntry] = field(default_factory=list)
    associations: list[Association] = field(default_factory=list)
    problems: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def submission_set(self) -> SubmissionSet | None:
        return self.submission_sets[0] if self.submission_sets else None

    def entry(self, entry_id: str) -> DocumentEntry | None:
        return next((e for e in self.entries if e.id == entry_id), None)

    def associations_of(self, kind: str) -> list[Association]:
        return [a for a in self.associations if a.type == kind]

    @property
    def documents(self) -> list[DocumentEntry]:
        """The DocumentEntries that are not the DSG signature document."""
        return [e for e in self.entries if not e.is_signature]

    @property
    def signature_entries(self) -> list[DocumentEntry]:
        return [e for e in self.entries if e.is_signature]


# ---------------------------------------------------------------------------------------------
# parsing
# ---------------------------------------------------------------------------------------------
MAX_OBJECTS = 500
MAX_SLOT_VALUES = 200


def _text(el: etree._Element | None) -> str:
    return (el.text or "").strip() if el is not None else ""


def _localized(el: etree._Element, child: str) -> str:
    holder = el.find(q(ns.RIM, child))
    if holder is None:
        return ""
    loc = holder.find(q(ns.RIM, "LocalizedString"))
    return (loc.get("value") or "").strip() if loc is not None else ""


def _slots(el: etree._Element) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for slot in el.findall(q(ns.RIM, "Slot")):
        name = slot.get("name") or ""
        values = [_text(v) for v in slot.iterfind(f"{q(ns.RIM, 'ValueList')}/{q(ns.RIM, 'Value')}")]
        out.setdefault(name, []).extend(values[:MAX_SLOT_VALUES])
    return out


def _fill(obj: RegistryObject, el: etree._Element, schemes: dict[str, str], identifiers: dict[str, str]) -> None:
    by_scheme = {v: k for k, v in schemes.items()}
    by_ident = {v: k for k, v in identifiers.items()}
    obj.lid = el.get("lid") or ""
    obj.status = el.get("status") or ""
    obj.title = _localized(el, "Name")
    obj.comments = _localized(el, "Description")
    obj.slots = _slots(el)
    for cl in el.findall(q(ns.RIM, "Classification")):
        scheme = cl.get("classificationScheme") or ""
        name = by_scheme.get(scheme)
        if name == "author":
            slots = _slots(cl)
            obj.authors.append(Author(slots.get("authorPerson", []), slots.get("authorInstitution", []),
                                      slots.get("authorRole", []), slots.get("authorSpecialty", []),
                                      slots.get("authorTelecommunication", [])))
        elif name:
            scheme_slot = _slots(cl).get("codingScheme") or [""]
            obj.codes.setdefault(name, []).append(
                Coded(cl.get("nodeRepresentation") or "", scheme_slot[0], _localized(cl, "Name")))
        elif scheme:
            obj.unknown_schemes.append(scheme)
    for ext in el.findall(q(ns.RIM, "ExternalIdentifier")):
        name = by_ident.get(ext.get("identificationScheme") or "")
        if name:
            obj.identifiers[name] = (ext.get("value") or "").strip()


def parse_submit_objects(root: etree._Element) -> Submission:
    """Read an ``lcm:SubmitObjectsRequest`` (or any element holding a ``rim:RegistryObjectList``)."""
    sub = Submission()
    if etree.QName(root).localname == "RegistryObjectList":
        rol = root
    else:
        rol = root.find(f".//{q(ns.RIM, 'RegistryObjectList')}")
    if rol is None:
        sub.problems.append(("DMP.XDS.no_objects", "aucune rim:RegistryObjectList dans la soumission",
                             "no rim:RegistryObjectList in the submission"))
        return sub
    children = [c for c in rol if isinstance(c.tag, str)]
    if len(children) > MAX_OBJECTS:
        sub.problems.append(("DMP.XDS.too_many", f"trop d'objets ebRIM ({len(children)} > {MAX_OBJECTS})",
                             f"too many ebRIM objects ({len(children)} > {MAX_OBJECTS})"))
        children = children[:MAX_OBJECTS]
    packages: list[etree._Element] = []
    ss_ids: set[str] = set()
    for el in children:
        local = etree.QName(el).localname
        if local == "RegistryPackage":
            packages.append(el)
        elif local == "Classification" and el.get("classificationNode") == ns.NODE_SUBMISSION_SET:
            ss_ids.add(el.get("classifiedObject") or "")
    for el in children:
        local = etree.QName(el).localname
        if local == "ExtrinsicObject":
            de = DocumentEntry(id=el.get("id") or "", element=el, mime_type=el.get("mimeType") or "",
                               object_type=el.get("objectType") or "")
            _fill(de, el, ns.DE_SCHEMES, ns.DE_IDENTIFIERS)
            sub.entries.append(de)
        elif local == "Association":
            sub.associations.append(Association(
                id=el.get("id") or "", type=el.get("associationType") or "", source=el.get("sourceObject") or "",
                target=el.get("targetObject") or "", slots=_slots(el), element=el))
    for el in packages:
        pid = el.get("id") or ""
        inner = any(c.get("classificationNode") == ns.NODE_SUBMISSION_SET
                    for c in el.findall(q(ns.RIM, "Classification")))
        if pid in ss_ids or inner:
            ss = SubmissionSet(id=pid, element=el)
            _fill(ss, el, ns.SS_SCHEMES, ns.SS_IDENTIFIERS)
            sub.submission_sets.append(ss)
        else:
            sub.problems.append(("DMP.XDS.folder", f"RegistryPackage {pid} non classé comme lot de soumission "
                                 "(dossier non attendu par le DMP)",
                                 f"RegistryPackage {pid} not classified as a submission set (folder not expected)"))
    return sub
