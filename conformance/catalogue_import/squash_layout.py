"""The Squash TM requirement export (ANS's own tool, ``ansforge/segur-squash-plugins`` ``macros/``): its
REQUIREMENT sheet and its LINK_REQ_REQ / LINK_REQ_TC link sheets, read into requirement entries."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import Any

from conformance.catalogue_import.html_text import html_to_text
from conformance.catalogue_import.sheets import (
    CRITICITE_WORDS,
    DEFAULT_CRITICITE,
    DEFAULT_MANUAL_REASON,
    HEADER_SEARCH_ROWS,
    MAX_ROWS,
    NATURE_WORDS,
    cell,
    normalise_header,
    shorten,
    word,
)
from conformance.requirements import id_kind

SQUASH_COLUMNS: dict[str, str] = {   # canonical key -> Squash column (normalised with normalise_header)
    "req_id": "REQ_VERSION_REFERENCE", "name": "REQ_VERSION_NAME", "statement": "REQ_VERSION_DESCRIPTION",
    "category": "REQ_VERSION_CATEGORY", "criticality": "REQ_VERSION_CRITICALITY", "status": "REQ_VERSION_STATUS",
    "section": "REQ_VERSION_CUF_SECTION", "bloc": "REQ_VERSION_CUF_BLOC", "fonction": "REQ_VERSION_CUF_FONCTION",
    "profile": "REQ_VERSION_CUF_PROFIL", "path": "REQ_PATH", "version": "REQ_VERSION_NUM",
    "project": "PROJECT_NAME", "modified": "REQ_VERSION_LAST_MODIFIED_ON", "action": "ACTION",
}
SQUASH_REQUIRED = ("req_id", "statement")
SQUASH_STATUS_GRADE = {"APPROVED": "V", "UNDER_REVIEW": "Vd", "WORK_IN_PROGRESS": "Vd"}
SQUASH_PARENT_ROLE = "SEGUR_PARENT"
SQUASH_NO_SCENARIO = "Scénario de conformité absent de l'export Squash"
MAX_STATEMENT = 20_000      # characters of one cleaned description
_GENERAL_PROFILE = re.compile(r"(?:va\d+ )?general")


def _squash_columns(row: Sequence[Any]) -> dict[str, int]:
    wanted = {normalise_header(column): key for key, column in SQUASH_COLUMNS.items()}
    found: dict[str, int] = {}
    for index, value in enumerate(row):
        key = wanted.get(normalise_header(value))
        if key:
            found.setdefault(key, index)
    return found


def find_squash_header(rows: list[tuple[Any, ...]]) -> tuple[int, dict[str, int]] | None:
    for number, row in enumerate(rows[:HEADER_SEARCH_ROWS], 1):
        columns = _squash_columns(row)
        if "req_id" in columns:
            return number, columns
    return None



class SquashReader:
    """Turns the REQUIREMENT sheet (and its link sheets) of a Squash TM export into entries."""

    def __init__(self, source: str, wave: int, corridors: list[str], entries: dict[str, dict[str, Any]],
                 problems: list[tuple[str, int, str]]) -> None:
        self.source = source
        self.wave = wave
        self.corridors = corridors
        self.entries = entries
        self.problems = problems
        self.by_path: dict[tuple[str, str], str] = {}   # (REQ_PATH, version) -> imported id
        self.ref_of_path: dict[tuple[str, str], str] = {}  # (REQ_PATH, version) -> reference, even if skipped
        self.first: dict[str, tuple[str, int]] = {}

    def skip(self, sheet: str, row: int, message: str) -> None:
        self.problems.append((sheet, row, message))

    def read(self, sheet: str, rows: list[tuple[Any, ...]], header_row: int, columns: dict[str, int]) -> None:
        missing = [SQUASH_COLUMNS[k] for k in SQUASH_REQUIRED if k not in columns]
        if missing:
            self.skip(sheet, header_row, f"colonnes Squash obligatoires absentes de l'en-tête : {', '.join(missing)}")
            return
        for number, raw in enumerate(rows[header_row:], header_row + 1):
            row = {key: raw[i] if i < len(raw) else None for key, i in columns.items()}
            if not any(cell(v) for v in row.values()):
                continue
            self.row(sheet, number, row)

    def row(self, sheet: str, number: int, raw: dict[str, Any]) -> None:
        row = {k: cell(v) for k, v in raw.items() if k != "statement"}
        rid = row.get("req_id", "")
        key = (row.get("path", ""), row.get("version", ""))
        if key[0]:
            self.ref_of_path[key] = rid
        if not rid:
            self.skip(sheet, number, "REQ_VERSION_REFERENCE vide : exigence sans identifiant")
            return
        if id_kind(rid) is None:
            self.skip(sheet, number, f"{rid} : identifiant hors des schémas d'identifiants REM (DUI.<SEC>.<NN>, "
                                     f"SC.<SEC>[/<SUB>].<NN>, <REM>.<SEC>[/<SUB>].<NN>, <SEC>[/<SUB>].<NN>)")
            return
        if word(row.get("action", "")) in ("D", "DELETE", "SUPPRESSION"):
            self.skip(sheet, number, f"{rid} : ligne de suppression (ACTION {row['action']!r}), rien à importer")
            return
        status = row.get("status", "").upper()
        if status == "OBSOLETE":
            self.skip(sheet, number, f"{rid} : statut Squash OBSOLETE (exigence retirée par l'ANS)")
            return
        grade = SQUASH_STATUS_GRADE.get(status, "Vd" if not status else "")
        if not grade:
            self.skip(sheet, number, f"{rid} : statut Squash inconnu {row['status']!r} "
                                     f"(attendu APPROVED, UNDER_REVIEW, WORK_IN_PROGRESS ou OBSOLETE)")
            return
        if rid in self.entries or rid in self.first:
            first_sheet, first_row = self.first.get(rid, ("", 0))
            self.skip(sheet, number, f"{rid} : référence en double (déjà lue ligne {first_row}"
                                     f"{'' if first_sheet == sheet else f', feuille {first_sheet!r}'})")
            return
        statement = html_to_text(raw.get("statement"))
        if not statement:
            self.skip(sheet, number, f"{rid} : REQ_VERSION_DESCRIPTION vide (pas d'énoncé)")
            return
        if len(statement) > MAX_STATEMENT:
            self.skip(sheet, number, f"{rid} : énoncé de plus de {MAX_STATEMENT} caractères")
            return
        nature = NATURE_WORDS.get(word(row.get("category", ""))) if row.get("category") else "EXIGENCE"
        if nature is None:
            self.skip(sheet, number, f"{rid} : REQ_VERSION_CATEGORY inconnue {row['category']!r} (attendu CRI ou PRECO)")
            return
        criticite = DEFAULT_CRITICITE
        if row.get("criticality") and word(row["criticality"]) != "UNDEFINED":
            criticite = CRITICITE_WORDS.get(word(row["criticality"]), "")
            if not criticite:
                self.skip(sheet, number, f"{rid} : REQ_VERSION_CRITICALITY inconnue {row['criticality']!r} "
                                         f"(attendu MINOR, MAJOR ou CRITICAL)")
                return
        section, sub = self.section(rid, row.get("section", ""))
        if not section:
            self.skip(sheet, number, f"{rid} : section illisible (REQ_VERSION_CUF_SECTION "
                                     f"{row.get('section', '')!r})")
            return
        profile = row.get("profile", "")
        conditional = "" if not profile or _GENERAL_PROFILE.fullmatch(normalise_header(profile)) else profile
        status_text = f", statut {status}" if status else ""
        entry: dict[str, Any] = {"id": rid, "section": section}
        if sub:
            entry["sub_section"] = sub
        entry.update({
            "title": row.get("fonction") or row.get("bloc") or _squash_name(row.get("name", "")) or shorten(statement),
            "statement": statement,
            "nature": nature,
            "criticite": criticite,
            "conditional_profile": conditional,
            "wave": self.wave,
            "corridors": list(self.corridors),
            "verified": grade,
            "source": f"Export Squash TM {self.source}, feuille {sheet!r}, ligne {number}{status_text}",
            "scenarios": [],
        })
        self.entries[rid] = entry
        self.first[rid] = (sheet, number)
        if key[0]:
            self.by_path[key] = rid

    @staticmethod
    def section(rid: str, cuf: str) -> tuple[str, str]:
        """``MSS/CONF_Conformité …`` → (``MSS``, ``MSS/CONF``); without the field, from the id."""
        ident = cuf.split("_", 1)[0].strip() if cuf else ""
        if not ident:
            kind = id_kind(rid)
            body = rid.split(".", 1)[1] if kind in ("wave 1", "socle", "other REM") else rid
            ident = body.rsplit(".", 1)[0]
        section = ident.split("/", 1)[0]
        if not re.fullmatch(r"[A-Z]{2,6}", section):
            return "", ""
        if "/" in ident and re.fullmatch(r"[A-Z]{2,6}(?:/[A-Za-z0-9]+)+", ident):
            return section, ident
        return section, ""

    def links(self, sheet: str, rows: list[tuple[Any, ...]]) -> None:
        """LINK_REQ_REQ: a REM requirement and its socle parent (either column may hold the socle)."""
        header = [normalise_header(v) for v in rows[0]] if rows else []
        need = ("req path", "req version num", "related req path", "related req version num")
        if not all(n in header for n in need):
            self.skip(sheet, 1, "en-tête LINK_REQ_REQ incomplet (REQ_PATH, REQ_VERSION_NUM, RELATED_REQ_PATH, "
                                "RELATED_REQ_VERSION_NUM attendues) : liens ignorés")
            return
        at = {n: header.index(n) for n in need}
        role_at = header.index("related req role") if "related req role" in header else None
        for number, raw in enumerate(rows[1:MAX_ROWS], 2):
            cells = [cell(v) for v in raw]
            if not any(cells):
                continue
            get = functools.partial(_pick, cells, at)
            role = cells[role_at] if role_at is not None and role_at < len(cells) else ""
            if role and role != SQUASH_PARENT_ROLE:
                self.skip(sheet, number, f"lien de rôle {role!r} ignoré (seul {SQUASH_PARENT_ROLE} relie une exigence "
                                         f"à son socle)")
                continue
            a = (get("req path"), get("req version num"))
            b = (get("related req path"), get("related req version num"))
            ref_a, ref_b = self.ref_of_path.get(a, ""), self.ref_of_path.get(b, "")
            socle = [ref for ref in (ref_a, ref_b) if id_kind(ref) == "socle"]
            child = [(key, ref) for key, ref in ((a, ref_a), (b, ref_b)) if ref and id_kind(ref) != "socle"]
            if len(socle) != 1 or len(child) != 1:
                missing = [path for (path, _), ref in ((a, ref_a), (b, ref_b)) if not ref]
                why = (f"exigence absente de la feuille REQUIREMENT : {missing[0]!r}" if missing else
                       f"aucune des deux n'est une exigence socle SC.* importable ({ref_a!r}, {ref_b!r})"
                       if not socle else f"les deux exigences sont des exigences socle ({ref_a!r}, {ref_b!r})")
                self.skip(sheet, number, f"lien {SQUASH_PARENT_ROLE} ignoré : {why}")
                continue
            rid = self.by_path.get(child[0][0])
            if rid is None:
                self.skip(sheet, number, f"lien {SQUASH_PARENT_ROLE} ignoré : {child[0][1]} n'a pas été importée")
                continue
            self.entries[rid]["socle"] = socle[0]

    def test_cases(self, sheet: str, rows: list[tuple[Any, ...]]) -> None:
        """LINK_REQ_TC: each linked test case becomes a scenario (title = test case name)."""
        header = [normalise_header(v) for v in rows[0]] if rows else []
        need = ("req path", "req version num", "tc path")
        if not all(n in header for n in need):
            self.skip(sheet, 1, "en-tête LINK_REQ_TC incomplet (REQ_PATH, REQ_VERSION_NUM, TC_PATH attendues) : "
                                "cas de test ignorés")
            return
        at = {n: header.index(n) for n in need}
        for number, raw in enumerate(rows[1:MAX_ROWS], 2):
            cells = [cell(v) for v in raw]
            if not any(cells):
                continue
            get = functools.partial(_pick, cells, at)
            rid = self.by_path.get((get("req path"), get("req version num")))
            if rid is None:
                self.skip(sheet, number, f"cas de test ignoré : exigence {get('req path')!r} non importée")
                continue
            entry = self.entries[rid]
            if len(entry["scenarios"]) >= 99:
                self.skip(sheet, number, f"{rid} : plus de 99 cas de test liés, celui-ci est ignoré")
                continue
            name = get("tc path").rstrip("/").rsplit("/", 1)[-1] or get("tc path")
            entry["scenarios"].append(placeholder_scenario(rid, len(entry["scenarios"]) + 1, name,
                                                            f"Preuves du cas de test Squash {get('tc path')}"))

    def finish(self) -> None:
        for rid, entry in self.entries.items():
            if entry.get("_squash") and not entry["scenarios"]:
                entry["scenarios"].append(placeholder_scenario(rid, 1, SQUASH_NO_SCENARIO,
                                                                "Preuve à fournir selon le REM officiel"))


def _pick(cells: list[str], at: dict[str, int], name: str) -> str:
    """The cell of column ``name`` in a link-sheet row ("" past its end)."""
    return cells[at[name]] if at[name] < len(cells) else ""


def _squash_name(name: str) -> str:
    """``Sécurisation - 002`` → ``Sécurisation`` (Squash numbers the names of one function)."""
    return re.sub(r"\s*-\s*\d+$", "", name).strip()


def placeholder_scenario(rid: str, n: int, title: str, proof_text: str) -> dict[str, Any]:
    sid = f"{rid}.{n:02d}"
    return {"id": sid, "title": title, "proofs": [{
        "id": f"{sid}.01", "kind": "Démonstration", "description": proof_text, "verification": [],
        "method": "manual", "manual_reason": DEFAULT_MANUAL_REASON}]}
