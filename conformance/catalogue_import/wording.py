"""ANS wording for the requirements of our catalogue (issue 18): descriptions read from Squash exports,
the row that speaks for an id, and a targeted in-place rewrite of catalogue fields."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from conformance.catalogue_import.html_text import html_to_text
from conformance.catalogue_import.sheets import (
    NATURE_WORDS,
    SpreadsheetError,
    cell,
    normalise_header,
    sheet_rows,
    word,
)
from conformance.catalogue_import.squash_layout import find_squash_header
from conformance.requirements import CatalogueError, id_kind, load_catalogue_file, peek_id


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


def _value_at(raw: tuple[Any, ...], columns: dict[str, int], key: str) -> Any:
    """The raw value of column ``key`` in a Squash row (None when the sheet lacks it or the row is short)."""
    return raw[columns[key]] if key in columns and columns[key] < len(raw) else None


def squash_texts(xlsx_path: Path | str, sheet: str) -> dict[str, list[AnsText]]:
    """Every non-empty description of a Squash-layout sheet, by reference (several rows may share one)."""
    from openpyxl import load_workbook

    workbook = load_workbook(Path(xlsx_path), read_only=True, data_only=True)
    try:
        rows = sheet_rows(workbook[sheet])
    finally:
        workbook.close()
    found = find_squash_header(rows)
    if found is None:
        raise SpreadsheetError(Path(xlsx_path).name, [(sheet, 0, "pas d'en-tête REQ_VERSION_REFERENCE")])
    header_row, columns = found
    note_at = next((i for i, v in enumerate(rows[header_row - 1])
                    if normalise_header(v) == "req version cuf note interne"), None)
    out: dict[str, list[AnsText]] = {}
    for number, raw in enumerate(rows[header_row:], header_row + 1):
        get = functools.partial(_value_at, raw, columns)
        reference, text = cell(get("req_id")), html_to_text(get("statement"))
        if not reference or not text:
            continue
        modified = get("modified")
        note = html_to_text(raw[note_at]) if note_at is not None and note_at < len(raw) else ""
        out.setdefault(reference, []).append(AnsText(
            reference=reference, text=text, sheet=sheet, row=number, project=cell(get("project")),
            status=cell(get("status")).upper(), nature=NATURE_WORDS.get(word(cell(get("category"))), ""),
            modified=modified.date().isoformat() if hasattr(modified, "date") else cell(modified), note=note))
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
