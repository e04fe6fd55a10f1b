"""What both REM layouts share: header normalisation, cell values, vocabularies, bounds, errors, and
the rows of a worksheet."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

DEFAULT_MANUAL_REASON = "Preuve à fournir selon le REM officiel"
DEFAULT_CRITICITE = "MAJEURE"  # the base REM template has no Criticité column (rem.md §4.3)
HEADER_SEARCH_ROWS = 50
MAX_ROWS = 100_000          # rows read per sheet (ANS's largest public sheet has < 7,000)

NATURE_WORDS = {
    "EXIGENCE": "EXIGENCE", "DOIT": "EXIGENCE", "OBLIGATOIRE": "EXIGENCE", "CRI": "EXIGENCE",
    "PRECONISATION": "PRECONISATION", "PEUT": "PRECONISATION", "PRECONISEE": "PRECONISATION",
    "PRECO": "PRECONISATION", "RECOMMANDATION": "PRECONISATION",
}
CRITICITE_WORDS = {
    "MINEURE": "MINEURE", "MINOR": "MINEURE", "MAJEURE": "MAJEURE", "MAJOR": "MAJEURE",
    "CRITIQUE": "CRITIQUE", "CRITICAL": "CRITIQUE",
}

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


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def word(value: str) -> str:
    return normalise_header(value).upper().replace(" ", "")



def shorten(text: str, limit: int = 90) -> str:
    first = " ".join(text.split())
    return first if len(first) <= limit else first[: limit - 1].rsplit(" ", 1)[0] + " …"



def sheet_rows(worksheet: Any) -> list[tuple[Any, ...]]:
    """All rows of a sheet (bounded); read-only sheets without a dimension record are re-measured."""
    if hasattr(worksheet, "reset_dimensions"):
        worksheet.reset_dimensions()
    rows: list[tuple[Any, ...]] = []
    for raw in worksheet.iter_rows(values_only=True):
        rows.append(tuple(raw))
        if len(rows) > MAX_ROWS:
            break
    while rows and not any(cell(v) for v in rows[-1]):
        rows.pop()
    return rows
