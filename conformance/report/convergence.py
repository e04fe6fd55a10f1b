"""Convergence-style export (CSV and XLSX): one row per requirement × scénario × preuve.

The first 14 columns mirror ANS's ``template-export-convergence.xlsx`` (rem.md §4.3) so vendors can reuse
the rows when they assemble their proof file; two columns follow with our pre-check verdict and a short
note. Our verdicts are pre-checks: the ANS checker decides.

Mapping of our catalogue to the ANS columns (where the catalogue has no such field, the cell is empty):
Périmètre = "Vague N"; Chapitre = ANS sub-section ("ID Section") or section; Fonction = our short title;
Exigence = the statement; Commentaire = our source and how sure we are of the text; Profil = the
conditional profile or "Général"; Preuve = the proof kind and its points of verification.

Cells come partly from the candidate (finding texts go into the note), so spreadsheet formula injection
is neutralised: CSV cells starting with ``= + - @`` get a leading apostrophe, XLSX cells are written as
strings, never formulas.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from conformance.report.common import (
    as_list,
    proof_verdict,
    requirements_of,
    severity_of,
    text,
    verdict_of,
)
from conformance.report.i18n import t

CONVERGENCE_COLUMNS = (
    "Périmètre", "ID", "Chapitre", "Fonction", "Exigence", "Commentaire", "Profil", "N° scénario",
    "Scénario de conformité", "N° preuve", "Preuve", "Profil historique", "Criticité", "Ordre",
)
EXTRA_COLUMNS = ("Verdict (pré-contrôle segur-conformance)", "Observations segur-conformance")
COLUMNS = CONVERGENCE_COLUMNS + EXTRA_COLUMNS
ORDER_COLUMN = CONVERGENCE_COLUMNS.index("Ordre") + 1
CRITICITE = {"MINEURE": "Mineure", "MAJEURE": "Majeure", "CRITIQUE": "Critique"}
VERIFIED = {"V": "source primaire ANS", "Vd": "données de travail ANS", "S": "source secondaire",
            "I": "déduit, non confirmé"}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _note(req: dict[str, Any], proof: dict[str, Any] | None, verdict: str) -> str:
    if proof is not None and proof.get("method") == "manual":
        reason = text(proof.get("manual_reason"), 500)
        return "Preuve à fournir par l'éditeur" + (f" : {reason}" if reason else "")
    findings = [f for f in as_list(req.get("findings")) if isinstance(f, dict)]
    errors = [f for f in findings if severity_of(f.get("severity")) == "error"]
    warnings = [f for f in findings if severity_of(f.get("severity")) == "warning"]
    parts: list[str] = []
    if errors:
        parts.append(f"{len(errors)} constat(s) bloquant(s), dont : {text(errors[0].get('message'), 300)}")
    if warnings:
        parts.append(f"{len(warnings)} avertissement(s)")
    if verdict in ("error", "not_run") and req.get("reason"):
        parts.append(text(req.get("reason"), 500))
    return " ; ".join(parts)


def rows(results: dict[str, Any], lang: str = "fr") -> list[list[str]]:
    """The export rows (without header), in results order; ``Ordre`` numbers the requirements."""
    out: list[list[str]] = []
    for order, req in enumerate(requirements_of(results), start=1):
        verdict = verdict_of(req.get("verdict"))
        wave = text(req.get("wave"), 10)
        verified = text(req.get("verified"), 4)
        comment = "; ".join(p for p in (
            f"Source : {text(req.get('source'), 300)}" if req.get("source") else "",
            f"fiabilité du texte {verified} ({VERIFIED[verified]})" if verified in VERIFIED else "",
        ) if p)
        base = [
            f"Vague {wave}" if wave else "",
            text(req.get("id"), 200),
            text(req.get("sub_section") or req.get("section"), 80),
            text(req.get("title"), 500),
            text(req.get("statement")),
            comment,
            text(req.get("conditional_profile"), 500) or "Général",
        ]
        tail = ["", CRITICITE.get(text(req.get("criticite"), 20), text(req.get("criticite"), 20)), str(order)]
        emitted = False
        for scenario in as_list(req.get("scenarios")):
            if not isinstance(scenario, dict):
                continue
            for proof in as_list(scenario.get("proofs")):
                if not isinstance(proof, dict):
                    continue
                points = "; ".join(text(v, 500) for v in as_list(proof.get("verification")))
                kind = text(proof.get("kind"), 200)
                pv = proof_verdict(proof, verdict)
                out.append(base + [text(scenario.get("id"), 200), text(scenario.get("title"), 1000),
                                   text(proof.get("id"), 200), f"{kind} — {points}" if points else kind]
                           + tail + [t("verdict." + pv, lang), _note(req, proof, pv)])
                emitted = True
        if not emitted:
            out.append(base + ["", "", "", ""] + tail + [t("verdict." + verdict, lang), _note(req, None, verdict)])
    return out


def _csv_cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def csv_text(results: dict[str, Any], lang: str = "fr") -> str:
    """CSV for French spreadsheets: UTF-8 with BOM, ``;`` separator, every cell quoted when needed."""
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=";", quoting=csv.QUOTE_MINIMAL, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in rows(results, lang):
        writer.writerow([_csv_cell(c) for c in row])
    return "\ufeff" + buf.getvalue()


def write_csv(results: dict[str, Any], path: Path, lang: str = "fr") -> Path:
    from conformance.evidence import atomic_write

    atomic_write(path, csv_text(results, lang).encode("utf-8"))
    return path


def write_xlsx(results: dict[str, Any], path: Path, lang: str = "fr") -> Path:
    """The same rows as an Excel workbook (sheet ``Convergence``), header frozen, filters on."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill

    from conformance.evidence import atomic_write

    wb = Workbook(write_only=False)
    ws = wb.active
    assert ws is not None
    ws.title = "Convergence"
    ws.append(list(COLUMNS))
    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="DDE3EA")
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for r, row in enumerate(rows(results, lang), start=2):
        for c, value in enumerate(row, start=1):
            cell = ws.cell(row=r, column=c)
            if c == ORDER_COLUMN and value.isdigit():
                cell.value = int(value)
                continue
            cell.value = value
            cell.data_type = "s"  # never a formula, whatever the text starts with
    widths = (10, 18, 14, 30, 60, 30, 18, 16, 30, 18, 40, 12, 10, 7, 22, 50)
    for i, width in enumerate(widths, start=1):
        ws.column_dimensions[ws.cell(row=1, column=i).column_letter].width = width
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = ws.dimensions
    buf = io.BytesIO()
    wb.save(buf)
    atomic_write(path, buf.getvalue())
    return path
