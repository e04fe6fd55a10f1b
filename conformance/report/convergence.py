"""Convergence-style export (CSV and XLSX): one row per requirement × scénario × preuve.

The first 14 columns mirror ANS's ``template-export-convergence.xlsx`` (rem.md §4.3) so vendors can reuse
the rows when they assemble their proof file; four columns follow: our pre-check verdict *of that proof*,
a short note (the proof's own findings, or the checker's decision on a manual proof), the evidence files
the proof rests on (bundle-relative paths) and their SHA-256. Our verdicts are pre-checks: the ANS
checker decides. The sheet is an ANS document: headers and verdicts are always in French, whatever
``--lang``; "Commentaire" cites public sources only (internal working notes are left out).

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
    readable,
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
EXTRA_COLUMNS = ("Verdict (pré-contrôle segur-conformance)", "Observations segur-conformance", "Pièces (fichiers)",
                 "Empreintes SHA-256 des pièces")
COLUMNS = CONVERGENCE_COLUMNS + EXTRA_COLUMNS
ORDER_COLUMN = CONVERGENCE_COLUMNS.index("Ordre") + 1
CRITICITE = {"MINEURE": "Mineure", "MAJEURE": "Majeure", "CRITIQUE": "Critique"}
VERIFIED = {"V": "source primaire ANS", "Vd": "données de travail ANS", "S": "source secondaire",
            "I": "déduit, non confirmé"}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _proof_findings(req: dict[str, Any], proof: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The findings of this proof: those naming it (results format 2); in a file whose findings name no
    proof (format 1), the requirement's findings on each of its automated proofs, as before."""
    findings = [f for f in as_list(req.get("findings")) if isinstance(f, dict)]
    if proof is None or not any(f.get("proofs") for f in findings):
        return findings
    pid = proof.get("id")
    return [f for f in findings if pid in as_list(f.get("proofs"))]


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n <= 1 else many}"


def _note(req: dict[str, Any], proof: dict[str, Any] | None, verdict: str, findings: list[dict[str, Any]]) -> str:
    if proof is not None and proof.get("method") == "manual":
        review = proof.get("review") if isinstance(proof.get("review"), dict) else None
        if review and review.get("decision") in ("accepted", "rejected"):
            word = "acceptée" if review["decision"] == "accepted" else "refusée"
            return text(f"Preuve {word} par {text(review.get('by'), 200) or '?'} le {text(review.get('at'), 40)}"
                        + (f" : {readable(review.get('note'), 'fr', 500)}" if review.get("note") else ""), 800)
        why = readable(proof.get("manual_reason"), "fr", 500)
        return "Preuve à fournir par l'éditeur" + (f" : {why}" if why else "")
    errors = [f for f in findings if severity_of(f.get("severity")) == "error"]
    warnings = [f for f in findings if severity_of(f.get("severity")) == "warning"]
    parts: list[str] = []
    if errors:
        parts.append(f"{_count(len(errors), 'constat bloquant', 'constats bloquants')}, dont : "
                     f"{readable(errors[0].get('message'), 'fr', 300)}")
    if warnings:
        parts.append(_count(len(warnings), "avertissement", "avertissements"))
    reason = (proof or {}).get("reason") if proof is not None else None
    if verdict in ("error", "not_run") and (reason or req.get("reason")):
        parts.append(readable(reason or req.get("reason"), "fr", 500))
    return " ; ".join(parts)


def _evidence(proof: dict[str, Any] | None, findings: list[dict[str, Any]], by_path: dict[str, str]
              ) -> tuple[str, str]:
    """(paths, hashes) of the files this proof rests on, one per line, in the same order."""
    seen: dict[str, str] = {}
    for f in findings:
        ev = f.get("evidence")
        path = ev.get("path") if isinstance(ev, dict) else ev
        if isinstance(path, str) and path:
            seen.setdefault(path, text(f.get("evidence_sha256") or (ev.get("sha256") if isinstance(ev, dict)
                                                                     else "") or by_path.get(path, ""), 64))
    for att in as_list((proof or {}).get("attachments")):
        if isinstance(att, dict) and isinstance(att.get("path"), str):
            seen.setdefault(att["path"], text(att.get("sha256"), 64))
    items = list(seen.items())[:50]
    return "\n".join(text(p, 300) for p, _ in items), "\n".join(h for _, h in items)


def rows(results: dict[str, Any], lang: str = "fr") -> list[list[str]]:
    """The export rows (without header), in results order; ``Ordre`` numbers the requirements.

    ``lang`` is accepted for symmetry with the other formats and ignored: the sheet is always French."""
    from conformance.report.view import public_source

    del lang
    by_path = {e["path"]: text(e.get("sha256"), 64) for e in as_list(results.get("evidence"))
               if isinstance(e, dict) and isinstance(e.get("path"), str)}
    out: list[list[str]] = []
    for order, req in enumerate(requirements_of(results), start=1):
        verdict = verdict_of(req.get("verdict"))
        wave = text(req.get("wave"), 10)
        verified = text(req.get("verified"), 4)
        source, _ = public_source(text(req.get("source"), 4000))
        comment = "; ".join(p for p in (
            f"Source : {text(source, 300)}" if source else "",
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
        proofs = [(s, p) for s in as_list(req.get("scenarios")) if isinstance(s, dict)
                  for p in as_list(s.get("proofs")) if isinstance(p, dict)]
        for scenario, proof in proofs:
            points = "; ".join(text(v, 500) for v in as_list(proof.get("verification")))
            kind = text(proof.get("kind"), 200)  # the ANS's own word for the kind, as in its template
            pv = proof_verdict(proof, verdict)
            findings = _proof_findings(req, proof) if proof.get("method") != "manual" else []
            out.append(base + [text(scenario.get("id"), 200), text(scenario.get("title"), 1000),
                               text(proof.get("id"), 200), f"{kind} — {points}" if points else kind]
                       + tail + [_verdict_fr(pv, proof), _note(req, proof, pv, findings),
                                 *_evidence(proof, findings, by_path)])
        if not proofs:
            findings = _proof_findings(req, None)
            out.append(base + ["", "", "", ""] + tail + [t("verdict." + verdict, "fr"),
                                                         _note(req, None, verdict, findings),
                                                         *_evidence(None, findings, by_path)])
    return out


def _verdict_fr(verdict: str, proof: dict[str, Any]) -> str:
    review = proof.get("review") if isinstance(proof.get("review"), dict) else None
    if proof.get("method") == "manual" and review and review.get("decision") == "accepted":
        return "PREUVE MANUELLE ACCEPTÉE"
    if proof.get("method") == "manual" and review and review.get("decision") == "rejected":
        return "PREUVE MANUELLE REFUSÉE"
    return t("verdict." + verdict, "fr")


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
    widths = (10, 18, 14, 30, 60, 30, 18, 16, 30, 18, 40, 12, 10, 7, 22, 50, 40, 30)
    for i, width in enumerate(widths, start=1):
        ws.column_dimensions[ws.cell(row=1, column=i).column_letter].width = width
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = ws.dimensions
    buf = io.BytesIO()
    wb.save(buf)
    atomic_write(path, buf.getvalue())
    return path
