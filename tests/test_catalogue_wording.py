"""ANS wording carried into the catalogue (issue 18): the picker, the targeted rewrite, and the shipped data."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from openpyxl import Workbook

from conformance.catalogue_import import AnsText, carry_ans_wording, pick_ans_text, set_requirement_fields
from conformance.requirements import CatalogueError, load_catalogue

HEADER = ["PROJECT_NAME", "REQ_VERSION_REFERENCE", "REQ_VERSION_CATEGORY", "REQ_VERSION_STATUS",
          "REQ_VERSION_DESCRIPTION", "REQ_VERSION_LAST_MODIFIED_ON", "REQ_VERSION_CUF_NOTE_INTERNE"]

CATALOGUE = """\
# comment kept as is
section: MSS
requirements:
- id: SC.MSS/CONF.15
  title: Titre
  statement: Notre paraphrase
    sur deux lignes.
  nature: EXIGENCE
  criticite: MAJEURE
  wave: 2
  corridors: [MS1]
  verified: I
  source: rem.md §2.3
  scenarios:
  - id: SC.MSS/CONF.15.01
    title: S
    proofs:
    - {id: SC.MSS/CONF.15.01.01, kind: Log, verification: [], method: automated}
- id: DUI.MSS.12
  title: Libellé
  statement: "Notre paraphrase du libellé."   # trailing comment
  nature: EXIGENCE
  criticite: MAJEURE
  wave: 1
  corridors: [MS1]
  verified: Vd
  source: rem.md
  socle: SC.MSS/va1.16
  scenarios:
  - id: DUI.MSS.12.01
    title: S
    proofs:
    - {id: DUI.MSS.12.01.01, kind: Log, verification: [], method: automated}
- id: SC.MSS/UX.03
  title: Retirée
  statement: Notre paraphrase.
  nature: EXIGENCE
  criticite: MAJEURE
  wave: 2
  corridors: [MS1]
  verified: I
  source: rem.md
  scenarios:
  - id: SC.MSS/UX.03.01
    title: S
    proofs:
    - {id: SC.MSS/UX.03.01.01, kind: Log, verification: [], method: automated}
- id: DUI.MSS.99
  title: Absente
  statement: Seulement chez nous.
  nature: EXIGENCE
  criticite: MAJEURE
  wave: 1
  corridors: [MS1]
  verified: I
  source: rem.md
  scenarios:
  - id: DUI.MSS.99.01
    title: S
    proofs:
    - {id: DUI.MSS.99.01.01, kind: Log, verification: [], method: automated}
"""


def test_pick_prefers_socle_project_status_then_date() -> None:
    rows = [AnsText("SC.XX.01", "REM copy", "s", 2, project="REM_LGC", status="APPROVED", modified="2023-01-01"),
            AnsText("SC.XX.01", "draft", "s", 3, project="SC_X", status="UNDER_REVIEW", modified="2023-01-02"),
            AnsText("SC.XX.01", "approved", "s", 4, project="SC_X", status="APPROVED", modified="2022-01-01"),
            AnsText("SC.XX.01", "gone", "s", 5, project="SC_X", status="OBSOLETE", modified="2024-01-01")]
    picked = pick_ans_text("SC.XX.01", rows)
    assert isinstance(picked, AnsText) and picked.row == 4
    twins = [AnsText("SC.XX.01", "a", "s", 2, project="SC_X", status="APPROVED", modified="2023"),
             AnsText("SC.XX.01", "b", "s", 3, project="SC_X", status="APPROVED", modified="2023")]
    assert pick_ans_text("SC.XX.01", twins) == "2 textes différents (ligne 2, ligne 3)"


def test_targeted_rewrite_keeps_every_other_byte(tmp_path: Path) -> None:
    path = tmp_path / "mss.yaml"
    path.write_text(CATALOGUE, encoding="utf-8")
    assert set_requirement_fields(path, {"SC.MSS/CONF.15": {"statement": "Ligne 1\nLigne 2 : « ANS »",
                                                            "verified": "Vd"}}) == 1
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# comment kept as is\n")
    assert '  statement: "Notre paraphrase du libellé."   # trailing comment\n' in text
    assert "  statement: |-\n    Ligne 1\n    Ligne 2 : « ANS »\n  nature: EXIGENCE\n" in text
    data = yaml.safe_load(text)["requirements"]
    assert data[0]["verified"] == "Vd" and data[1] == yaml.safe_load(CATALOGUE)["requirements"][1]
    with pytest.raises(CatalogueError, match="verified: bad value"):
        set_requirement_fields(path, {"SC.MSS/CONF.15": {"verified": "X"}})
    assert path.read_text(encoding="utf-8") == text                   # a rejected rewrite leaves the file


def test_carry_ans_wording(tmp_path: Path) -> None:
    cat = tmp_path / "cat"
    cat.mkdir()
    (cat / "mss.yaml").write_text(CATALOGUE, encoding="utf-8")
    wb = Workbook()
    sheet = wb.active
    sheet.title = "db_REQUIREMENT"
    sheet.append(HEADER)
    sheet.append(["REM_LGC", "SC.MSS/CONF.15", "CRI", "APPROVED", "", "2023-01-16", ""])   # REM copy: no text
    sheet.append(["SC_MSS", "SC.MSS/CONF.15", "PRECO", "APPROVED", "<p>Le syst&egrave;me DOIT.</p>", "2023-01-16", ""])
    sheet.append(["SC_MSS", "SC.MSS/va1.16", "CRI", "UNDER_REVIEW", "<p>Libellé ANS.</p>", "2023-01-16",
                  "---[RETEX] Reprise vague 1 : PFI.MSS.13, DUI.MSS.12, LGC.MSS.15"])
    sheet.append(["SC_MSS", "SC.MSS/UX.03", "CRI", "OBSOLETE", "<p>Retirée par l'ANS.</p>", "2022-12-12", ""])
    wb.save(tmp_path / "ans.xlsx")

    summary = carry_ans_wording(cat, [(tmp_path / "ans.xlsx", "db_REQUIREMENT", "depot@abc, ans.xlsx")])
    assert summary["grades"] == {"SC.MSS/CONF.15": ("I", "Vd"), "DUI.MSS.12": ("Vd", "Vd"),
                                 "SC.MSS/UX.03": ("I", "I")}
    assert summary["obsolete"] == ["SC.MSS/UX.03"]
    assert summary["nature_differs"] == [("SC.MSS/CONF.15", "EXIGENCE", "PRECONISATION")]
    assert list(summary["kept"]) == ["DUI.MSS.99"]
    catalogue = load_catalogue(cat)
    req = catalogue["SC.MSS/CONF.15"]
    assert req.statement == "Le système DOIT." and req.verified == "Vd" and req.nature == "EXIGENCE"
    assert req.source == ("Texte ANS SC.MSS/CONF.15 : depot@abc, ans.xlsx, feuille 'db_REQUIREMENT', ligne 3 "
                          "(SC_MSS, statut APPROVED, modifiée le 2023-01-16) ; paraphrase précédente : rem.md §2.3")
    assert catalogue["DUI.MSS.12"].statement == "Libellé ANS."
    assert "reprise vague 1 de DUI.MSS.12 selon la note interne ANS" in catalogue["DUI.MSS.12"].source
    assert catalogue["SC.MSS/UX.03"].verified == "I" and "statut OBSOLETE" in catalogue["SC.MSS/UX.03"].source
    assert catalogue["DUI.MSS.99"].statement == "Seulement chez nous."
    again = (cat / "mss.yaml").read_text(encoding="utf-8")
    carry_ans_wording(cat, [(tmp_path / "ans.xlsx", "db_REQUIREMENT", "depot@abc, ans.xlsx")])
    assert (cat / "mss.yaml").read_text(encoding="utf-8") == again   # a re-run changes nothing


SOURCE = re.compile(r"Texte ANS \S+ : ansforge/segur-squash-plugins@[0-9a-f]{40}, macros/\S.*\.xlsx, "
                    r"feuille '[^']+', ligne \d+ \(.*statut [A-Z_]+.*\)")


def test_shipped_catalogue_names_the_ans_row_of_every_carried_text() -> None:
    carried = [r for r in load_catalogue() if r.source.startswith("Texte ANS ")]
    assert len(carried) >= 150                                    # 151 when issue 18 landed
    for req in carried:
        assert SOURCE.match(req.source), (req.id, req.source)
        assert "paraphrase précédente : " in req.source, req.id
        assert req.verified in ("Vd", "V") or "statut OBSOLETE" in req.source, req.id
        assert not re.search(r"</?(?:p|br|span|div|a|strong|li)\b", req.statement), req.id   # no markup left
