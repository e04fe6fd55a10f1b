"""The value sets the XDS metadata checks need: from the CI-SIS kit when given, built-in otherwise.

Why both: the kit (downloaded by the user from ANS) is the authority, and with it membership is an
ERROR; without it we only know small subsets (the J04/J08 codes, the J02 SA pattern, the corridor
document types of ``profiles/corridors/_document_types.yaml``), so an unknown code is a WARNING there.
The JDV files are IHE SVS XML, read with the hardened parser.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

from conformance.profiles import document_types
from conformance.safexml import XmlRejected, parse_file

SVS = "urn:ihe:iti:svs:2008"
KIT_FILES: dict[str, str | tuple[str, ...]] = {
    "healthcareFacilityTypeCode": "JDV_J02_XdsHealthcareFacilityTypeCode_CISIS.xml",
    "practiceSettingCode": "JDV_J04_XdsPracticeSettingCode_CISIS.xml",
    "typeCode": "JDV_J07_XdsTypeCode_CISIS.xml",
    "confidentialityCode": "JDV_J08_XdsConfidentialityCode_CISIS.xml",
    "authorSpecialty": "JDV_J01_XdsAuthorSpecialty_CISIS.xml",
    # the DMP's own subsets first (J57, J59, J60), then the CI-SIS sets the ANS guides allow "en l'absence
    # de spécifications complémentaires" (J06, J03, J10); the kit as published may hold none of them
    "classCode": ("JDV_J57_ClassCode_DMP.xml", "JDV_J06_XdsClassCode_CISIS.xml"),
    "contentTypeCode": ("JDV_J59_ContentTypeCode_DMP.xml", "JDV_J03_XdsContentTypeCode_CISIS.xml"),
    "formatCode": ("JDV_J60_FormatCode_DMP.xml", "JDV_J10_XdsFormatCode_CISIS.xml"),
}
#: what each built-in set is, said in the findings when the kit does not provide the set
BUILTIN_SOURCE = {
    "classCode": "intégré : JDV_J06_XdsClassCode_CISIS v20230922 (TRE_A03, 12 codes)",
    "contentTypeCode": "intégré : systèmes de JDV_J03_XdsContentTypeCode_CISIS (TRE_A00 1.2.250.1.213.1.1.4.6, "
                       "TRE_R209 1.2.250.1.213.2.2, TRE_R02 1.2.250.1.71.4.2.4), codes non vérifiés",
    "practiceSettingCode": "intégré : sous-ensemble de JDV_J04",
    "confidentialityCode": "intégré : JDV_J08 (N, R, V ; MASQUE_PS, INVISIBLE_*)",
    "healthcareFacilityTypeCode": "intégré : codes SA de TRE_R02 (motif SAnn), EXP_PATIENT, SNR",
}
#: JDV_J03 draws its codes from these systems (ANS terminology IG, JDV_J03 compose)
CONTENT_TYPE_SYSTEMS = ("1.2.250.1.213.1.1.4.6", "1.2.250.1.213.2.2", "1.2.250.1.71.4.2.4")
BUILTIN: dict[str, set[tuple[str, str]]] = {
    "practiceSettingCode": {(c, "1.2.250.1.213.1.1.4.9") for c in (
        "AMBULATOIRE", "AMO", "DEPISTAGE", "ESSMS", "ETABLISSEMENT", "HAD", "MAD", "PALLIATIF", "SAD", "SAMU_SMUR")}
    | {("EXP_PATIENT", "1.2.250.1.213.1.1.4.6"), ("SNR", "1.2.250.1.213.1.1.4.6")},
    "confidentialityCode": {("N", "2.16.840.1.113883.5.25"), ("R", "2.16.840.1.113883.5.25"),
                            ("V", "2.16.840.1.113883.5.25"), ("MASQUE_PS", "1.2.250.1.213.1.1.4.13"),
                            ("INVISIBLE_PATIENT", "1.2.250.1.213.1.1.4.13"),
                            ("INVISIBLE_REPRESENTANTS_LEGAUX", "1.2.250.1.213.1.1.4.13")},
    "healthcareFacilityTypeCode": {("EXP_PATIENT", "1.2.250.1.213.1.1.4.6"), ("SNR", "1.2.250.1.213.1.1.4.6")},
    # TRE_A03 classes (cda.md §1.2, JDV_J06); the DMP subset J57 is not public [?]
    "classCode": {(c, "1.2.250.1.213.1.1.4.1") for c in (
        "10", "11", "31", "42", "43", "44", "45", "52", "60", "90", "95", "99")},
}
SA_PATTERN = re.compile(r"SA\d{2}")
SA_SYSTEM = "1.2.250.1.71.4.2.4"
#: medico-social sectors (rem.md §2.2, JDV_J02): a DUI document is expected in one of them [I].
MEDICO_SOCIAL_SECTORS = ("SA16", "SA17", "SA18", "SA20", "SA21", "SA41")
CLASS_SYSTEM = "1.2.250.1.213.1.1.4.1"
FORMAT_SYSTEMS = ("1.2.250.1.213.1.1.4.2.282", "1.3.6.1.4.1.19376.1.2.3", "1.2.840.10008.2.6.1", "URN")


@dataclass
class ValueSets:
    """Code membership by metadata name; ``authoritative`` says whether a miss is an error."""

    sets: dict[str, set[tuple[str, str]]] = field(default_factory=dict)
    source: dict[str, str] = field(default_factory=dict)

    def authoritative(self, name: str) -> bool:
        return self.source.get(name, "").startswith("kit")

    def contains(self, name: str, code: str, system: str) -> bool | None:
        """True/False when we know the set, None when we know nothing about it."""
        if name == "healthcareFacilityTypeCode" and not self.authoritative(name):
            if system == SA_SYSTEM:
                return bool(SA_PATTERN.fullmatch(code))
        if name == "contentTypeCode" and not self.authoritative(name):
            if system not in CONTENT_TYPE_SYSTEMS:
                return False
            return bool(SA_PATTERN.fullmatch(code)) if system == SA_SYSTEM else None
        known = self.sets.get(name)
        if known is None:
            return None
        return (code, system) in known


def _read_svs(path: Path) -> set[tuple[str, str]]:
    root = parse_file(str(path)).getroot()
    return {(c.get("code") or "", c.get("codeSystem") or "") for c in root.iter(f"{{{SVS}}}Concept")}


def _document_types() -> set[tuple[str, str]]:
    try:
        out = set()
        for dtype in document_types().values():
            for code in dtype.type_codes:
                out.add((code, dtype.code_system))
        return out
    except Exception:  # a broken data file elsewhere must not break the DMP checks
        return set()


_cache: dict[str, ValueSets] = {}
_lock = threading.Lock()


def load_valuesets(kit: Path | str | None = None) -> ValueSets:
    """Value sets from ``<kit>/jeuxDeValeurs`` when available, built-in subsets otherwise (cached)."""
    key = str(kit or "")
    with _lock:
        if key in _cache:
            return _cache[key]
    vs = ValueSets({k: set(v) for k, v in BUILTIN.items()},
                   {k: BUILTIN_SOURCE.get(k, "intégré") for k in (*BUILTIN, "contentTypeCode")})
    types = _document_types()
    if types:
        vs.sets["typeCode"] = types
        vs.source["typeCode"] = "intégré (profiles/corridors/_document_types.yaml)"
    if kit:
        folder = Path(kit) / "jeuxDeValeurs"
        for name, files in KIT_FILES.items():
            names = (files,) if isinstance(files, str) else files
            for filename in names:
                path = folder / filename
                if not path.is_file():
                    continue
                try:
                    vs.sets[name] = _read_svs(path)
                    vs.source[name] = f"kit:{filename}"
                    break
                except (XmlRejected, OSError):
                    continue
            else:
                if name in vs.source:
                    vs.source[name] += f" — {' / '.join(names)} absent(s) du kit"
    with _lock:
        _cache[key] = vs
    return vs
