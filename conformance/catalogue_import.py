"""Import ANS's official REM spreadsheet into our catalogue format.

Why: our catalogue is mostly paraphrased or inferred (rem.md §0). When a vendor or ANS hands us the
official REM export (Squash "segur-rapport" layout, rem.md §4.3), this turns it into catalogue YAML
with ``verified: V`` so the real texts replace ours without code changes, while ``merge_into`` keeps
what only we know: which proofs the harness automates, and why the others stay manual.

Layout read (header row found by name, anywhere in the first rows, accents/case/spaces ignored):
Exigence conditionnelle · Profil · ID Section · Section · Bloc · Fonction · Nature de l'exigence ·
N° exigence · Énoncé · N° scénario · Scénario de conformité · N° preuve 1..10 / Preuve 1..10, and
optionally Criticité, points de vérification, référence exigence socle. One requirement may span
several rows (one per scenario); continuation rows repeat the id or leave it blank.
"""

from __future__ import annotations

import re
import sys
import unicodedata
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml

from conformance.requirements import (
    CORRIDORS,
    PROOF_FIELDS,
    REQUIREMENT_FIELDS,
    SCENARIO_FIELDS,
    CatalogueError,
    id_kind,
    load_catalogue_file,
)

DEFAULT_MANUAL_REASON = "Preuve à fournir selon le REM officiel"
DEFAULT_CRITICITE = "MAJEURE"  # the base REM template has no Criticité column (rem.md §4.3)
MAX_PROOFS = 10
HEADER_SEARCH_ROWS = 50

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

NATURE_WORDS = {
    "EXIGENCE": "EXIGENCE", "DOIT": "EXIGENCE", "OBLIGATOIRE": "EXIGENCE", "CRI": "EXIGENCE",
    "PRECONISATION": "PRECONISATION", "PEUT": "PRECONISATION", "PRECONISEE": "PRECONISATION",
    "PRECO": "PRECONISATION", "RECOMMANDATION": "PRECONISATION",
}
CRITICITE_WORDS = {
    "MINEURE": "MINEURE", "MINOR": "MINEURE", "MAJEURE": "MAJEURE", "MAJOR": "MAJEURE",
    "CRITIQUE": "CRITIQUE", "CRITICAL": "CRITIQUE",
}
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

# What merge_into keeps from our own entries when proof ids match.
KEPT_PROOF_FIELDS = ("method", "manual_reason", "kind")


class SpreadsheetError(ValueError):
    """Problems of an REM spreadsheet, each as ``(sheet, row, message)`` (row 0: not row-specific)."""

    def __init__(self, source: str, errors: list[tuple[str, int, str]]) -> None:
        self.source = source
        self.errors = list(errors)
        lines = []
        for sheet, row, message in self.errors:
            where = f"{source}" + (f"[{sheet}]" if sheet else "") + (f" ligne {row}" if row else "")
            lines.append(f"{where}: {message}")
        super().__init__("\n".join(lines))


def normalise_header(text: Any) -> str:
    """``"N° Preuve 1"`` → ``"n preuve 1"``: no accents, no case, no punctuation, single spaces."""
    raw = unicodedata.normalize("NFKD", str(text or ""))
    raw = "".join(c for c in raw if not unicodedata.combining(c)).lower().replace("°", " ").replace("º", " ")
    return re.sub(r"[^a-z0-9]+", " ", raw).strip()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _word(value: str) -> str:
    return normalise_header(value).upper().replace(" ", "")


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


def _find_header(rows: list[tuple[Any, ...]]) -> tuple[int, dict[str, int]] | None:
    for number, row in enumerate(rows[:HEADER_SEARCH_ROWS], 1):
        columns = _columns(row)
        if "req_id" in columns and "statement" in columns:
            return number, columns
    return None


# ---------------------------------------------------------------------------------------------
# rows
# ---------------------------------------------------------------------------------------------
class _SheetReader:
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

    def error(self, row: int, message: str) -> None:
        self.errors.append((self.sheet, row, message))

    def read(self, rows: list[tuple[Any, ...]], header_row: int, columns: dict[str, int]) -> None:
        missing = [k for k in REQUIRED_COLUMNS if k not in columns]
        if missing:
            names = ", ".join(repr(COLUMNS[k][0]) for k in missing)
            self.error(header_row, f"colonnes obligatoires absentes de l'en-tête : {names}")
            return
        for number, raw in enumerate(rows[header_row:], header_row + 1):
            row = {key: _cell(raw[i]) if i < len(raw) else "" for key, i in columns.items()}
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
        nature = NATURE_WORDS.get(_word(row.get("nature", "")))
        if nature is None:
            self.error(number, f"{rid} : nature de l'exigence inconnue {row.get('nature', '')!r} "
                               f"(attendu EXIGENCE ou PRECONISATION)")
        criticite = DEFAULT_CRITICITE
        if row.get("criticite"):
            criticite = CRITICITE_WORDS.get(_word(row["criticite"]), "")
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
        title = row.get("fonction") or row.get("bloc") or _shorten(statement)
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
        flag = _word(row.get("conditional", ""))
        profile = row.get("profile", "")
        general = not profile or _word(profile) == "GENERAL"
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


def _shorten(text: str, limit: int = 90) -> str:
    first = " ".join(text.split())
    return first if len(first) <= limit else first[: limit - 1].rsplit(" ", 1)[0] + " …"


# ---------------------------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------------------------
def import_rem_spreadsheet(xlsx_path: Path | str, *, wave: int, corridors: Iterable[str],
                           sheet: str | None = None) -> list[dict[str, Any]]:
    """Read an official REM workbook into catalogue entries (dicts in the YAML shape), in sheet order.

    Every entry is ``verified: V``; every proof is ``manual`` with ``DEFAULT_MANUAL_REASON`` until
    ``merge_into`` restores what the harness automates. All bad rows are reported in one
    ``SpreadsheetError``.
    """
    from openpyxl import load_workbook  # heavy import, only for this command

    path = Path(xlsx_path)
    corridors = list(corridors)
    problems: list[tuple[str, int, str]] = []
    if wave not in (1, 2):
        problems.append(("", 0, f"vague {wave!r} invalide (1 ou 2)"))
    bad = [c for c in corridors if c not in CORRIDORS]
    if bad or not corridors:
        problems.append(("", 0, f"couloirs invalides {bad or corridors} (connus : {', '.join(CORRIDORS)})"))
    if problems:
        raise SpreadsheetError(path.name, problems)
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (OSError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise SpreadsheetError(path.name, [("", 0, f"classeur illisible ({type(exc).__name__}: {exc})")]) from None
    try:
        names = workbook.sheetnames
        if sheet is not None and sheet not in names:
            raise SpreadsheetError(path.name, [(sheet, 0, f"feuille absente (feuilles : {', '.join(names)})")])
        entries: dict[str, dict[str, Any]] = {}
        headers = 0
        for name in [sheet] if sheet is not None else names:
            rows = [tuple(r) for r in workbook[name].iter_rows(values_only=True)]
            found = _find_header(rows)
            if found is None:
                continue
            headers += 1
            header_row, columns = found
            _SheetReader(name, path.name, wave, corridors, entries, problems).read(rows, header_row, columns)
    finally:
        workbook.close()
    if not headers:
        problems.append((sheet or "", 0, "aucune ligne d'en-tête REM trouvée (colonnes « N° exigence » et "
                                         f"« Énoncé » dans les {HEADER_SEARCH_ROWS} premières lignes)"))
    if problems:
        raise SpreadsheetError(path.name, problems)
    return list(entries.values())


def _clean(entry: dict[str, Any]) -> dict[str, Any]:
    """Keep only catalogue fields (so ``Requirement.to_dict()`` output can be merged too)."""
    out = {k: v for k, v in entry.items() if k in REQUIREMENT_FIELDS and v not in ("", None, [])}
    out["scenarios"] = [
        {**{k: v for k, v in s.items() if k in SCENARIO_FIELDS},
         "proofs": [{k: v for k, v in p.items() if k in PROOF_FIELDS and (v != "" or k == "kind")}
                    for p in s.get("proofs", [])]}
        for s in entry.get("scenarios", [])
    ]
    for scenario in out["scenarios"]:
        for proof in scenario["proofs"]:
            proof.setdefault("verification", [])
    return out


def merge_into(existing_entries: Iterable[dict[str, Any]], imported: Iterable[dict[str, Any]]
               ) -> list[dict[str, Any]]:
    """Official texts win; our knowledge of how each proof is produced survives.

    For a requirement in both lists: the imported entry (statement, title, nature, criticité,
    scenarios, proofs, ``verified: V``) replaces ours, except that for every proof id found in both
    we keep our ``method``, ``manual_reason`` and ``kind`` (and our points of verification when the
    REM gave none); corridors and refs are united; our ``socle`` stays when the REM names none.
    Requirements only in ``existing_entries`` stay as they are; new ones are appended.
    """
    merged: list[dict[str, Any]] = [_clean(e) for e in existing_entries]
    index = {e["id"]: i for i, e in enumerate(merged)}
    for official in (_clean(e) for e in imported):
        position = index.get(official["id"])
        if position is None:
            index[official["id"]] = len(merged)
            merged.append(official)
            continue
        ours = merged[position]
        our_proofs = {p["id"]: p for s in ours.get("scenarios", []) for p in s.get("proofs", [])}
        for scenario in official["scenarios"]:
            for proof in scenario["proofs"]:
                mine = our_proofs.get(proof["id"])
                if mine is None:
                    continue
                for key in KEPT_PROOF_FIELDS:
                    if key in mine:
                        proof[key] = mine[key]
                    elif key == "manual_reason":
                        proof.pop(key, None)
                if not proof.get("verification") and mine.get("verification"):
                    proof["verification"] = list(mine["verification"])
        result = dict(official)
        result["corridors"] = [c for c in CORRIDORS if c in set(ours.get("corridors", [])) | set(official["corridors"])]
        refs = list(dict.fromkeys([*ours.get("refs", []), *official.get("refs", [])]))
        if refs:
            result["refs"] = refs
        if "socle" not in result and ours.get("socle"):
            result["socle"] = ours["socle"]
        merged[position] = _order(result)
    return merged


def _order(entry: dict[str, Any]) -> dict[str, Any]:
    """Fields in the documented order, so diffs of written catalogues stay readable."""
    ordered = {k: entry[k] for k in REQUIREMENT_FIELDS if k in entry and k != "scenarios"}
    ordered["scenarios"] = entry.get("scenarios", [])
    return ordered


def write_catalogue(entries: Iterable[dict[str, Any]], path: Path | str, *, header: str = "") -> int:
    """Write entries as a catalogue file the loader accepts; return the number of requirements.

    The file is checked with the loader before it replaces the target, so a bad import never
    leaves a broken catalogue behind (the CatalogueError names the temporary file's lines).
    """
    path = Path(path)
    items = [_order(_clean(e)) for e in entries]
    text = yaml.safe_dump({"requirements": items}, allow_unicode=True, sort_keys=False, width=100,
                          default_flow_style=False)
    comment = "".join(f"# {line}\n" for line in header.splitlines()) if header else ""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(comment + text, encoding="utf-8")
    try:
        count = len(load_catalogue_file(tmp))
    except CatalogueError:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(path)
    return count


def read_entries(path: Path | str) -> list[dict[str, Any]]:
    """The raw entries of a catalogue file (validated first, so a merge starts from good data)."""
    load_catalogue_file(path)
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    default_section = data.get("section")
    entries = list(data.get("requirements") or [])
    if default_section:
        for entry in entries:
            entry.setdefault("section", default_section)
    return entries


def import_command(xlsx: Path | str, out: Path | str, wave: int, corridors: Sequence[str]) -> int:
    """``segur-conformance import-rem``: import, merge into ``out`` when it exists, write. Exit code."""
    out = Path(out)
    try:
        imported = import_rem_spreadsheet(xlsx, wave=wave, corridors=corridors)
        existing = read_entries(out) if out.exists() else []
        entries = merge_into(existing, imported) if existing else imported
        count = write_catalogue(entries, out, header=(
            f"Importé du REM officiel {Path(xlsx).name} (vague {wave}, {', '.join(corridors)}) "
            f"par segur-conformance import-rem.\nLes preuves restent manuelles sauf celles que le banc "
            f"automatise (conservées lors de la fusion)."))
    except (SpreadsheetError, CatalogueError) as exc:
        print(f"import-rem : échec\n{exc}", file=sys.stderr)
        return 2
    merged = len({e["id"] for e in existing} & {e["id"] for e in imported})
    print(f"{len(imported)} exigences importées ({merged} fusionnées avec l'existant), "
          f"{count} exigences écrites dans {out}")
    return 0


__all__ = [
    "DEFAULT_MANUAL_REASON", "SpreadsheetError", "guess_kind", "import_command", "import_rem_spreadsheet",
    "merge_into", "normalise_header", "read_entries", "write_catalogue",
]
