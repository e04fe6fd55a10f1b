"""The five strict INS traits (plus the list of given names) and their INSi format.

Why a module of its own: the same traits are checked in four places (the resident a candidate
stores, the INSi request it sends, the TIQ the simulator returns, the CDA header it emits) and the
rule "stored exactly as returned by INSi" needs one comparison that says *how* a value was altered
(re-cased, trimmed, re-punctuated) so an integrator sees the cause at once.

Facts: ../shared/specs/protocols.md §3.2. The INSi character set beyond "upper case, apostrophes and
hyphens" (accented capitals, other signs) and the handling of partial birth dates are unconfirmed:
their findings are warnings.
"""

from __future__ import annotations

import datetime as _dt
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from conformance.findings import Finding, error, warning

TRAIT_FIELDS = ("birth_name", "given_names", "first_given_name", "birth_date", "sex", "birthplace_code")
TRAIT_LABELS = {
    "birth_name": ("nom de naissance", "birth name"),
    "given_names": ("liste des prénoms de naissance", "list of birth given names"),
    "first_given_name": ("premier prénom de naissance", "first birth given name"),
    "birth_date": ("date de naissance", "birth date"),
    "sex": ("sexe", "sex"),
    "birthplace_code": ("lieu de naissance (code INSEE)", "birthplace (INSEE code)"),
}
SEXES = ("M", "F")
MAX_TRAIT_CHARS = 100  # far above any INSi trait; bounds what we echo back in findings

_NAME_STRICT = re.compile(r"[A-Z](?:[A-Z' -]*[A-Z'])?")  # confirmed: capitals, apostrophe, hyphen, space
_NAME_LOOSE = re.compile(r"[^\W\d_](?:[^\W\d_]|['\- ])*", re.UNICODE)
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_COG = re.compile(r"(?:\d{5}|2[AB]\d{3})")


@dataclass(frozen=True)
class Traits:
    """The INS traits of one identity, in the contract v1 JSON shape."""

    birth_name: str
    given_names: tuple[str, ...]
    first_given_name: str
    birth_date: str
    sex: str
    birthplace_code: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Traits:
        given = data.get("given_names") or ()
        if isinstance(given, str):
            given = given.split(" ")
        return cls(
            birth_name=str(data.get("birth_name") or ""),
            given_names=tuple(str(g) for g in given),
            first_given_name=str(data.get("first_given_name") or ""),
            birth_date=str(data.get("birth_date") or ""),
            sex=str(data.get("sex") or ""),
            birthplace_code=str(data.get("birthplace_code") or ""),
        )

    def to_json(self) -> dict[str, Any]:
        return {"birth_name": self.birth_name, "given_names": list(self.given_names),
                "first_given_name": self.first_given_name, "birth_date": self.birth_date,
                "sex": self.sex, "birthplace_code": self.birthplace_code}

    @property
    def given_names_text(self) -> str:
        """INSi ``ListePrenom`` and CDA ``given`` without qualifier: the names joined by one space."""
        return " ".join(self.given_names)


def normalise_for_matching(text: str) -> str:
    """Upper case, no accents, no apostrophes, hyphens or spaces (Règle 17 style search key)."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"[\s'’\-]", "", bare).upper()


def is_partial_date(value: str) -> bool:
    """A ``YYYY-MM-DD`` date with ``00`` as day or month ("date exceptionnelle")."""
    m = _DATE.fullmatch(value or "") if isinstance(value, str) else None
    return m is not None and (m.group(2) == "00" or m.group(3) == "00")


def check_name(value: Any, field: str, *, where: Mapping[str, Any], severity_case: str = "error") -> list[Finding]:
    """One name in INSi format: not empty, upper case, letters with apostrophes, hyphens, spaces."""
    label, label_en = TRAIT_LABELS.get(field, (field, field))
    kw = dict(where, rule=f"INS.TRAIT.{field}")
    if not isinstance(value, str) or not value.strip():
        return [error(f"{label} vide", f"{label_en} empty", expected="non vide", found=_show(value), **kw)]
    if len(value) > MAX_TRAIT_CHARS:
        return [error(f"{label} trop long ({len(value)} caractères)", f"{label_en} too long ({len(value)} chars)",
                      expected=f"≤ {MAX_TRAIT_CHARS} caractères", found=_show(value), **kw)]
    if _NAME_STRICT.fullmatch(value):
        return []
    if value != value.upper():
        make = error if severity_case == "error" else warning
        return [make(f"{label} pas en majuscules (format INSi)", f"{label_en} not in upper case (INSi format)",
                     expected=_show(value.upper()), found=_show(value), **kw)]
    if value != value.strip() or "  " in value:
        return [error(f"{label} avec des espaces en trop", f"{label_en} with extra spaces",
                      expected=_show(" ".join(value.split())), found=_show(value), **kw)]
    if _NAME_LOOSE.fullmatch(value):
        return [warning(f"{label} : caractères hors de A-Z, apostrophe, tiret, espace (jeu INSi non confirmé)",
                        f"{label_en}: characters outside A-Z, apostrophe, hyphen, space (INSi set unconfirmed)",
                        expected="A-Z ' - espace", found=_show(value), **kw)]
    return [error(f"{label} : caractères non autorisés", f"{label_en}: characters not allowed",
                  expected="lettres majuscules, apostrophe, tiret, espace", found=_show(value), **kw)]


def check_birth_date(value: Any, *, where: Mapping[str, Any]) -> list[Finding]:
    kw = dict(where, rule="INS.TRAIT.birth_date")
    m = _DATE.fullmatch(value or "") if isinstance(value, str) else None
    if not m:
        return [error("date de naissance hors format AAAA-MM-JJ", "birth date not in YYYY-MM-DD",
                      expected="AAAA-MM-JJ", found=_show(value), **kw)]
    if is_partial_date(value):
        return [warning("date de naissance partielle (jour ou mois 00) : transformation RNIV non confirmée",
                        "partial birth date (day or month 00): RNIV transform unconfirmed",
                        expected="date complète", found=value, **dict(kw, rule="INS.TRAIT.birth_date.partial"))]
    try:
        _dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return [error("date de naissance impossible", "impossible birth date", expected="date du calendrier",
                      found=value, **kw)]
    return []


def check_traits(traits: Mapping[str, Any], *, artefact: str = "", xpath: str = "", line: int | None = None,
                 requirements: Sequence[str] = (), insi_format: bool = True) -> list[Finding]:
    """All problems of one set of traits (contract v1 JSON shape).

    ``insi_format`` demands the INSi upper-case form (identities RECUP/QUAL, INSi requests); without
    it (a locally typed PROV identity) only presence and structure are checked.
    """
    where: dict[str, Any] = {"artefact": artefact, "xpath": xpath, "line": line,
                             "requirements": tuple(requirements)}
    out: list[Finding] = []
    if not isinstance(traits, Mapping):
        return [error("traits d'identité absents ou illisibles", "identity traits missing or unreadable",
                      rule="INS.TRAIT.missing", found=_show(traits), **where)]
    case = "error" if insi_format else "warning"
    name = traits.get("birth_name")
    out.extend(check_name(name, "birth_name", where=where, severity_case=case))
    given = traits.get("given_names")
    if isinstance(given, str):
        given = given.split(" ")
    if not isinstance(given, list | tuple) or not given:
        out.append(error("liste des prénoms de naissance vide", "list of birth given names empty",
                         rule="INS.TRAIT.given_names", expected="au moins un prénom", found=_show(given), **where))
        given = []
    for g in given:
        out.extend(check_name(g, "given_names", where=where, severity_case=case))
    first = traits.get("first_given_name")
    out.extend(check_name(first, "first_given_name", where=where, severity_case=case))
    if given and isinstance(first, str) and first and first != given[0]:
        out.append(error("le premier prénom ne correspond pas au premier des prénoms de naissance (Règle 6)",
                         "the first given name does not match the first birth given name (Rule 6)",
                         rule="INS.TRAIT.first_given_name.consistency", expected=_show(given[0]),
                         found=_show(first), **where))
    out.extend(check_birth_date(traits.get("birth_date"), where=where))
    sex = traits.get("sex")
    if sex not in SEXES:
        out.append(error("sexe hors M/F (format INSi)", "sex not M/F (INSi format)", rule="INS.TRAIT.sex",
                         expected="M | F", found=_show(sex), **where))
    place = traits.get("birthplace_code")
    if _blank(place):
        out.append(warning("lieu de naissance absent (code INSEE)", "birthplace missing (INSEE code)",
                           rule="INS.TRAIT.birthplace_code", expected="code COG à 5 caractères", found="", **where))
    elif not isinstance(place, str) or not _COG.fullmatch(place):
        out.append(error("lieu de naissance : code INSEE (COG) à 5 caractères attendu",
                         "birthplace: 5-character INSEE (COG) code expected", rule="INS.TRAIT.birthplace_code",
                         expected="63220 | 2A004 | 99xxx", found=_show(place), **where))
    return out


def compare_traits(stored: Mapping[str, Any], returned: Mapping[str, Any], *, artefact: str = "",
                   requirements: Sequence[str] = (), what: str = "identité enregistrée",
                   what_en: str = "stored identity") -> list[Finding]:
    """Each trait of ``stored`` must equal, character for character, the one INSi ``returned``."""
    out: list[Finding] = []
    for field in TRAIT_FIELDS:
        raw_got = stored.get(field) if isinstance(stored, Mapping) else None
        want = _as_text(returned.get(field))
        got = _as_text(raw_got)
        label, label_en = TRAIT_LABELS[field]
        if got == want:
            if field != "given_names" or _as_list(raw_got) == _as_list(returned.get(field)):
                continue
            how, how_en = "découpage de la liste modifié", "list split differently"
        else:
            how, how_en = _how_altered(want, got)
        out.append(error(
            f"{what} : « {label} » ne correspond pas à la valeur renvoyée par l'INSi ({how})",
            f"{what_en}: \"{label_en}\" does not match the value INSi returned ({how_en})",
            rule=f"INS.STORE.{field}", artefact=artefact, expected=_show(want), found=_show(got),
            requirements=tuple(requirements)))
    return out


def _how_altered(want: str, got: str) -> tuple[str, str]:
    if not got:
        return "absent", "missing"
    if got.upper() == want.upper():
        return "casse modifiée", "re-cased"
    if got.strip() == want.strip() or " ".join(got.split()) == " ".join(want.split()):
        return "espaces modifiés", "spaces altered"
    if normalise_for_matching(got) == normalise_for_matching(want):
        return "ponctuation ou accents modifiés", "punctuation or accents altered"
    return "valeur différente", "different value"


def _as_text(value: Any) -> str:
    if isinstance(value, list | tuple):
        return " ".join(str(v) for v in value)
    return "" if value is None else str(value)


def _as_list(value: Any) -> list[str]:
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return str(value or "").split(" ")


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _show(value: Any, limit: int = 80) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit] + "…"
