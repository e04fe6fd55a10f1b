"""XDS metadata versus the CDA header they describe (protocols.md §1.4 "Source (CDA)", D6 of §1.6).

Shared on purpose: the DMP checks feed it an ITI-41 DocumentEntry, the MSS checks an XDM METADATA.XML
entry. So the entry side is a plain mapping (``xds.DocumentEntry.metadata()`` gives one; see its
docstring for the keys) and the CDA side is the ``CdaHeader`` of ``conformance.ihe.cda_header.read_header``.
The header is read through small accessors rather than attribute by attribute, so a tuple, a dict or
an object with ``code``/``code_system`` all work for a coded value.

Severity: a value that must come from the header and differs is an ERROR (the DMP refuses or, worse,
indexes the document wrongly); the rules the ANS marks "R if known" or that we only infer give warnings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from conformance.findings import Finding, error, info, warning
from conformance.ihe.xds import hl7_ts_to_dtm, parse_cx, parse_xcn, parse_xon

REQ = ("DUI.DMP.01",)
CONFIDENTIALITY_SYSTEM = "2.16.840.1.113883.5.25"


# ---------------------------------------------------------------------------------------------
# tolerant accessors
# ---------------------------------------------------------------------------------------------
def _get(obj: Any, *names: str) -> Any:
    for name in names:
        if isinstance(obj, Mapping):
            if name in obj and obj[name] not in (None, ""):
                return obj[name]
        elif getattr(obj, name, None) not in (None, ""):
            return getattr(obj, name)
    return None


def coded(value: Any) -> tuple[str, str]:
    """``(code, system)`` of a coded value given as str, tuple, mapping or object."""
    if value is None:
        return "", ""
    if isinstance(value, str):
        return value.strip(), ""
    if isinstance(value, (tuple, list)):
        return (str(value[0]).strip() if value else ""), (str(value[1]).strip() if len(value) > 1 else "")
    code = _get(value, "code")
    system = _get(value, "code_system", "codeSystem", "system", "scheme", "codingScheme")
    return str(code or "").strip(), str(system or "").strip()


def ii(value: Any) -> tuple[str, str]:
    """``(root, extension)`` of an HL7 II given as str (``root^ext``), tuple, mapping or object."""
    if value is None:
        return "", ""
    if isinstance(value, str):
        root, _, ext = value.partition("^")
        return root.strip(), ext.strip()
    if isinstance(value, (tuple, list)):
        return (str(value[0]) if value else ""), (str(value[1] or "") if len(value) > 1 else "")
    return str(_get(value, "root") or ""), str(_get(value, "extension", "ext") or "")


def unique_id_of(value: Any) -> str:
    """The XDS form of a CDA id: ``root`` or ``root^extension``."""
    root, ext = ii(value)
    return f"{root}^{ext}" if ext else root


def _ids(obj: Any, *names: str) -> list[str]:
    """Every identifier extension (or root when no extension) found under the given attribute names."""
    value = _get(obj, *names)
    if value is None:
        return []
    items = value if isinstance(value, (list, tuple)) and value and not isinstance(value[0], str) else [value]
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], str) and len(value) == 2 \
            and "." in value[0]:
        items = [tuple(value)]
    out = []
    for item in items:
        root, ext = ii(item)
        if ext or root:
            out.append(ext or root)
    return out


def _first_coded(entry: Mapping[str, Any], key: str) -> tuple[str, str]:
    values = entry.get(key)
    if not values:
        return "", ""
    if isinstance(values, Mapping) or isinstance(values, str):
        return coded(values)
    first = values[0]
    return coded(first)


def _all_coded(entry: Mapping[str, Any], key: str) -> list[tuple[str, str]]:
    values = entry.get(key)
    if not values:
        return []
    if isinstance(values, (Mapping, str)):
        return [coded(values)]
    return [coded(v) for v in values]


def _norm(text: Any) -> str:
    return " ".join(str(text or "").split())


# ---------------------------------------------------------------------------------------------
# comparison
# ---------------------------------------------------------------------------------------------
def compare_metadata_with_cda(entry: Mapping[str, Any], header: Any, *, artefact: str = "",
                              requirements: tuple[str, ...] = REQ, where: str = "DocumentEntry"
                              ) -> list[Finding]:
    """Every disagreement between one DocumentEntry's metadata and the CDA header, one finding each."""
    out: list[Finding] = []
    base = {"artefact": artefact, "requirements": requirements}

    def bad(field: str, fr: str, en: str, expected: str, found: str, *, severe: bool = True) -> None:
        make = error if severe else warning
        out.append(make(f"{where}.{field} : {fr}", f"{where}.{field}: {en}", rule=f"DMP.META.{field}",
                        xpath=f"/{where}/{field}", expected=expected, found=found or "absent",
                        **base))

    # typeCode = ClinicalDocument/code
    h_code, h_system = coded(_get(header, "type_code"))
    m_code, m_system = _first_coded(entry, "typeCode")
    if h_code and (m_code, m_system or h_system) != (h_code, h_system or m_system):
        bad("typeCode", "différent du code du document CDA", "differs from the CDA document code",
            f"{h_code}^{h_system}", f"{m_code}^{m_system}")
    # title
    h_title = _norm(_get(header, "title"))
    if h_title and _norm(entry.get("title")) != h_title:
        bad("title", "différent du titre du document CDA", "differs from the CDA title", h_title,
            _norm(entry.get("title")))
    # creationTime = effectiveTime (UTC)
    _times(entry, header, "creationTime", ("creation_time", "effective_time"), bad, out, base, where)
    _times(entry, header, "serviceStartTime", ("service_start",), bad, out, base, where)
    _times(entry, header, "serviceStopTime", ("service_stop",), bad, out, base, where, if_known=True)
    # confidentialityCode: the first occurrence is the CDA one
    h_conf, _ = coded(_get(header, "confidentiality_code"))
    confs = _all_coded(entry, "confidentialityCode")
    if h_conf:
        hl7 = [c for c, s in confs if s in ("", CONFIDENTIALITY_SYSTEM)]
        if h_conf not in hl7:
            bad("confidentialityCode", "ne reprend pas le confidentialityCode du CDA",
                "does not carry the CDA confidentialityCode", h_conf, ", ".join(f"{c}^{s}" for c, s in confs))
    # healthcareFacilityTypeCode, practiceSettingCode
    for field, attr in (("healthcareFacilityTypeCode", "healthcare_facility_type_code"),
                        ("practiceSettingCode", "practice_setting_code")):
        h_c, h_s = coded(_get(header, attr))
        m_c, m_s = _first_coded(entry, field)
        if h_c and (m_c, m_s or h_s) != (h_c, h_s or m_s):
            bad(field, "différent de la valeur de l'en-tête CDA", "differs from the CDA header value",
                f"{h_c}^{h_s}", f"{m_c}^{m_s}")
    # uniqueId = ClinicalDocument/id
    h_uid = unique_id_of(_get(header, "unique_id"))
    if h_uid and (entry.get("uniqueId") or "") != h_uid:
        bad("uniqueId", "différent de l'identifiant du document CDA (id root^extension)",
            "differs from the CDA document id (root^extension)", h_uid, str(entry.get("uniqueId") or ""))
    # patientId = recordTarget INS
    h_root, h_ext = ii(_get(header, "patient_id"))
    if h_ext:
        cx = parse_cx(str(entry.get("patientId") or ""))
        if (cx.id, cx.authority_oid) != (h_ext, h_root):
            bad("patientId", "différent de l'INS du recordTarget CDA", "differs from the CDA recordTarget INS",
                f"{h_ext}^^^&{h_root}&ISO^NH", str(entry.get("patientId") or ""))
    # languageCode
    h_lang = _norm(_get(header, "language", "language_code"))
    # BCP 47 (RFC 5646 §2.1.1): language tags are case-insensitive, en-us and en-US are the same tag
    if h_lang and entry.get("languageCode") and _norm(entry.get("languageCode")).casefold() != h_lang.casefold():
        bad("languageCode", "différent du languageCode du CDA", "differs from the CDA languageCode", h_lang,
            _norm(entry.get("languageCode")))
    _authors(entry, header, bad)
    _legal(entry, header, bad)
    if not out:
        out.append(info(f"{where} : métadonnées cohérentes avec l'en-tête CDA",
                        f"{where}: metadata consistent with the CDA header", rule="DMP.META.consistent",
                        **base))
    return out


def _times(entry: Mapping[str, Any], header: Any, field: str, attrs: tuple[str, ...], bad: Any,
           out: list[Finding], base: dict[str, Any], where: str, *, if_known: bool = False) -> None:
    raw = _get(header, *attrs)
    if raw is None:
        return
    value = raw if isinstance(raw, str) else str(_get(raw, "value") or raw)
    expected, had_zone = hl7_ts_to_dtm(value)
    found = str(entry.get(field) or "")
    if not expected:
        return
    if not found:
        bad(field, "absent alors que l'en-tête CDA le renseigne", "missing although the CDA header gives it",
            expected, "", severe=not if_known)
        return
    if found == expected:
        return
    if not had_zone and len(found) == len(expected):
        out.append(warning(f"{where}.{field} : la date CDA n'a pas de fuseau, comparaison littérale impossible à "
                           "garantir", f"{where}.{field}: the CDA time has no zone, literal comparison only",
                           rule=f"DMP.META.{field}", expected=expected, found=found, **base))
        return
    # a coarser XDS precision of the same instant is acceptable (e.g. 20200312 for 20200312101700)
    if len(found) < len(expected) and expected.startswith(found):
        return
    bad(field, "différent de la date de l'en-tête CDA (convertie en UTC)", "differs from the CDA header time "
        "(converted to UTC)", expected, found)


def _actor_id(actor: Any) -> list[str]:
    """Identifier of a CdaHeader Actor (``id_extension``/``id_root``) or of any id-bearing object."""
    ext = _get(actor, "id_extension")
    if ext or _get(actor, "id_root"):
        return [str(ext or _get(actor, "id_root"))]
    return _ids(actor, "person_id", "id", "ids", "person_ids")


def _author_ids(author: Any) -> tuple[list[str], list[str]]:
    persons = _actor_id(author)
    org = _get(author, "organization")
    if org is not None and not isinstance(org, str) and (_get(org, "id_extension") or _get(org, "id_root")):
        orgs = [str(_get(org, "id_extension") or _get(org, "id_root"))]
    else:
        orgs = _ids(author, "organization_id", "institution_id", "organization_ids", "organization")
    return persons, orgs


def _authors(entry: Mapping[str, Any], header: Any, bad: Any) -> None:
    authors = _get(header, "authors")
    if not authors:
        return
    cda_persons: set[str] = set()
    cda_orgs: set[str] = set()
    for a in authors if isinstance(authors, Iterable) else [authors]:
        persons, orgs = _author_ids(a)
        cda_persons.update(persons)
        cda_orgs.update(orgs)
    meta_authors = entry.get("authors") or []
    if not meta_authors:
        bad("author", "aucun auteur dans les métadonnées", "no author in the metadata",
            ", ".join(sorted(cda_persons)), "")
        return
    meta_persons = {parse_xcn(p).id for a in meta_authors for p in (a.get("authorPerson") or [])}
    if cda_persons and not (meta_persons & cda_persons):
        bad("authorPerson", "aucun authorPerson ne correspond à un auteur du CDA",
            "no authorPerson matches a CDA author", ", ".join(sorted(cda_persons)), ", ".join(sorted(meta_persons)))
    meta_orgs = {parse_xon(i).id for a in meta_authors for i in (a.get("authorInstitution") or [])}
    if cda_orgs and meta_orgs and not (meta_orgs & cda_orgs):
        bad("authorInstitution", "aucune authorInstitution ne correspond à la structure d'un auteur du CDA",
            "no authorInstitution matches a CDA author's organisation", ", ".join(sorted(cda_orgs)),
            ", ".join(sorted(meta_orgs)), severe=False)


def _legal(entry: Mapping[str, Any], header: Any, bad: Any) -> None:
    legal = _get(header, "legal_authenticator")
    if legal is None:
        return
    ids = _actor_id(legal)
    if not ids:
        return
    found = parse_xcn(str(entry.get("legalAuthenticator") or "")).id
    if found not in ids:
        bad("legalAuthenticator", "différent du legalAuthenticator du CDA", "differs from the CDA legalAuthenticator",
            ", ".join(ids), str(entry.get("legalAuthenticator") or ""))
