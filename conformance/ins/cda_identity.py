"""The resident identity a CDA header carries (recordTarget), extracted and checked.

Why a separate extractor: the CDA suite checks the header of every document, the DMP and MSSanté
suites compare the patient ids they see with it, and the INS suite compares it with what INSi
returned. All of them need the same reading of ``recordTarget/patientRole``.

Rules (protocols.md §3.2, CI-SIS structurationMinimale "Dans le cadre de l'INS…"): when an INS OID is
used, family BR, given BR, given without qualifier, birthTime, administrativeGenderCode and
birthplace/place/addr/county are mandatory; the INS root is one of the four INS OIDs (never INS-C);
the extension is a valid matricule. Règle 28: no INS for a non-qualified identity.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from lxml import etree

from conformance.findings import Finding, Severity, error, info, warning
from conformance.ins.identity import QUAL, STATUS_LABELS, may_share_ins
from conformance.ins.matricule import INS_OIDS, OID_INS_C, check_matricule, check_oid
from conformance.ins.traits import check_name
from conformance.safexml import XmlRejected, parse_bytes

HL7 = "urn:hl7-org:v3"
NS = {"h": HL7}
GENDER_CODES = ("F", "M", "UN")  # JDV_J143 administrativeGenderCode
_BIRTH_TIME = re.compile(r"\d{8}")
_COG = re.compile(r"(?:\d{5}|2[AB]\d{3})")


@dataclass(frozen=True)
class Located:
    value: str
    xpath: str
    line: int | None


@dataclass
class CdaIdentity:
    """What ``recordTarget/patientRole`` says about the resident."""

    record_targets: int = 0
    ins_ids: list[tuple[Located, Located]] = field(default_factory=list)  # (root, extension)
    insc_ids: list[Located] = field(default_factory=list)
    other_ids: list[tuple[str, str]] = field(default_factory=list)
    birth_name: Located | None = None  # family[@qualifier='BR']
    used_name: Located | None = None  # family[@qualifier='CL']
    given_names: Located | None = None  # given without qualifier
    first_given_name: Located | None = None  # given[@qualifier='BR']
    used_given_name: Located | None = None  # given[@qualifier='CL']
    birth_time: Located | None = None
    gender: Located | None = None
    birthplace: Located | None = None
    patient_role: Located | None = None

    @property
    def ins(self) -> tuple[str, str] | None:
        """(matricule, oid) of the first INS id, or None."""
        if not self.ins_ids:
            return None
        root, ext = self.ins_ids[0]
        return ext.value, root.value


def readable_path(el: etree._Element) -> str:
    """``/ClinicalDocument/recordTarget/patientRole/id[1]``: local names, positions among same-name siblings."""
    parts: list[str] = []
    node: etree._Element | None = el
    while node is not None:
        name = etree.QName(node).localname
        parent = node.getparent()
        if parent is not None:
            same = [c for c in parent if isinstance(c.tag, str) and etree.QName(c).localname == name]
            if len(same) > 1:
                name += f"[{same.index(node) + 1}]"
        parts.append(name)
        node = parent
    return "/" + "/".join(reversed(parts))


def _loc(el: etree._Element, value: str) -> Located:
    return Located(value=value, xpath=readable_path(el), line=el.sourceline)


def _first(parent: etree._Element, path: str, attr: str | None = None) -> Located | None:
    for el in parent.iterfind(path, NS):
        value = el.get(attr) if attr else "".join(el.itertext())
        return _loc(el, value or "")
    return None


def extract_identity(tree: etree._ElementTree | etree._Element) -> CdaIdentity:
    """Read the recordTarget of a parsed CDA (no checks; missing parts stay None)."""
    root = tree.getroot() if isinstance(tree, etree._ElementTree) else tree
    ident = CdaIdentity()
    targets = root.findall("h:recordTarget", NS)
    ident.record_targets = len(targets)
    if not targets:
        return ident
    role = targets[0].find("h:patientRole", NS)
    if role is None:
        return ident
    ident.patient_role = _loc(role, "")
    for id_el in role.iterfind("h:id", NS):
        root_oid = id_el.get("root") or ""
        ext = id_el.get("extension") or ""
        if root_oid in INS_OIDS:
            ident.ins_ids.append((_loc(id_el, root_oid), _loc(id_el, ext)))
        elif root_oid == OID_INS_C:
            ident.insc_ids.append(_loc(id_el, root_oid))
        else:
            ident.other_ids.append((root_oid, ext))
    patient = role.find("h:patient", NS)
    if patient is None:
        return ident
    ident.birth_name = _first(patient, "h:name/h:family[@qualifier='BR']")
    ident.used_name = _first(patient, "h:name/h:family[@qualifier='CL']")
    ident.given_names = _given_plain(patient)
    ident.first_given_name = _first(patient, "h:name/h:given[@qualifier='BR']")
    ident.used_given_name = _first(patient, "h:name/h:given[@qualifier='CL']")
    ident.birth_time = _first(patient, "h:birthTime", "value")
    ident.gender = _first(patient, "h:administrativeGenderCode", "code")
    ident.birthplace = _first(patient, "h:birthplace/h:place/h:addr/h:county")
    return ident


def _given_plain(patient: etree._Element) -> Located | None:
    # ElementPath has no not(); the given without qualifier is the list of birth given names
    for el in patient.iterfind("h:name/h:given", NS):
        if el.get("qualifier") is None:
            return _loc(el, "".join(el.itertext()))
    return None


def check_cda_identity(document: bytes | etree._ElementTree | etree._Element, artefact: str = "", *,
                       resident: Mapping[str, Any] | None = None, test_environment: bool = False,
                       requirements: Sequence[str] = ()) -> list[Finding]:
    """Every INS problem of one CDA header; with ``resident`` (contract v1 JSON), also Règle 28 and
    the comparison with the identity the candidate stored (the traits exactly as INSi returned them)."""
    req = tuple(requirements)
    if isinstance(document, bytes | bytearray):
        try:
            tree: Any = parse_bytes(bytes(document))
        except XmlRejected as exc:
            return [error(f"document CDA illisible : {exc.reason}", f"unreadable CDA document: {exc.reason_en}",
                          rule="INS.CDA.parse", artefact=artefact, line=exc.line, requirements=req)]
    else:
        tree = document
    root = tree.getroot() if isinstance(tree, etree._ElementTree) else tree
    if etree.QName(root).localname != "ClinicalDocument" or etree.QName(root).namespace != HL7:
        return [error("ce n'est pas un document CDA (racine ClinicalDocument HL7 v3 attendue)",
                      "not a CDA document (HL7 v3 ClinicalDocument root expected)", rule="INS.CDA.root",
                      artefact=artefact, expected="{urn:hl7-org:v3}ClinicalDocument", found=str(root.tag)[:80],
                      requirements=req)]
    ident = extract_identity(root)
    out: list[Finding] = []
    base: dict[str, Any] = {"artefact": artefact, "requirements": req}
    if ident.record_targets != 1 or ident.patient_role is None:
        out.append(error("le document doit porter exactement un recordTarget/patientRole",
                         "the document must carry exactly one recordTarget/patientRole", rule="INS.CDA.recordTarget",
                         xpath="/ClinicalDocument/recordTarget", expected="1", found=str(ident.record_targets), **base))
        return out
    for loc in ident.insc_ids:
        out.extend(check_oid(loc.value, xpath=loc.xpath, line=loc.line, **base))
    if len(ident.ins_ids) > 1:
        out.append(warning("plusieurs identifiants INS dans patientRole", "several INS ids in patientRole",
                           rule="INS.CDA.ins-count", xpath=ident.ins_ids[1][0].xpath, line=ident.ins_ids[1][0].line,
                           expected="1", found=str(len(ident.ins_ids)), **base))
    for root_loc, ext in ident.ins_ids:
        out.extend(check_matricule(ext.value, root_loc.value, xpath=ext.xpath + "/@extension", line=ext.line,
                                   test_environment=test_environment, **base))
    if ident.ins_ids:
        out.extend(_traits_findings(ident, base))
    if resident is not None:
        out.extend(_against_resident(ident, resident, base))
    if not any(f.is_error for f in out):
        out.append(info("identité du recordTarget conforme aux règles INS", "recordTarget identity meets the INS rules",
                        rule="INS.CDA.ok", xpath=ident.patient_role.xpath, **base))
    return out


_TRAIT_PARTS = (
    ("birth_name", "family[@qualifier='BR']", "nom de naissance", "birth name"),
    ("given_names", "given (sans qualifier)", "prénoms de naissance", "birth given names"),
    ("first_given_name", "given[@qualifier='BR']", "premier prénom de naissance", "first birth given name"),
    ("birth_time", "birthTime/@value", "date de naissance", "birth date"),
    ("gender", "administrativeGenderCode/@code", "sexe", "sex"),
    ("birthplace", "birthplace/place/addr/county", "lieu de naissance", "birthplace"),
)


def _traits_findings(ident: CdaIdentity, base: dict[str, Any]) -> list[Finding]:
    out: list[Finding] = []
    patient_xpath = (ident.patient_role.xpath if ident.patient_role else "") + "/patient"
    for attr, path, label, label_en in _TRAIT_PARTS:
        loc: Located | None = getattr(ident, attr)
        if loc is None or not loc.value.strip():
            out.append(error(f"INS présent mais trait absent : {label} ({path})",
                             f"INS present but trait missing: {label_en} ({path})", rule=f"INS.CDA.trait.{attr}",
                             xpath=f"{patient_xpath}/{path}", expected="présent, non vide", found="absent", **base))
    for attr, field_name in (("birth_name", "birth_name"), ("first_given_name", "first_given_name")):
        loc = getattr(ident, attr)
        if loc is not None and loc.value.strip():
            for f in check_name(loc.value, field_name, where=dict(base, xpath=loc.xpath, line=loc.line),
                                severity_case="warning"):
                out.append(_as_warning(f))
    if ident.given_names is not None and ident.given_names.value.strip():
        for part in ident.given_names.value.split(" "):
            for f in check_name(part, "given_names", where=dict(base, xpath=ident.given_names.xpath,
                                                                  line=ident.given_names.line),
                                severity_case="warning"):
                out.append(_as_warning(f))
        first = ident.first_given_name.value if ident.first_given_name else ""
        if first and first != ident.given_names.value.split(" ")[0]:
            out.append(warning("le premier prénom (given BR) n'est pas le premier des prénoms de naissance (Règle 6)",
                               "the first given name (given BR) is not the first birth given name (Rule 6)",
                               rule="INS.CDA.trait.consistency", xpath=ident.first_given_name.xpath,  # type: ignore[union-attr]
                               line=ident.first_given_name.line,  # type: ignore[union-attr]
                               expected=ident.given_names.value.split(" ")[0], found=first, **base))
    bt = ident.birth_time
    if bt is not None and bt.value and not _BIRTH_TIME.fullmatch(bt.value):
        out.append(warning("birthTime d'un patient INS : AAAAMMJJ attendu", "birthTime of an INS patient: YYYYMMDD expected",
                           rule="INS.CDA.trait.birth_time.format", xpath=bt.xpath, line=bt.line,
                           expected="AAAAMMJJ", found=bt.value[:40], **base))
    g = ident.gender
    if g is not None and g.value and g.value not in GENDER_CODES:
        out.append(error("administrativeGenderCode hors JDV_J143", "administrativeGenderCode outside JDV_J143",
                         rule="INS.CDA.trait.gender.code", xpath=g.xpath, line=g.line,
                         expected=" | ".join(GENDER_CODES), found=g.value[:40], **base))
    bp = ident.birthplace
    if bp is not None and bp.value.strip() and not _COG.fullmatch(bp.value.strip()):
        out.append(error("lieu de naissance : code INSEE (COG) à 5 caractères attendu dans county",
                         "birthplace: 5-character INSEE (COG) code expected in county",
                         rule="INS.CDA.trait.birthplace.code", xpath=bp.xpath, line=bp.line,
                         expected="63220 | 2A004 | 99xxx", found=bp.value[:40], **base))
    return out


def _as_warning(f: Finding) -> Finding:
    """Name format in a CDA is inferred from the INSi format: a warning, never a failure."""
    return replace(f, severity=Severity.WARNING, rule=f.rule.replace("INS.TRAIT.", "INS.CDA.format."))


def _against_resident(ident: CdaIdentity, resident: Mapping[str, Any], base: dict[str, Any]) -> list[Finding]:
    out: list[Finding] = []
    status = str(resident.get("status") or "")
    stored = resident.get("ins") if isinstance(resident.get("ins"), Mapping) else None
    label, label_en = STATUS_LABELS.get(status, (status, status))
    if ident.ins_ids and not may_share_ins(status):
        loc = ident.ins_ids[0][1]
        out.append(error(
            f"INS transmis pour une {label} (statut {status}) : seule une identité qualifiée partage son matricule "
            "INS et son OID, les autres ne transmettent que les traits (Règle 28)",
            f"INS transmitted for a {label_en} (status {status}): only a qualified identity shares its matricule INS "
            "and OID, the others send the traits only (Rule 28)",
            rule="INS.CDA.unqualified", xpath=loc.xpath, line=loc.line, expected="aucun id INS",
            found=f"{ident.ins_ids[0][0].value} / {loc.value}", **base))
        return out
    if status == QUAL and not ident.ins_ids:
        out.append(warning("identité qualifiée mais aucun INS dans le recordTarget",
                           "qualified identity but no INS in the recordTarget", rule="INS.CDA.qual-without-ins",
                           xpath=ident.patient_role.xpath if ident.patient_role else "",
                           expected="id INS", found="absent", **base))
        return out
    if status == QUAL and ident.ins_ids and stored:
        matricule, oid = ident.ins  # type: ignore[misc]
        loc = ident.ins_ids[0][1]
        if (matricule, oid) != (stored.get("matricule"), stored.get("oid")):
            out.append(error("INS du document différent de l'INS enregistré pour le résident",
                             "the document's INS differs from the resident's stored INS", rule="INS.CDA.ins-mismatch",
                             xpath=loc.xpath, line=loc.line, expected=f"{stored.get('oid')} / {stored.get('matricule')}",
                             found=f"{oid} / {matricule}", **base))
        out.extend(_compare_traits(ident, resident.get("traits") or {}, base))
    return out


def _compare_traits(ident: CdaIdentity, traits: Mapping[str, Any], base: dict[str, Any]) -> list[Finding]:
    given = traits.get("given_names")
    given_text = " ".join(given) if isinstance(given, list | tuple) else str(given or "")
    expected = {
        "birth_name": str(traits.get("birth_name") or ""),
        "given_names": given_text,
        "first_given_name": str(traits.get("first_given_name") or ""),
        "birth_time": str(traits.get("birth_date") or "").replace("-", ""),
        "gender": str(traits.get("sex") or ""),
        "birthplace": str(traits.get("birthplace_code") or ""),
    }
    out: list[Finding] = []
    for attr, _path, label, label_en in _TRAIT_PARTS:
        loc: Located | None = getattr(ident, attr)
        if loc is None:
            continue  # already reported as missing
        if loc.value != expected[attr]:
            out.append(error(f"trait du document différent de l'identité enregistrée (renvoyée par l'INSi) : {label}",
                             f"document trait differs from the stored identity (as INSi returned it): {label_en}",
                             rule=f"INS.CDA.trait-mismatch.{attr}", xpath=loc.xpath, line=loc.line,
                             expected=expected[attr][:80], found=loc.value[:80], **base))
    return out
