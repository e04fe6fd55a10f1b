"""An REM workbook in either layout: each sheet's layout told apart by its header row, read, and the
rows that cannot be mapped listed (``read_rem_workbook``) or refused (``import_rem_spreadsheet``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance.catalogue_import.rem_layout import RemSheetReader, find_rem_header
from conformance.catalogue_import.sheets import (
    HEADER_SEARCH_ROWS,
    MAX_ROWS,
    SpreadsheetError,
    normalise_header,
    sheet_rows,
)
from conformance.catalogue_import.squash_layout import SquashReader, find_squash_header
from conformance.requirements import known_corridors


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
    squash = SquashReader(path.name, wave, corridors, entries, result.problems)
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
                sheets[name] = sheet_rows(workbook[name])
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
            found = find_rem_header(rows)
            if found is not None:
                result.layouts[name] = "REM"
                reader = RemSheetReader(name, path.name, wave, corridors, entries, result.problems)
                reader.read(rows, *found)
                tainted |= reader.tainted
                first_rows.update({rid: (name, n) for rid, n in reader.first_row.items()})
                continue
            squash_found = find_squash_header(rows)
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
