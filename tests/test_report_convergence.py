"""Convergence export: the 14 ANS columns plus our verdict, one row per requirement × scénario × preuve."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from openpyxl import load_workbook

from conformance.report import synthetic as syn
from conformance.report.convergence import COLUMNS, CONVERGENCE_COLUMNS, csv_text, rows, write_csv, write_xlsx

ANS_COLUMNS = ["Périmètre", "ID", "Chapitre", "Fonction", "Exigence", "Commentaire", "Profil", "N° scénario",
               "Scénario de conformité", "N° preuve", "Preuve", "Profil historique", "Criticité", "Ordre"]


def _results() -> dict:
    a = syn.requirement("DUI.MSS.07", "MSS", "failed", proofs=2, extra_manual_proof=True,
                        findings=[syn.finding("DUI.MSS.07", 1)])
    a["conditional_profile"] = "Si le système envoie des messages"
    b = syn.requirement("DUI.INS.01", "INS", "passed")
    c = syn.requirement("DUI.DOC.01", "DOC", "not_run")
    c["scenarios"] = []
    return syn.results([a, b, c])


def test_columns_are_the_ans_fourteen_then_ours() -> None:
    assert list(CONVERGENCE_COLUMNS) == ANS_COLUMNS
    assert len(COLUMNS) == 18 and COLUMNS[14].startswith("Verdict") and COLUMNS[16] == "Pièces (fichiers)"


def test_one_row_per_proof_and_one_for_a_requirement_without_scenario() -> None:
    out = rows(_results())
    assert [r[1] for r in out] == ["DUI.MSS.07"] * 3 + ["DUI.INS.01", "DUI.DOC.01"]
    first = dict(zip(COLUMNS, out[0], strict=True))
    assert first["Périmètre"] == "Vague 1" and first["Chapitre"] == "MSS/CONF"
    assert first["Profil"] == "Si le système envoie des messages" and first["Criticité"] == "Majeure"
    assert first["N° scénario"] == "DUI.MSS.07.01" and first["N° preuve"] == "DUI.MSS.07.01.01"
    assert first["Preuve"] == "Log — point 1a; point 1b" and first["Ordre"] == "1"
    assert first["Verdict (pré-contrôle segur-conformance)"] == "NON CONFORME"
    assert first["Observations segur-conformance"].startswith("1 constat bloquant, dont :")
    manual = dict(zip(COLUMNS, out[2], strict=True))
    assert manual["Verdict (pré-contrôle segur-conformance)"] == "PREUVE MANUELLE REQUISE"
    assert manual["Observations segur-conformance"].startswith("Preuve à fournir par l'éditeur")
    passed = dict(zip(COLUMNS, out[3], strict=True))
    assert passed["Profil"] == "Général" and passed["Ordre"] == "2"
    empty = dict(zip(COLUMNS, out[4], strict=True))
    assert empty["N° scénario"] == "" and empty["Verdict (pré-contrôle segur-conformance)"] == "NON TESTÉ"


def test_csv_is_excel_friendly_and_round_trips(tmp_path: Path) -> None:
    path = write_csv(_results(), tmp_path / "convergence.csv")
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    parsed = list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    assert parsed[0] == list(COLUMNS)
    assert len(parsed) == 1 + 5 and all(len(r) == 18 for r in parsed)


def test_formula_injection_is_neutralised(tmp_path: Path) -> None:
    res = _results()
    res["requirements"][1]["title"] = "=HYPERLINK(\"http://evil.example\",\"clic\")"
    parsed = list(csv.reader(io.StringIO(csv_text(res).lstrip("\ufeff")), delimiter=";"))
    assert parsed[4][3] == "'=HYPERLINK(\"http://evil.example\",\"clic\")"
    path = write_xlsx(res, tmp_path / "c.xlsx")
    ws = load_workbook(path)["Convergence"]
    cell = ws.cell(row=5, column=4)
    assert cell.value.startswith("=HYPERLINK") and cell.data_type == "s"


def test_xlsx_has_header_and_rows(tmp_path: Path) -> None:
    path = write_xlsx(_results(), tmp_path / "convergence.xlsx")
    ws = load_workbook(path)["Convergence"]
    values = list(ws.values)
    assert list(values[0]) == list(COLUMNS)
    assert len(values) == 6 and values[1][1] == "DUI.MSS.07" and values[1][13] == 1
    assert ws.freeze_panes == "A2"


def test_per_proof_evidence_columns_french_verdicts_and_no_internal_notes() -> None:
    res = _results()
    req = res["requirements"][0]
    req["source"] = "REM DUI v1.2 §4.1 ; rem.md §2 (paraphrase du banc)"
    req["findings"][0] |= {"evidence": "evidence/t/mss-D1.eml", "evidence_sha256": "a" * 64,
                           "proofs": [req["scenarios"][0]["proofs"][0]["id"]]}
    for lang in ("fr", "en"):
        out = [dict(zip(COLUMNS, r, strict=True)) for r in rows(res, lang)]
        first, second = out[0], out[1]
        assert first["Verdict (pré-contrôle segur-conformance)"] == "NON CONFORME"  # French under French headers
        assert first["Pièces (fichiers)"] == "evidence/t/mss-D1.eml"
        assert first["Empreintes SHA-256 des pièces"] == "a" * 64
        assert second["Pièces (fichiers)"] == ""  # the finding belongs to the first proof only
        assert "rem.md" not in first["Commentaire"] and "REM DUI v1.2" in first["Commentaire"]
