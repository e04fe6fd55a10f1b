"""Import ANS's REM spreadsheets into our catalogue format.

Why: our catalogue is mostly paraphrased or inferred (rem.md §0). When a vendor or ANS hands us a
REM export, this turns it into catalogue YAML so the real texts replace ours without code changes,
while ``merge_into`` keeps what only we know: which proofs the harness automates, and why the others
stay manual.

Two layouts, told apart by the header row (found by name in the first rows of each sheet):

- **published REM table** (Squash "segur-rapport" export, rem.md §4.3; accents/case/spaces ignored):
  Exigence conditionnelle · Profil · ID Section · Section · Bloc · Fonction · Nature de l'exigence ·
  N° exigence · Énoncé · N° scénario · Scénario de conformité · N° preuve 1..10 / Preuve 1..10, and
  optionally Criticité, points de vérification, référence exigence socle. One requirement may span
  several rows (one per scenario); continuation rows repeat the id or leave it blank. ``verified: V``.
- **Squash TM requirement export** (ANS's own tool, ``ansforge/segur-squash-plugins`` ``macros/``): a
  sheet with ``REQ_VERSION_REFERENCE``, ``REQ_VERSION_NAME``, ``REQ_VERSION_DESCRIPTION`` (HTML, cleaned
  to text with lxml.html), ``REQ_VERSION_CATEGORY`` (CRI / PRECO: the nature), ``REQ_VERSION_CRITICALITY``
  (MINOR / MAJOR / CRITICAL), ``REQ_VERSION_STATUS``, custom fields ``REQ_VERSION_CUF_SECTION`` (``<ID
  section>_<label>``), ``_BLOC``, ``_FONCTION``, ``_PROFIL``; optional sheets ``LINK_REQ_REQ`` (a REM
  requirement and its socle parent, ``SEGUR_PARENT``) and ``LINK_REQ_TC`` (its test cases, i.e. its
  scenarios). Such an export carries no proofs: each requirement gets one manual proof per linked test
  case (or one placeholder scenario), and a merge keeps our own scenarios. Status APPROVED gives
  ``verified: V``; WORK_IN_PROGRESS / UNDER_REVIEW (drafts) give ``Vd``; OBSOLETE rows are skipped.

``import_rem_spreadsheet`` is strict (any bad row: one ``SpreadsheetError`` listing them all);
``read_rem_workbook`` and ``import-rem`` import the rows that map and name every other row in one line
(file, sheet, row, why).
"""

from __future__ import annotations

import re
import sys
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from conformance.requirements import (
    PROOF_FIELDS,
    REQUIREMENT_FIELDS,
    SCENARIO_FIELDS,
    Catalogue,
    CatalogueError,
    id_kind,
    known_corridors,
    load_catalogue_file,
    peek_id,
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


def _shorten(text: str, limit: int = 90) -> str:
    first = " ".join(text.split())
    return first if len(first) <= limit else first[: limit - 1].rsplit(" ", 1)[0] + " …"


# ---------------------------------------------------------------------------------------------
# Squash TM requirement export
# ---------------------------------------------------------------------------------------------
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
MAX_ROWS = 100_000          # rows read per sheet (ANS's largest public sheet has < 7,000)
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


def _find_squash_header(rows: list[tuple[Any, ...]]) -> tuple[int, dict[str, int]] | None:
    for number, row in enumerate(rows[:HEADER_SEARCH_ROWS], 1):
        columns = _squash_columns(row)
        if "req_id" in columns:
            return number, columns
    return None


_BLOCK_TAGS = ("p", "div", "li", "tr", "table", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote")


def html_to_text(fragment: Any) -> str:
    """A Squash rich-text description as plain text: tags dropped, entities decoded, one line per
    paragraph, ``<br>`` or list item, blanks collapsed (lxml.html, never regular expressions on HTML)."""
    from lxml import etree
    from lxml import html as lxml_html

    text = _cell(fragment)
    if not text:
        return ""
    if "<" in text or "&" in text:
        try:
            root = lxml_html.fragment_fromstring(text, create_parent="div")
        except (etree.ParserError, ValueError):
            root = None
        if root is not None:
            for element in [e for e in root.iter("script", "style")]:
                element.drop_tree()
            for element in root.iter("br"):
                element.tail = "\n" + (element.tail or "")
            for element in root.iter(*_BLOCK_TAGS):
                element.text = ("\n- " if element.tag == "li" else "\n") + (element.text or "")
                element.tail = "\n" + (element.tail or "")
            text = root.text_content()
    lines = (" ".join(line.split()) for line in text.replace("\r", "\n").splitlines())
    return "\n".join(line for line in lines if line)


class _SquashReader:
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
            if not any(_cell(v) for v in row.values()):
                continue
            self.row(sheet, number, row)

    def row(self, sheet: str, number: int, raw: dict[str, Any]) -> None:
        row = {k: _cell(v) for k, v in raw.items() if k != "statement"}
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
        if _word(row.get("action", "")) in ("D", "DELETE", "SUPPRESSION"):
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
        nature = NATURE_WORDS.get(_word(row.get("category", ""))) if row.get("category") else "EXIGENCE"
        if nature is None:
            self.skip(sheet, number, f"{rid} : REQ_VERSION_CATEGORY inconnue {row['category']!r} (attendu CRI ou PRECO)")
            return
        criticite = DEFAULT_CRITICITE
        if row.get("criticality") and _word(row["criticality"]) != "UNDEFINED":
            criticite = CRITICITE_WORDS.get(_word(row["criticality"]), "")
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
            "title": row.get("fonction") or row.get("bloc") or _squash_name(row.get("name", "")) or _shorten(statement),
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
            cells = [_cell(v) for v in raw]
            if not any(cells):
                continue
            get = (lambda n: cells[at[n]] if at[n] < len(cells) else "")
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
            cells = [_cell(v) for v in raw]
            if not any(cells):
                continue
            get = (lambda n: cells[at[n]] if at[n] < len(cells) else "")
            rid = self.by_path.get((get("req path"), get("req version num")))
            if rid is None:
                self.skip(sheet, number, f"cas de test ignoré : exigence {get('req path')!r} non importée")
                continue
            entry = self.entries[rid]
            if len(entry["scenarios"]) >= 99:
                self.skip(sheet, number, f"{rid} : plus de 99 cas de test liés, celui-ci est ignoré")
                continue
            name = get("tc path").rstrip("/").rsplit("/", 1)[-1] or get("tc path")
            entry["scenarios"].append(_placeholder_scenario(rid, len(entry["scenarios"]) + 1, name,
                                                            f"Preuves du cas de test Squash {get('tc path')}"))

    def finish(self) -> None:
        for rid, entry in self.entries.items():
            if entry.get("_squash") and not entry["scenarios"]:
                entry["scenarios"].append(_placeholder_scenario(rid, 1, SQUASH_NO_SCENARIO,
                                                                "Preuve à fournir selon le REM officiel"))


def _squash_name(name: str) -> str:
    """``Sécurisation - 002`` → ``Sécurisation`` (Squash numbers the names of one function)."""
    return re.sub(r"\s*-\s*\d+$", "", name).strip()


def _placeholder_scenario(rid: str, n: int, title: str, proof_text: str) -> dict[str, Any]:
    sid = f"{rid}.{n:02d}"
    return {"id": sid, "title": title, "proofs": [{
        "id": f"{sid}.01", "kind": "Démonstration", "description": proof_text, "verification": [],
        "method": "manual", "manual_reason": DEFAULT_MANUAL_REASON}]}


# ---------------------------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------------------------
@dataclass
class RemImport:
    """What a workbook held: the entries that map, and one ``(sheet, row, why)`` per row that did not."""

    entries: list[dict[str, Any]]
    problems: list[tuple[str, int, str]] = field(default_factory=list)
    dropped: list[tuple[str, int, str]] = field(default_factory=list)   # requirements left out because of those
    layouts: dict[str, str] = field(default_factory=dict)   # sheet -> "REM" | "Squash"
    source: str = ""

    def lines(self) -> list[str]:
        every = self.problems + self.dropped
        return str(SpreadsheetError(self.source, every)).splitlines() if every else []


def read_rem_workbook(xlsx_path: Path | str, *, wave: int, corridors: Iterable[str],
                      sheet: str | None = None) -> RemImport:
    """Read an REM workbook in either layout; rows that cannot be mapped are listed, not fatal.

    Raises ``SpreadsheetError`` only for problems of the whole file (bad parameters, unreadable
    workbook, missing sheet). A requirement with any rejected row is left out entirely (published
    layout), so a partial requirement never reaches a catalogue.
    """
    from openpyxl import load_workbook  # heavy import, only for this command

    path = Path(xlsx_path)
    corridors = list(corridors)
    problems: list[tuple[str, int, str]] = []
    if wave not in (1, 2):
        problems.append(("", 0, f"vague {wave!r} invalide (1 ou 2)"))
    known = known_corridors()
    bad = [c for c in corridors if c not in known]
    if bad or not corridors:
        problems.append(("", 0, f"couloirs invalides {bad or corridors} (connus : {', '.join(known)})"))
    if problems:
        raise SpreadsheetError(path.name, problems)
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many types on a bad file; one line, no traceback
        raise SpreadsheetError(path.name, [("", 0, f"classeur illisible ({type(exc).__name__}: {exc})")]) from None
    result = RemImport(entries=[], source=path.name)
    entries: dict[str, dict[str, Any]] = {}
    squash = _SquashReader(path.name, wave, corridors, entries, result.problems)
    tainted: set[str] = set()
    first_rows: dict[str, tuple[str, int]] = {}
    empty: list[str] = []
    try:
        names = workbook.sheetnames
        if sheet is not None and sheet not in names:
            raise SpreadsheetError(path.name, [(sheet, 0, f"feuille absente (feuilles : {', '.join(names)})")])
        sheets: dict[str, list[tuple[Any, ...]]] = {}
        for name in [sheet] if sheet is not None else names:
            try:
                sheets[name] = _sheet_rows(workbook[name])
            except Exception as exc:  # noqa: BLE001 - a corrupt sheet is one line, the others still count
                result.problems.append((name, 0, f"feuille illisible ({type(exc).__name__}: {exc})"))
        link_sheets: list[tuple[str, str]] = []
        for name, rows in sheets.items():
            if not rows:
                empty.append(name)
                continue
            if len(rows) > MAX_ROWS:
                result.problems.append((name, MAX_ROWS + 1, f"plus de {MAX_ROWS} lignes : la suite est ignorée"))
                rows = rows[:MAX_ROWS]
            found = _find_header(rows)
            if found is not None:
                result.layouts[name] = "REM"
                reader = _SheetReader(name, path.name, wave, corridors, entries, result.problems)
                reader.read(rows, *found)
                tainted |= reader.tainted
                first_rows.update({rid: (name, n) for rid, n in reader.first_row.items()})
                continue
            squash_found = _find_squash_header(rows)
            if squash_found is not None:
                result.layouts[name] = "Squash"
                before = set(entries)
                squash.read(name, rows, *squash_found)
                for rid in set(entries) - before:
                    entries[rid]["_squash"] = True
                continue
            kind = _link_kind(rows[0])
            if kind:
                link_sheets.append((kind, name))
        for kind, name in sorted(link_sheets):   # LINK_REQ_REQ before LINK_REQ_TC, after every REQUIREMENT sheet
            (squash.links if kind == "req" else squash.test_cases)(name, sheets[name])
    finally:
        workbook.close()
    squash.finish()
    if not result.layouts:
        where = sheet or ", ".join(repr(n) for n in sheets) or "?"
        what = ("classeur vide : aucune cellule remplie" if len(empty) == len(sheets)
                else f"aucune ligne d'en-tête REM trouvée (colonnes « N° exigence » et « Énoncé », ou "
                     f"REQ_VERSION_REFERENCE d'un export Squash TM, dans les {HEADER_SEARCH_ROWS} premières lignes)")
        result.problems.append((sheet or "", 0, f"{what} ; feuilles lues : {where}"))
    for rid, entry in entries.items():
        if entry.get("_squash"):
            continue
        if rid in tainted:
            sheet_name, number = first_rows.get(rid, ("", 0))
            result.dropped.append((sheet_name, number, f"{rid} : exigence non importée (une de ses lignes est "
                                                       f"rejetée ci-dessus)"))
        elif not entry["scenarios"]:
            sheet_name, number = first_rows.get(rid, ("", 0))
            result.problems.append((sheet_name, number, f"{rid} : aucun scénario de conformité, exigence non importée"))
            tainted.add(rid)
    result.entries = [e for rid, e in entries.items() if rid not in tainted]
    return result


def _link_kind(header: Sequence[Any]) -> str:
    names = {normalise_header(v) for v in header}
    if {"req path", "related req path"} <= names:
        return "req"
    if {"req path", "tc path"} <= names:
        return "tc"
    return ""


def _sheet_rows(worksheet: Any) -> list[tuple[Any, ...]]:
    """All rows of a sheet (bounded); read-only sheets without a dimension record are re-measured."""
    if hasattr(worksheet, "reset_dimensions"):
        worksheet.reset_dimensions()
    rows: list[tuple[Any, ...]] = []
    for raw in worksheet.iter_rows(values_only=True):
        rows.append(tuple(raw))
        if len(rows) > MAX_ROWS:
            break
    while rows and not any(_cell(v) for v in rows[-1]):
        rows.pop()
    return rows


def import_rem_spreadsheet(xlsx_path: Path | str, *, wave: int, corridors: Iterable[str],
                           sheet: str | None = None) -> list[dict[str, Any]]:
    """Read an REM workbook (either layout) into catalogue entries (dicts in the YAML shape), strictly.

    Published layout: every entry is ``verified: V`` and every proof ``manual`` with
    ``DEFAULT_MANUAL_REASON`` until ``merge_into`` restores what the harness automates. Any row that
    cannot be mapped makes one ``SpreadsheetError`` listing all of them (``read_rem_workbook`` is the
    lenient form).
    """
    result = read_rem_workbook(xlsx_path, wave=wave, corridors=corridors, sheet=sheet)
    if result.problems:
        raise SpreadsheetError(result.source, result.problems)
    return result.entries


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
    Requirements only in ``existing_entries`` stay as they are; new ones are appended. An entry read
    from a Squash TM export (no proofs in it) keeps our scenarios whole.
    """
    merged: list[dict[str, Any]] = [_clean(e) for e in existing_entries]
    index = {e["id"]: i for i, e in enumerate(merged)}
    corridor_order = known_corridors()
    for raw in imported:
        official = _clean(raw)
        position = index.get(official["id"])
        if position is None:
            index[official["id"]] = len(merged)
            merged.append(official)
            continue
        ours = merged[position]
        if raw.get("_squash") and ours.get("scenarios"):
            # a Squash export holds no proofs: our scenarios (and what we automate) stay
            official["scenarios"] = ours["scenarios"]
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
        result["corridors"] = [c for c in corridor_order if c in set(ours.get("corridors", [])) | set(official["corridors"])]
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
    """``segur-conformance import-rem``: import, merge into ``out`` when it exists, write. Exit code.

    Rows that cannot be mapped are printed one per line (file, sheet, row, why) and left out; the
    others are written. 0 when something was written, 2 when nothing could be (nothing written).
    """
    out = Path(out)
    name = Path(xlsx).name
    try:
        result = read_rem_workbook(xlsx, wave=wave, corridors=corridors)
    except SpreadsheetError as exc:
        print(f"import-rem : échec\n{exc}", file=sys.stderr)
        return 2
    imported = result.entries
    layouts = ", ".join(f"{sheet} ({layout})" for sheet, layout in result.layouts.items()) or "aucune"
    skipped = result.lines()
    if skipped:
        print("\n".join(skipped), file=sys.stderr)
    if not imported:
        print(f"import-rem : échec, 0 exigence importée de {name} ({len(skipped)} ligne(s) ci-dessus ; feuilles "
              f"reconnues : {layouts}) ; {out} inchangé", file=sys.stderr)
        return 2
    origin = "du REM officiel" if set(result.layouts.values()) == {"REM"} else "de l'export Squash TM"
    try:
        existing = read_entries(out) if out.exists() else []
        entries = merge_into(existing, imported) if existing else imported
        count = write_catalogue(entries, out, header=(
            f"Importé {origin} {name} (vague {wave}, {', '.join(corridors)}) par segur-conformance import-rem.\n"
            f"Les preuves restent manuelles sauf celles que le banc automatise (conservées lors de la fusion)."))
    except CatalogueError as exc:
        print(f"import-rem : échec\n{exc}", file=sys.stderr)
        return 2
    merged = len({e["id"] for e in existing} & {e["id"] for e in imported})
    ignored = f" ; {len(result.problems)} ligne(s) ignorée(s), détail ci-dessus" if result.problems else ""
    print(f"{name} (feuilles {layouts}) : {len(imported)} exigences importées ({merged} fusionnées avec "
          f"l'existant), {count} exigences écrites dans {out}{ignored}")
    return 0


# ---------------------------------------------------------------------------------------------
# ANS wording for the requirements of our catalogue (issue 18)
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AnsText:
    """One requirement description in an ANS Squash export, and where it was read."""

    reference: str
    text: str
    sheet: str
    row: int
    project: str = ""
    status: str = ""
    modified: str = ""
    nature: str = ""
    note: str = ""

    def where(self, origin: str) -> str:
        facts = ", ".join(f for f in (self.project, f"statut {self.status}" if self.status else "",
                                      f"modifiée le {self.modified}" if self.modified else "") if f)
        return f"{origin}, feuille {self.sheet!r}, ligne {self.row}" + (f" ({facts})" if facts else "")


_STATUS_RANK = {"APPROVED": 0, "UNDER_REVIEW": 1, "WORK_IN_PROGRESS": 1, "": 2, "OBSOLETE": 3}
_REPRISE = re.compile(r"Reprise vague 1\s*:\s*([^\n]*)")


def squash_texts(xlsx_path: Path | str, sheet: str) -> dict[str, list[AnsText]]:
    """Every non-empty description of a Squash-layout sheet, by reference (several rows may share one)."""
    from openpyxl import load_workbook

    workbook = load_workbook(Path(xlsx_path), read_only=True, data_only=True)
    try:
        rows = _sheet_rows(workbook[sheet])
    finally:
        workbook.close()
    found = _find_squash_header(rows)
    if found is None:
        raise SpreadsheetError(Path(xlsx_path).name, [(sheet, 0, "pas d'en-tête REQ_VERSION_REFERENCE")])
    header_row, columns = found
    note_at = next((i for i, v in enumerate(rows[header_row - 1])
                    if normalise_header(v) == "req version cuf note interne"), None)
    out: dict[str, list[AnsText]] = {}
    for number, raw in enumerate(rows[header_row:], header_row + 1):
        get = (lambda key: raw[columns[key]] if key in columns and columns[key] < len(raw) else None)
        reference, text = _cell(get("req_id")), html_to_text(get("statement"))
        if not reference or not text:
            continue
        modified = get("modified")
        note = html_to_text(raw[note_at]) if note_at is not None and note_at < len(raw) else ""
        out.setdefault(reference, []).append(AnsText(
            reference=reference, text=text, sheet=sheet, row=number, project=_cell(get("project")),
            status=_cell(get("status")).upper(), nature=NATURE_WORDS.get(_word(_cell(get("category"))), ""),
            modified=modified.date().isoformat() if hasattr(modified, "date") else _cell(modified), note=note))
    return out


def pick_ans_text(reference: str, rows: list[AnsText]) -> AnsText | str:
    """The row that speaks for ``reference``, or why none can: socle rows only for a socle id, then the
    best status (APPROVED, drafts, OBSOLETE last), then the latest change; distinct texts left = ambiguous."""
    if id_kind(reference) == "socle":
        rows = [r for r in rows if r.project.startswith("SC_")] or rows
    if not rows:
        return "aucune ligne"
    best = min(_STATUS_RANK.get(r.status, 2) for r in rows)
    rows = [r for r in rows if _STATUS_RANK.get(r.status, 2) == best]
    latest = max(r.modified for r in rows)
    rows = [r for r in rows if r.modified == latest]
    if len({r.text for r in rows}) > 1:
        return f"{len(rows)} textes différents ({', '.join(f'ligne {r.row}' for r in rows)})"
    return rows[0]


def vague1_successors(index: dict[str, list[AnsText]]) -> dict[str, set[str]]:
    """``DUI.MSS.12`` → the socle ids whose ANS internal note says « Reprise vague 1 : …, DUI.MSS.12, … »."""
    out: dict[str, set[str]] = {}
    for reference, rows in index.items():
        for row in rows:
            for match in _REPRISE.finditer(row.note):
                for old in re.findall(r"[A-Z]{2,6}\.[A-Z]{2,6}\.\d{2,3}", match.group(1)):
                    out.setdefault(old, set()).add(reference)
    return out


def _dump_field(key: str, value: str, indent: int) -> str:
    """``key: value`` as the catalogue writes it, multi-line texts as literal blocks."""

    class _Dumper(yaml.SafeDumper):
        pass

    def _str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|" if "\n" in data else None)

    _Dumper.add_representer(str, _str)
    text = yaml.dump({key: value}, Dumper=_Dumper, allow_unicode=True, width=110 - indent, sort_keys=False)
    lines = text.rstrip("\n").split("\n")
    return "\n".join([lines[0], *((" " * indent + line) if line else line for line in lines[1:])])


def set_requirement_fields(path: Path | str, changes: dict[str, dict[str, str]]) -> int:
    """Rewrite only the given fields (``{requirement id: {field: new value}}``) of a catalogue file in place,
    keeping every other byte; the result is checked to load with exactly those changes. Returns the count
    of requirements changed. Fields must already exist in the entry."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    before = yaml.safe_load(text)
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    spans: list[tuple[int, int, str]] = []
    done: set[str] = set()
    items = root.value if isinstance(root, yaml.MappingNode) else []
    for key_node, value_node in items:
        if key_node.value != "requirements" or not isinstance(value_node, yaml.SequenceNode):
            continue
        for item in value_node.value:
            rid = peek_id(item)
            if rid not in changes or not isinstance(item, yaml.MappingNode):
                continue
            for field_key, field_value in item.value:
                if field_key.value in changes[rid]:
                    start, end = field_key.start_mark.index, field_value.end_mark.index
                    new = _dump_field(field_key.value, changes[rid][field_key.value], field_key.start_mark.column)
                    if text[end - 1:end] == "\n":
                        new += "\n"
                    spans.append((start, end, new))
            done.add(rid)
    for start, end, new in sorted(spans, reverse=True):
        text = text[:start] + new + text[end:]
    after = yaml.safe_load(text)
    expected = before
    for entry in expected["requirements"]:
        entry.update(changes.get(entry["id"], {}))
    if after != expected:
        raise ValueError(f"{path}: la réécriture ciblée ne donne pas le contenu attendu")
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    try:
        load_catalogue_file(tmp)
    except CatalogueError:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(path)
    return len(done)


def carry_ans_wording(catalogue_dir: Path | str, sources: Sequence[tuple[Path | str, str, str]],
                      *, write: bool = True) -> dict[str, Any]:
    """Put ANS's text as the statement of every catalogue requirement whose id (or, for a vague-1 DUI id,
    the socle id ANS notes as its « reprise ») has a description in a Squash sheet; ``sources`` are
    ``(workbook, sheet, origin)`` in priority order (the latest export first: an id takes its text from the
    first source holding one). The row is named in ``source``; the grade becomes ``Vd`` (ANS working data,
    final DUI text unseen) unless ANS marks the row OBSOLETE (the grade stays). Only ``statement``,
    ``source`` and ``verified`` are touched. Returns a summary."""
    from conformance.requirements import catalogue_files

    indexes = [(squash_texts(xlsx, sheet), origin) for xlsx, sheet, origin in sources]
    successors: dict[str, set[str]] = {}
    for index, _ in indexes:
        for old, refs in vague1_successors(index).items():
            successors.setdefault(old, set()).update(refs)
    summary: dict[str, Any] = {"carried": {}, "kept": {}, "grades": {}, "obsolete": [], "nature_differs": []}
    for path in catalogue_files(Path(catalogue_dir)):
        changes: dict[str, dict[str, str]] = {}
        for req in load_catalogue_file(path):
            reference, via = req.id, ""
            if not any(reference in index for index, _ in indexes) and req.id in successors:
                candidates = sorted(successors[req.id])
                if len(candidates) != 1 or (req.socle and req.socle != candidates[0]):
                    summary["kept"][req.id] = f"reprise ambiguë {candidates} (socle {req.socle or '-'})"
                    continue
                reference, via = candidates[0], f" ; reprise vague 1 de {req.id} selon la note interne ANS"
            found = [(index[reference], origin) for index, origin in indexes if reference in index]
            if not found:
                summary["kept"][req.id] = "aucun texte sous cet identifiant dans les données publiques lues"
                continue
            picked = pick_ans_text(reference, found[0][0])
            origin = found[0][1]
            if isinstance(picked, str):
                summary["kept"][req.id] = f"{reference} : {picked}"
                continue
            grade = req.verified
            if picked.status == "OBSOLETE":
                summary["obsolete"].append(req.id)
            elif req.verified != "V":
                grade = "Vd"
            if picked.nature and picked.nature != req.nature:
                summary["nature_differs"].append((req.id, req.nature, picked.nature))
            previous = req.source
            if previous.startswith("Texte ANS "):          # re-run: keep the original paraphrase's source
                previous = previous.split(" ; paraphrase précédente : ", 1)[-1]
            source = (f"Texte ANS {reference} : {picked.where(origin)}{via} ; "
                      f"paraphrase précédente : {previous}")
            change = {"statement": picked.text, "source": source, "verified": grade}
            summary["grades"][req.id] = (req.verified, grade)
            summary["carried"][req.id] = reference
            if any(getattr(req, k) != v for k, v in change.items()):
                changes[req.id] = change
        if changes and write:
            set_requirement_fields(path, changes)
    return summary


__all__ = [
    "DEFAULT_MANUAL_REASON", "AnsText", "RemImport", "carry_ans_wording", "set_requirement_fields", "SpreadsheetError", "guess_kind", "html_to_text", "import_command",
    "import_rem_spreadsheet", "merge_into", "normalise_header", "read_entries", "read_rem_workbook",
    "write_catalogue",
]


# ---------------------------------------------------------------------------------------------
# ``segur-conformance requirements --diff OTHER``
# ---------------------------------------------------------------------------------------------
def load_other_catalogue(path: Path | str) -> tuple[Catalogue, list[str]]:
    """A catalogue folder, or a single catalogue file; for a file, also the sections it covers."""
    from conformance.requirements import Catalogue, load_catalogue

    path = Path(path)
    if path.is_dir():
        return load_catalogue(path), []
    requirements = load_catalogue_file(path)
    return Catalogue(requirements), sorted({r.section for r in requirements})


def diff_command(other_path: Path | str, *, fmt: str = "text", corridor: str | None = None) -> int:
    """Print what ``other_path`` changes against the current catalogue. 0: identical, 1: differences.

    A single file is compared with the current requirements of the sections it holds (an import of one
    REM does not show every other section as removed). Raises CatalogueError / OSError on bad input."""
    import json

    from conformance.requirements import catalogue_metadata, diff_catalogues, load_catalogue

    base = load_catalogue()
    other, sections = load_other_catalogue(other_path)
    old = [r for r in base if (not sections or r.section in sections) and (corridor is None or corridor in r.corridors)]
    new = [r for r in other if corridor is None or corridor in r.corridors]
    diff = diff_catalogues(old, new)
    meta = catalogue_metadata(catalogue=base)
    count = sum(len(v) for v in diff.values())
    if fmt == "json":
        print(json.dumps({"base": meta, "other": str(other_path), "sections": sections, "corridor": corridor,
                          **diff}, ensure_ascii=False, indent=1))
        return 1 if count else 0
    scope = f" ; sections comparées : {', '.join(sections)}" if sections else ""
    scope += f" ; couloir {corridor}" if corridor else ""
    print(f"# catalogue actuel : version {meta.get('version')}, SHA-256 {str(meta.get('sha256'))[:16]}…, "
          f"{len(old)} exigences ; {other_path} : {len(new)} exigences{scope}")
    for entry in diff["added"]:
        print(f"+ {entry['id']:<24} {entry['title']}  [ajoutée, {entry['verified']}]")
    for entry in diff["removed"]:
        print(f"- {entry['id']:<24} {entry['title']}  [retirée]")
    for entry in diff["reworded"]:
        print(f"~ {entry['id']:<24} {entry['title']}  [reformulée]")
        print(f"    avant : {_shorten(entry['before'], 300)}")
        print(f"    après : {_shorten(entry['after'], 300)}")
    for entry in diff["changed"]:
        fields = " ; ".join(f"{name} {a!r} → {b!r}" for name, (a, b) in entry["fields"].items())
        print(f"* {entry['id']:<24} {fields}")
    print(f"# {len(diff['added'])} ajoutée(s), {len(diff['removed'])} retirée(s), {len(diff['reworded'])} "
          f"reformulée(s), {len(diff['changed'])} autre(s) changement(s)")
    return 1 if count else 0


def _main(argv: Sequence[str] | None = None) -> int:
    """``python -m conformance.catalogue_import carry-wording --source XLSX SHEET ORIGIN … [--dry-run]``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m conformance.catalogue_import")
    sub = parser.add_subparsers(dest="command", required=True)
    carry = sub.add_parser("carry-wording", help="put ANS's public texts into the catalogue statements")
    carry.add_argument("--source", nargs=3, action="append", required=True, metavar=("XLSX", "SHEET", "ORIGIN"),
                       help="a Squash TM export, its sheet with REQ_VERSION_* columns, and its origin "
                            "(repository@commit, path) written into every source; repeatable, first wins")
    carry.add_argument("--catalogue", type=Path, default=None, help="catalogue folder (default: the packaged one)")
    carry.add_argument("--dry-run", action="store_true", help="report, write nothing")
    args = parser.parse_args(argv)
    from conformance.requirements import default_directory

    sources = [(Path(xlsx), sheet, origin) for xlsx, sheet, origin in args.source]
    summary = carry_ans_wording(args.catalogue or default_directory(), sources, write=not args.dry_run)
    changes: dict[tuple[str, str], int] = {}
    for before, after in summary["grades"].values():
        changes[(before, after)] = changes.get((before, after), 0) + 1
    print(f"{len(summary['carried'])} énoncés ANS repris, {len(summary['kept'])} paraphrases conservées")
    for (before, after), count in sorted(changes.items()):
        print(f"  {before} -> {after} : {count}")
    print(f"  dont OBSOLETE chez l'ANS (note conservée) : {len(summary['obsolete'])} {summary['obsolete']}")
    for rid, ours, ans in summary["nature_differs"]:
        print(f"  nature différente : {rid} catalogue {ours}, ANS {ans}")
    for rid, why in summary["kept"].items():
        print(f"  conservée : {rid} ({why})")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(_main())
