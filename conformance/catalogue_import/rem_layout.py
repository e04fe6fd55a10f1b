"""The published REM table (Squash "segur-rapport" export, rem.md §4.3): its header row and the folding
of its rows (one per scenario) into requirement entries in the catalogue YAML shape."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from conformance.catalogue_import.sheets import (
    CRITICITE_WORDS,
    DEFAULT_CRITICITE,
    DEFAULT_MANUAL_REASON,
    HEADER_SEARCH_ROWS,
    NATURE_WORDS,
    cell,
    normalise_header,
    shorten,
    word,
)
from conformance.requirements import id_kind

MAX_PROOFS = 10

# canonical key -> normalised header spellings
COLUMNS: dict[str, tuple[str, ...]] = {
    "conditional": ("exigence conditionnelle",),
    "profile": ("profil",),
    "id_section": ("id section",),
    "section": ("section",),
    "bloc": ("bloc",),
    "fonction": ("fonction",),
    "nature": ("nature de l exigence", "nature"),
    "req_id": ("n exigence", "no exigence", "numero exigence", "id exigence"),
    "statement": ("enonce", "enonce de l exigence"),
    "scen_id": ("n scenario", "no scenario", "numero scenario"),
    "scen_title": ("scenario de conformite",),
    "criticite": ("criticite",),
    "verification": ("points de verification", "point de verification"),
    "socle": ("reference exigence socle",),
}
REQUIRED_COLUMNS = ("req_id", "statement", "nature", "scen_id", "scen_title")

YES = {"OUI", "O", "YES", "Y", "X", "VRAI", "TRUE"}
NO = {"NON", "N", "NO", "FAUX", "FALSE"}

# proof wording -> our proof kinds (first match wins; "Démonstration" is ANS's most frequent kind)
KIND_HINTS: tuple[tuple[str, str], ...] = (
    ("smtp", "Source SMTP"), ("mdn", "Source SMTP"),
    ("soap", "Message SOAP (VIHF)"), ("vihf", "Message SOAP (VIHF)"),
    ("rapport", "Rapport de validation"), ("gazelle", "Rapport de validation"),
    ("evs", "Rapport de validation"), ("validation", "Rapport de validation"),
    ("cda", "Document CDA"),
    ("oidc", "Transcription OIDC"), ("id token", "Transcription OIDC"),
    ("log", "Log"), ("trace", "Log"), ("journal", "Log"),
    ("attestation", "Attestation"), ("engagement", "Attestation"), ("certificat", "Attestation"),
    ("declaration", "Attestation"), ("cgu", "Attestation"), ("siret", "Attestation"), ("passi", "Attestation"),
)



# ---------------------------------------------------------------------------------------------
# header
# ---------------------------------------------------------------------------------------------
def _columns(row: Sequence[Any]) -> dict[str, int]:
    """Map canonical keys (and ``proof_id_N`` / ``proof_N``) to 0-based column indexes."""
    found: dict[str, int] = {}
    for index, value in enumerate(row):
        name = normalise_header(value)
        if not name:
            continue
        match = re.fullmatch(r"(n |no |numero )?preuve (\d{1,2})", name)
        if match and 1 <= int(match.group(2)) <= MAX_PROOFS:
            key = f"{'proof_id' if match.group(1) else 'proof'}_{int(match.group(2))}"
            found.setdefault(key, index)
            continue
        for key, spellings in COLUMNS.items():
            if name in spellings:
                found.setdefault(key, index)
                break
    return found


def find_rem_header(rows: list[tuple[Any, ...]]) -> tuple[int, dict[str, int]] | None:
    for number, row in enumerate(rows[:HEADER_SEARCH_ROWS], 1):
        columns = _columns(row)
        if "req_id" in columns and "statement" in columns:
            return number, columns
    return None


# ---------------------------------------------------------------------------------------------
# rows
# ---------------------------------------------------------------------------------------------
class RemSheetReader:
    """Folds the rows of one sheet into requirement entries (dicts in the catalogue YAML shape)."""

    def __init__(self, sheet: str, source: str, wave: int, corridors: list[str],
                 entries: dict[str, dict[str, Any]], errors: list[tuple[str, int, str]]) -> None:
        self.sheet = sheet
        self.source = source
        self.wave = wave
        self.corridors = corridors
        self.entries = entries
        self.errors = errors
        self.current: dict[str, Any] | None = None
        self.skipping = False  # after a rejected requirement row, its continuation rows are ignored
        self.tainted: set[str] = set()  # requirements with a rejected scenario or proof row
        self.first_row: dict[str, int] = {}
        self.context = ""

    def error(self, row: int, message: str) -> None:
        self.errors.append((self.sheet, row, message))
        if self.context:
            self.tainted.add(self.context)

    def read(self, rows: list[tuple[Any, ...]], header_row: int, columns: dict[str, int]) -> None:
        missing = [k for k in REQUIRED_COLUMNS if k not in columns]
        if missing:
            names = ", ".join(repr(COLUMNS[k][0]) for k in missing)
            self.error(header_row, f"colonnes obligatoires absentes de l'en-tête : {names}")
            return
        for number, raw in enumerate(rows[header_row:], header_row + 1):
            row = {key: cell(raw[i]) if i < len(raw) else "" for key, i in columns.items()}
            if not any(row.values()):
                continue
            self.row(number, row)

    def row(self, number: int, row: dict[str, str]) -> None:
        rid = row.get("req_id", "")
        if rid:
            self.current, self.skipping = None, True
            if id_kind(rid) is None:
                self.error(number, f"identifiant d'exigence mal formé : {rid!r}")
                return
            entry = self.entries.get(rid)
            if entry is None:
                entry = self.new_requirement(number, rid, row)
                if entry is None:
                    return
                self.entries[rid] = entry
                self.first_row[rid] = number
            self.current, self.skipping = entry, False
        elif self.skipping:
            return
        elif self.current is None:
            self.error(number, "ligne sans « N° exigence » avant toute exigence")
            return
        self.scenario(number, self.current, row)

    def new_requirement(self, number: int, rid: str, row: dict[str, str]) -> dict[str, Any] | None:
        before = len(self.errors)
        statement = row.get("statement", "")
        if not statement:
            self.error(number, f"{rid} : énoncé vide")
        nature = NATURE_WORDS.get(word(row.get("nature", "")))
        if nature is None:
            self.error(number, f"{rid} : nature de l'exigence inconnue {row.get('nature', '')!r} "
                               f"(attendu EXIGENCE ou PRECONISATION)")
        criticite = DEFAULT_CRITICITE
        if row.get("criticite"):
            criticite = CRITICITE_WORDS.get(word(row["criticite"]), "")
            if not criticite:
                self.error(number, f"{rid} : criticité inconnue {row['criticite']!r} "
                                   f"(attendu Mineure, Majeure ou Critique)")
        conditional = self.conditional(number, rid, row)
        section, sub_section = self.section(number, rid, row)
        socle = row.get("socle", "")
        if socle and id_kind(socle) != "socle":
            self.error(number, f"{rid} : référence exigence socle mal formée {socle!r}")
        if len(self.errors) != before:
            return None
        title = row.get("fonction") or row.get("bloc") or shorten(statement)
        entry: dict[str, Any] = {"id": rid, "section": section}
        if sub_section:
            entry["sub_section"] = sub_section
        entry.update({
            "title": title,
            "statement": statement,
            "nature": nature,
            "criticite": criticite,
            "conditional_profile": conditional,
            "wave": self.wave,
            "corridors": list(self.corridors),
            "verified": "V",
            "source": f"REM officiel {self.source}, feuille {self.sheet!r}, ligne {number}",
        })
        if socle:
            entry["socle"] = socle
        entry["scenarios"] = []
        return entry

    def conditional(self, number: int, rid: str, row: dict[str, str]) -> str:
        flag = word(row.get("conditional", ""))
        profile = row.get("profile", "")
        general = not profile or word(profile) == "GENERAL"
        if flag in YES:
            return profile if not general else "Exigence conditionnelle (profil non précisé dans le REM)"
        if flag and flag not in NO:
            self.error(number, f"{rid} : « Exigence conditionnelle » doit valoir OUI ou NON, "
                               f"pas {row.get('conditional')!r}")
            return ""
        return "" if general else profile

    def section(self, number: int, rid: str, row: dict[str, str]) -> tuple[str, str]:
        """Section from "ID Section" (``DMP/CONF``), else "Section" (``PSC_Utilisation``), else the id."""
        id_section = row.get("id_section", "").strip()
        if id_section:
            section = id_section.split("/")[0]
            sub = id_section if "/" in id_section else ""
        elif row.get("section"):
            section, sub = row["section"].split("_")[0].strip(), ""
        else:
            section, sub = re.split(r"[./]", re.sub(r"^(?:SC|DUI)\.", "", rid))[0], ""
        if not re.fullmatch(r"[A-Z]{2,6}", section):
            self.error(number, f"{rid} : section illisible {section!r}")
        if sub and not re.fullmatch(r"[A-Z]{2,6}(?:/[A-Za-z0-9]+)*", sub):
            self.error(number, f"{rid} : ID Section mal formé {sub!r}")
            sub = ""
        return section, sub

    def scenario(self, number: int, entry: dict[str, Any], row: dict[str, str]) -> None:
        self.context = entry["id"]
        try:
            self._scenario(number, entry, row)
        finally:
            self.context = ""

    def _scenario(self, number: int, entry: dict[str, Any], row: dict[str, str]) -> None:
        rid = entry["id"]
        sid = row.get("scen_id", "")
        proofs = [(n, row.get(f"proof_id_{n}", ""), row.get(f"proof_{n}", "")) for n in range(1, MAX_PROOFS + 1)]
        proofs = [p for p in proofs if p[1] or p[2]]
        if not sid and not row.get("scen_title") and not proofs:
            return  # a requirement row without scenario columns (continued on the next rows)
        if not sid:
            sid = f"{rid}.{len(entry['scenarios']) + 1:02d}"
        if not sid.startswith(rid + ".") or not re.fullmatch(r"\d{2,3}", sid[len(rid) + 1:]):
            self.error(number, f"{rid} : N° scénario {sid!r} ne prolonge pas le N° d'exigence ({rid}.NN)")
            return
        if any(s["id"] == sid for s in entry["scenarios"]):
            self.error(number, f"{rid} : scénario {sid} en double")
            return
        if not proofs:
            self.error(number, f"{sid} : aucune preuve (« Preuve 1 » vide)")
            return
        points = _lines(row.get("verification", ""))
        out: list[dict[str, Any]] = []
        for n, pid, text in proofs:
            pid = pid or f"{sid}.{n:02d}"
            if not pid.startswith(sid + ".") or not re.fullmatch(r"\d{2,3}", pid[len(sid) + 1:]):
                self.error(number, f"{sid} : N° preuve {n} {pid!r} ne prolonge pas le N° de scénario ({sid}.NN)")
                continue
            if any(p["id"] == pid for p in out):
                self.error(number, f"{sid} : preuve {pid} en double")
                continue
            out.append({
                "id": pid,
                "kind": guess_kind(text),
                "description": text,
                "verification": list(points),
                "method": "manual",
                "manual_reason": DEFAULT_MANUAL_REASON,
            })
        entry["scenarios"].append({"id": sid, "title": row.get("scen_title") or f"Scénario {sid}",
                                   "proofs": out})


def guess_kind(text: str) -> str:
    """Our proof kind for an ANS proof wording (a starting point; a human reviews it)."""
    words = f" {normalise_header(text)} "
    for hint, kind in KIND_HINTS:
        if f" {hint}" in words:
            return kind
    return "Démonstration"


def _lines(text: str) -> list[str]:
    items = [re.sub(r"^\s*(?:[-•*·]|\d+[.)])\s*", "", line).strip() for line in text.splitlines()]
    return [i for i in items if i]
