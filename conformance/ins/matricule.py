"""The matricule INS (NIR or NIA) and its OID: parsing, key, structure.

Why our own code rather than ``stdnum.fr.nir``: the harness must say *which* part of a matricule is
wrong (length, Corsica letters, key, sex digit, pseudo-month, department) in a finding an integrator
understands, and must be strict where stdnum is lenient (stdnum strips spaces and dots and upper-cases
``2a``; an INS is stored and shared exactly, so ``2a`` is wrong). The key computation is tested
differentially against stdnum (tests/test_ins_matricule.py), so the two can never drift apart.

Facts: ../shared/specs/protocols.md §3.1. Structural rules marked ``unconfirmed`` there (NIA sex
digits, pseudo-month ranges, department ranges) give warnings, never errors.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from conformance.findings import Finding, error, info, warning

OID_INS_NIR = "1.2.250.1.213.1.4.8"
OID_INS_NIA = "1.2.250.1.213.1.4.9"
OID_INS_NIR_TEST = "1.2.250.1.213.1.4.10"
OID_INS_NIR_DEMO = "1.2.250.1.213.1.4.11"
OID_INS_C = "1.2.250.1.213.1.4.2"  # old INS-C, computed from the Vitale card: never an INS

INS_OIDS: dict[str, str] = {
    OID_INS_NIR: "INS-NIR (production)",
    OID_INS_NIA: "INS-NIA (production)",
    OID_INS_NIR_TEST: "INS-NIR de test",
    OID_INS_NIR_DEMO: "INS-NIR de démonstration",
}
PRODUCTION_OIDS = frozenset({OID_INS_NIR, OID_INS_NIA})
TEST_OIDS = frozenset({OID_INS_NIR_TEST, OID_INS_NIR_DEMO})

_SHAPE = re.compile(r"[0-9]{5}(?:[0-9]{2}|2A|2B)[0-9]{8}")
_OVERSEAS = ("97", "98")


class MatriculeError(ValueError):
    """A matricule that cannot even be parsed (length, characters)."""

    def __init__(self, rule: str, reason: str, reason_en: str) -> None:
        super().__init__(reason_en)
        self.rule = rule
        self.reason = reason
        self.reason_en = reason_en


@dataclass(frozen=True)
class Matricule:
    """The parts of a 15-character matricule INS, as INSEE lays out a NIR."""

    value: str
    sex: str
    year: str
    month: str
    department: str  # 2 chars, or 3 for overseas (97x / 98x)
    commune: str  # 3 chars, or 2 for overseas; INSEE country code when department is 99
    order: str
    key: str

    @property
    def number(self) -> str:
        """The 13 characters INSi calls ``NumIdentifiant``."""
        return self.value[:13]

    @property
    def born_abroad(self) -> bool:
        return self.department == "99"

    @property
    def corsica(self) -> bool:
        return self.department in ("2A", "2B")

    @property
    def key_is_valid(self) -> bool:
        return compute_key(self.number) == self.key


def _numeric13(first13: str) -> int:
    """2A → 19 and 2B → 18 before the modulo, as INSEE (and protocols.md §3.1) says."""
    dep = first13[5:7]
    if dep == "2A":
        first13 = first13[:5] + "19" + first13[7:]
    elif dep == "2B":
        first13 = first13[:5] + "18" + first13[7:]
    return int(first13)


def compute_key(first13: str) -> str:
    """Key = 97 − (13-character number mod 97), on two digits."""
    if len(first13) != 13 or not _SHAPE.fullmatch(first13 + "00"):
        raise MatriculeError("INS.MAT.format", f"numéro sur 13 caractères invalide : {first13!r}",
                             f"invalid 13-character number: {first13!r}")
    return f"{97 - (_numeric13(first13) % 97):02d}"


def make_matricule(first13: str) -> str:
    """The full 15 characters from the 13 INSi returns as ``NumIdentifiant`` (test data builders)."""
    return first13 + compute_key(first13)


def corrupt_key(matricule: str) -> str:
    """The same matricule with a wrong (but well-formed) key: what a corrupted INSi answer looks like."""
    key = int(matricule[13:15])  # a valid key is 01..97, so key % 97 + 1 is another valid-looking key
    return matricule[:13] + f"{key % 97 + 1:02d}"


def parse_matricule(value: str) -> Matricule:
    """Split a matricule into its parts; ``MatriculeError`` when length or characters are wrong."""
    if not isinstance(value, str):
        raise MatriculeError("INS.MAT.format", "matricule absent ou non textuel", "matricule missing or not text")
    if len(value) != 15:
        raise MatriculeError("INS.MAT.length", f"le matricule INS doit compter 15 caractères, il en a {len(value)}",
                             f"the matricule INS must have 15 characters, it has {len(value)}")
    if not _SHAPE.fullmatch(value):
        raise MatriculeError(
            "INS.MAT.format",
            "le matricule INS ne contient que des chiffres, sauf 2A/2B (Corse, en majuscules) en positions 6-7",
            "the matricule INS holds digits only, except 2A/2B (Corsica, upper case) at positions 6-7",
        )
    dep = value[5:7]
    if dep in _OVERSEAS:
        department, commune = value[5:8], value[8:10]
    else:
        department, commune = dep, value[7:10]
    return Matricule(value=value, sex=value[0], year=value[1:3], month=value[3:5], department=department,
                     commune=commune, order=value[10:13], key=value[13:15])


def is_valid_matricule(value: str) -> bool:
    """Well-formed and the key matches (structure warnings do not count)."""
    try:
        return parse_matricule(value).key_is_valid
    except MatriculeError:
        return False


def check_matricule(value: str, oid: str | None = None, *, artefact: str = "", xpath: str = "",
                    line: int | None = None, requirements: Sequence[str] = (),
                    test_environment: bool = False) -> list[Finding]:
    """Every problem of one matricule INS (and its OID when given), one finding each.

    Errors: length, characters, key, INS-C or unknown OID. Warnings: structure rules we only infer
    (NIA/provisional sex digits, pseudo-months, department ranges), production OID in a test run.
    An INFO finding records the pass when nothing is wrong.
    """
    where: dict[str, Any] = {"artefact": artefact, "xpath": xpath, "line": line,
                             "requirements": tuple(requirements)}
    out: list[Finding] = []
    if oid is not None:
        out.extend(check_oid(oid, test_environment=test_environment, **where))
    try:
        m = parse_matricule(value)
    except MatriculeError as exc:
        out.append(error(f"matricule INS invalide : {exc.reason}", f"invalid matricule INS: {exc.reason_en}",
                         rule=exc.rule, expected="15 caractères : 13 (NIR/NIA) + 2 (clé)",
                         found=_show(value), **where))
        return out
    expected_key = compute_key(m.number)
    if expected_key != m.key:
        out.append(error(
            f"clé du matricule INS erronée : {m.key} au lieu de {expected_key} (97 − numéro mod 97"
            f"{', 2A→19 / 2B→18' if m.corsica else ''})",
            f"wrong matricule INS key: {m.key} instead of {expected_key} (97 − number mod 97"
            f"{', 2A→19 / 2B→18' if m.corsica else ''})",
            rule="INS.MAT.key", expected=m.number + expected_key, found=value, **where))
    out.extend(_structure(m, oid, where))
    if not any(f.is_error for f in out):
        out.append(info("matricule INS bien formé, clé valide", "matricule INS well formed, valid key",
                        rule="INS.MAT.valid", found=value, **where))
    return out


def check_oid(oid: str, *, test_environment: bool = False, **where: Any) -> list[Finding]:
    """The OID beside a matricule: one of the four INS OIDs; never the old INS-C."""
    if oid == OID_INS_C:
        return [error("OID de l'ancien INS-C (1.2.250.1.213.1.4.2) : ce n'est pas un INS et il ne doit plus être utilisé",
                      "OID of the old INS-C (1.2.250.1.213.1.4.2): not an INS, must not be used",
                      rule="INS.OID.insc", expected=" | ".join(INS_OIDS), found=oid, **where)]
    if oid not in INS_OIDS:
        return [error("OID d'INS inconnu", "unknown INS OID", rule="INS.OID.unknown",
                      expected=" | ".join(INS_OIDS), found=_show(oid), **where)]
    if test_environment and oid in PRODUCTION_OIDS:
        return [warning("OID d'INS de production dans un environnement de test : identités réelles ?",
                        "production INS OID in a test environment: real identities?",
                        rule="INS.OID.production", expected=f"{OID_INS_NIR_TEST} | {OID_INS_NIR_DEMO}",
                        found=oid, **where)]
    return []


def _structure(m: Matricule, oid: str | None, where: dict[str, Any]) -> list[Finding]:
    out: list[Finding] = []

    def warn(rule: str, fr: str, en: str, expected: str, found: str) -> None:
        out.append(warning(fr + " (règle structurelle non confirmée)", en + " (unconfirmed structural rule)",
                           rule=rule, expected=expected, found=found, **where))

    if m.sex in "78":
        if oid is not None and oid != OID_INS_NIA:
            warn("INS.MAT.sex", "premier chiffre 7/8 (NIA) avec un OID de NIR",
                 "first digit 7/8 (NIA) with a NIR OID", "1 | 2", m.sex)
    elif m.sex in "34":
        warn("INS.MAT.sex", "premier chiffre 3/4 (numéro provisoire)", "first digit 3/4 (provisional number)",
             "1 | 2 (NIR), 7 | 8 (NIA)", m.sex)
    elif m.sex not in "12":
        out.append(error("premier chiffre du matricule (sexe) impossible", "impossible first digit (sex)",
                         rule="INS.MAT.sex", expected="1 | 2 (NIR), 7 | 8 (NIA)", found=m.sex,
                         **where))
    month = int(m.month)
    if not (1 <= month <= 12 or 20 <= month <= 42 or month >= 50):
        warn("INS.MAT.month", "mois de naissance ni réel (01-12) ni pseudo-mois (20-42, 50-99)",
             "birth month neither real (01-12) nor a pseudo-month (20-42, 50-99)", "01-12 | 20-42 | 50-99", m.month)
    dep = m.department
    if dep in ("2A", "2B"):
        pass
    elif len(dep) == 3:
        if dep not in ("971", "972", "973", "974", "975", "976", "977", "978", "984", "986", "987", "988"):
            warn("INS.MAT.department", "département d'outre-mer inconnu", "unknown overseas department",
                 "971-978 | 984-988", dep)
    elif dep == "99":
        if not 100 <= int(m.commune) <= 990:
            warn("INS.MAT.country", "code pays INSEE (né à l'étranger) hors plage 100-990",
                 "INSEE country code (born abroad) outside 100-990", "99100-99990", dep + m.commune)
    elif not 1 <= int(dep) <= 96:
        warn("INS.MAT.department", "département de naissance inconnu", "unknown birth department",
             "01-95 | 2A | 2B | 96 | 97x | 98x | 99", dep)
    if m.commune.strip("0") == "" and dep != "99":
        warn("INS.MAT.commune", "code commune 000", "commune code 000", "001-999", m.commune)
    if m.order == "000":
        warn("INS.MAT.order", "numéro d'ordre 000", "order number 000", "001-999", m.order)
    return out


def _show(value: object, limit: int = 60) -> str:
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[:limit] + "…"
