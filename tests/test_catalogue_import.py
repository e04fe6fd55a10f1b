"""The official-REM importer, on workbooks built here with openpyxl (the ANS layout of rem.md §4.3)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from openpyxl import Workbook

from conformance.catalogue_import import (
    DEFAULT_MANUAL_REASON,
    SpreadsheetError,
    guess_kind,
    import_command,
    import_rem_spreadsheet,
    merge_into,
    normalise_header,
    read_entries,
    write_catalogue,
)
from conformance.requirements import load_catalogue

# Deliberately messy header spellings: case, accents, typographic apostrophe, extra spaces.
HEADER = ["Exigence conditionnelle", "PROFIL", "ID Section", "Section", "Bloc", "Fonction",
          "Nature de l’exigence", "N° Exigence", "ÉNONCÉ", "N°  scénario", "Scénario de conformité",
          "N° preuve 1", "Preuve 1", "N° preuve 2", "Preuve 2", "Criticité", "Points de vérification"]


def row(**values: Any) -> list[Any]:
    keys = ["cond", "profil", "id_section", "section", "bloc", "fonction", "nature", "rid", "enonce",
            "sid", "scen", "p1id", "p1", "p2id", "p2", "crit", "points"]
    return [values.get(k) for k in keys]


GOOD_ROWS = [
    row(cond="NON", profil="Général", id_section="MSS/CONF", section="MSS_Messagerie", bloc="Envoi",
        fonction="Message-ID", nature="EXIGENCE", rid="DUI.MSS.07",
        enonce="Le système DOIT générer un Message-ID unique pour chaque nouveau message.",
        sid="DUI.MSS.07.01", scen="Envoyer un message", p1id="DUI.MSS.07.01.01",
        p1="Source SMTP du message envoyé", p2="Log de l'envoi", crit="Majeure",
        points="- un en-tête Message-ID\n- unique"),
    # continuation row: the id is left blank (merged cells in the ANS export)
    row(sid="DUI.MSS.07.02", scen="Démontrer l'envoi", p1id="DUI.MSS.07.02.01",
        p1="Vidéo de démonstration de l'envoi"),
    row(cond="OUI", profil="Profil Environnement de ville", section="INS_Identité", nature="Préconisation",
        rid="SC.INS/va1.53", enonce="Si l'identité n'est pas qualifiée, le système PEUT …", sid="SC.INS/va1.53.01",
        scen="Transmission", p1id="SC.INS/va1.53.01.01", p1="Rapport de validation Gazelle", crit="Critique"),
    # one requirement over two rows that both repeat the id; no ID Section nor Section: from the id
    row(nature="DOIT", rid="DMP/ALI/PROG.01", enonce="Le système DOIT envoyer en tâche de fond.",
        sid="DMP/ALI/PROG.01.01", scen="Envoi asynchrone", p1="Message SOAP (VIHF) de l'envoi"),
    row(nature="DOIT", rid="DMP/ALI/PROG.01", enonce="Le système DOIT envoyer en tâche de fond.",
        sid="DMP/ALI/PROG.01.02", scen="Reprise", p1id="DMP/ALI/PROG.01.02.01", p1="Journal des reprises"),
]


def workbook(path: Path, rows: list[list[Any]], *, header: list[str] = HEADER, title_rows: int = 2,
             extra_sheet: bool = True) -> Path:
    wb = Workbook()
    if extra_sheet:   # a cover sheet without any REM header is ignored
        wb.active.title = "Couverture"
        wb.active.append(["REM DUI MS1", "version 1.0"])
        sheet = wb.create_sheet("REM")
    else:
        sheet = wb.active
        sheet.title = "REM"
    for _ in range(title_rows):
        sheet.append(["Référentiel d'exigences et de mise en conformité"])
    sheet.append(header)
    for values in rows:
        sheet.append(values)
    wb.save(path)
    return path


def errors_of(path: Path, **kw: Any) -> list[tuple[str, int, str]]:
    with pytest.raises(SpreadsheetError) as info:
        import_rem_spreadsheet(path, wave=kw.pop("wave", 1), corridors=kw.pop("corridors", ["MS1"]), **kw)
    assert isinstance(info.value, ValueError)
    return info.value.errors


HEADER_ROW = 3          # two title rows, then the header
FIRST_DATA = HEADER_ROW + 1


# ---------------------------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------------------------
def test_normalise_header() -> None:
    assert normalise_header("N°  Preuve 1") == "n preuve 1"
    assert normalise_header("Nature de l’exigence") == "nature de l exigence"
    assert normalise_header(" ÉNONCÉ ") == "enonce"


@pytest.mark.parametrize("text, kind", [
    ("Source SMTP du MDN", "Source SMTP"), ("Message SOAP contenant le VIHF", "Message SOAP (VIHF)"),
    ("Lien permanent vers le rapport Gazelle", "Rapport de validation"), ("Log de la requête", "Log"),
    ("Engagement signé", "Attestation"), ("Vidéo plein écran", "Démonstration"),
    ("Catalogue des produits", "Démonstration"),
])
def test_guess_kind(text: str, kind: str) -> None:
    assert guess_kind(text) == kind


def test_import_good_workbook(tmp_path: Path) -> None:
    entries = import_rem_spreadsheet(workbook(tmp_path / "rem.xlsx", GOOD_ROWS), wave=1, corridors=["MS1"])
    assert [e["id"] for e in entries] == ["DUI.MSS.07", "SC.INS/va1.53", "DMP/ALI/PROG.01"]
    mss, ins, dmp = entries

    assert mss["section"] == "MSS" and mss["sub_section"] == "MSS/CONF"
    assert mss["title"] == "Message-ID" and mss["nature"] == "EXIGENCE" and mss["criticite"] == "MAJEURE"
    assert mss["conditional_profile"] == "" and mss["verified"] == "V" and mss["wave"] == 1
    assert mss["corridors"] == ["MS1"]
    assert mss["source"] == f"REM officiel rem.xlsx, feuille 'REM', ligne {FIRST_DATA}"
    assert [s["id"] for s in mss["scenarios"]] == ["DUI.MSS.07.01", "DUI.MSS.07.02"]
    p1, p2 = mss["scenarios"][0]["proofs"]
    assert p1 == {"id": "DUI.MSS.07.01.01", "kind": "Source SMTP", "description": "Source SMTP du message envoyé",
                  "verification": ["un en-tête Message-ID", "unique"], "method": "manual",
                  "manual_reason": DEFAULT_MANUAL_REASON}
    assert p2["id"] == "DUI.MSS.07.01.02" and p2["kind"] == "Log"          # id generated from the column

    assert ins["section"] == "INS" and "sub_section" not in ins
    assert ins["nature"] == "PRECONISATION" and ins["criticite"] == "CRITIQUE"
    assert ins["conditional_profile"] == "Profil Environnement de ville"
    assert ins["scenarios"][0]["proofs"][0]["kind"] == "Rapport de validation"

    assert dmp["section"] == "DMP" and dmp["criticite"] == "MAJEURE"         # default when absent
    assert dmp["title"].startswith("Le système DOIT envoyer")
    assert [s["id"] for s in dmp["scenarios"]] == ["DMP/ALI/PROG.01.01", "DMP/ALI/PROG.01.02"]
    assert dmp["scenarios"][0]["proofs"][0]["id"] == "DMP/ALI/PROG.01.01.01"


def test_header_on_first_row_and_single_sheet(tmp_path: Path) -> None:
    path = workbook(tmp_path / "rem.xlsx", GOOD_ROWS, title_rows=0, extra_sheet=False)
    entries = import_rem_spreadsheet(path, wave=2, corridors=["MS2-PDE", "MS2-PDS"], sheet="REM")
    assert len(entries) == 3 and entries[0]["wave"] == 2 and entries[0]["corridors"] == ["MS2-PDE", "MS2-PDS"]


# ---------------------------------------------------------------------------------------------
# errors: each bad row named by sheet and row, all at once
# ---------------------------------------------------------------------------------------------
def test_bad_rows_reported_with_sheet_and_row(tmp_path: Path) -> None:
    rows = [
        row(sid="DUI.MSS.01.01", scen="orphan", p1="Log"),                                  # +0
        row(nature="Obligation", rid="DUI.MSS.01", enonce="x", sid="DUI.MSS.01.01", scen="s", p1="Log"),  # +1
        row(nature="EXIGENCE", rid="DUI-MSS-02", enonce="x", sid="x", scen="s", p1="Log"),  # +2
        row(nature="EXIGENCE", rid="DUI.MSS.03", enonce="x", sid="DUI.MSS.04.01", scen="s", p1="Log"),  # +3
        row(nature="EXIGENCE", rid="DUI.MSS.05", enonce="x", sid="DUI.MSS.05.01", scen="s",
            p1id="DUI.MSS.05.02.01", p1="Log"),                                               # +4
        row(cond="PEUT-ÊTRE", nature="EXIGENCE", rid="DUI.MSS.06", enonce="x", sid="DUI.MSS.06.01",
            scen="s", p1="Log"),                                                              # +5
        row(nature="EXIGENCE", rid="DUI.MSS.08", enonce="", sid="DUI.MSS.08.01", scen="s", p1="Log"),  # +6
        row(nature="EXIGENCE", rid="DUI.MSS.09", enonce="x", sid="DUI.MSS.09.01", scen="s", p1="Log",
            crit="Grave"),                                                                    # +7
        row(nature="EXIGENCE", rid="DUI.MSS.10", enonce="x", sid="DUI.MSS.10.01", scen="s"),  # +8
        row(nature="EXIGENCE", rid="DUI.MSS.10", enonce="x", sid="DUI.MSS.10.01", scen="s", p1="Log"),  # +9
        row(nature="EXIGENCE", rid="DUI.MSS.11", enonce="x", sid="DUI.MSS.11.01", scen="s", p1="Log"),  # +10
        row(sid="DUI.MSS.11.01", scen="again", p1="Log"),                                     # +11
        row(nature="?", rid="DUI.MSS.12", enonce="x", sid="DUI.MSS.12.01", scen="s", p1="Log"),  # +12
        row(sid="DUI.MSS.12.02", scen="continuation of a rejected row: ignored", p1="Log"),   # +13
    ]
    errors = errors_of(workbook(tmp_path / "rem.xlsx", rows))
    assert {e[0] for e in errors} == {"REM"}
    got = [(r - FIRST_DATA, msg) for _, r, msg in errors]
    expected = [
        (0, "ligne sans « N° exigence »"),
        (1, "nature de l'exigence inconnue 'Obligation'"),
        (2, "identifiant d'exigence mal formé : 'DUI-MSS-02'"),
        (3, "N° scénario 'DUI.MSS.04.01' ne prolonge pas"),
        (4, "N° preuve 1 'DUI.MSS.05.02.01' ne prolonge pas"),
        (5, "« Exigence conditionnelle » doit valoir OUI ou NON"),
        (6, "DUI.MSS.08 : énoncé vide"),
        (7, "criticité inconnue 'Grave'"),
        (8, "DUI.MSS.10.01 : aucune preuve"),
        (11, "scénario DUI.MSS.11.01 en double"),
        (12, "nature de l'exigence inconnue '?'"),
    ]
    assert len(got) == len(expected), got
    for (offset, msg), (want_offset, fragment) in zip(got, expected, strict=True):
        assert offset == want_offset and fragment in msg, (offset, msg)
    text = str(SpreadsheetError("rem.xlsx", errors))
    assert f"rem.xlsx[REM] ligne {FIRST_DATA + 1}: " in text


def test_missing_required_columns(tmp_path: Path) -> None:
    header = [h for h in HEADER if h not in ("Nature de l’exigence", "Scénario de conformité")]
    (sheet, line, msg), = errors_of(workbook(tmp_path / "rem.xlsx", [], header=header))
    assert (sheet, line) == ("REM", HEADER_ROW)
    assert "'nature de l exigence'" in msg and "'scenario de conformite'" in msg


def test_no_header_and_unreadable_file(tmp_path: Path) -> None:
    wb = Workbook()
    wb.active.append(["rien", "à", "voir"])
    wb.save(tmp_path / "empty.xlsx")
    (_, _, msg), = errors_of(tmp_path / "empty.xlsx")
    assert "aucune ligne d'en-tête REM" in msg
    (tmp_path / "fake.xlsx").write_text("pas un classeur", encoding="utf-8")
    (_, _, msg), = errors_of(tmp_path / "fake.xlsx")
    assert msg.startswith("classeur illisible")
    (_, _, msg), = errors_of(workbook(tmp_path / "rem.xlsx", GOOD_ROWS), sheet="Absente")
    assert "feuille absente" in msg and "REM" in msg


def test_bad_parameters(tmp_path: Path) -> None:
    path = workbook(tmp_path / "rem.xlsx", GOOD_ROWS)
    errors = errors_of(path, wave=3, corridors=["MS1", "MS3"])
    assert [m for _, _, m in errors] == ["vague 3 invalide (1 ou 2)",
                                         "couloirs invalides ['MS3'] (connus : MS1, MS2-PDE, MS2-PDS)"]


# ---------------------------------------------------------------------------------------------
# writing and merging
# ---------------------------------------------------------------------------------------------
def test_write_catalogue_is_loadable(tmp_path: Path) -> None:
    entries = import_rem_spreadsheet(workbook(tmp_path / "rem.xlsx", GOOD_ROWS), wave=1, corridors=["MS1"])
    out = tmp_path / "cat" / "mss.yaml"
    assert write_catalogue(entries, out, header="Import de test") == 3
    assert out.read_text(encoding="utf-8").startswith("# Import de test\n")
    catalogue = load_catalogue(out.parent)
    req = catalogue["DUI.MSS.07"]
    assert req.verified == "V" and req.manual_only and req.sub_section == "MSS/CONF"
    proof = req.scenarios[0].proofs[0]
    assert proof.description == "Source SMTP du message envoyé" and proof.manual_reason == DEFAULT_MANUAL_REASON
    assert catalogue["SC.INS/va1.53"].conditional
    assert read_entries(out)[0]["id"] == "DUI.MSS.07"


def test_write_catalogue_refuses_invalid_entries(tmp_path: Path) -> None:
    from conformance.requirements import CatalogueError

    entries = import_rem_spreadsheet(workbook(tmp_path / "rem.xlsx", GOOD_ROWS), wave=1, corridors=["MS1"])
    entries[0]["criticite"] = "ENORME"
    out = tmp_path / "mss.yaml"
    out.write_text("previous", encoding="utf-8")
    with pytest.raises(CatalogueError, match="criticite: bad value 'ENORME'"):
        write_catalogue(entries, out)
    assert out.read_text(encoding="utf-8") == "previous"          # the old file is untouched
    assert not list(tmp_path.glob(".*.tmp"))


OURS = [{
    "id": "DUI.MSS.07", "section": "MSS", "title": "Notre titre", "statement": "Notre paraphrase.",
    "nature": "PRECONISATION", "criticite": "MINEURE", "wave": 1, "corridors": ["MS1", "MS2-PDE"],
    "verified": "Vd", "source": "rem.md §2.3", "socle": "SC.MSS/CONF.15", "refs": ["ECO.2.1.1"],
    "scenarios": [{"id": "DUI.MSS.07.01", "title": "Notre scénario", "proofs": [
        {"id": "DUI.MSS.07.01.01", "kind": "Source SMTP", "verification": ["Message-ID présent"],
         "method": "automated"},
        {"id": "DUI.MSS.07.01.02", "kind": "Log", "verification": [], "method": "manual",
         "manual_reason": "Journal applicatif à fournir"},
    ]}],
}, {
    "id": "DUI.MSS.99", "section": "MSS", "title": "Seulement chez nous", "statement": "Le système DOIT.",
    "nature": "EXIGENCE", "criticite": "MAJEURE", "wave": 1, "corridors": ["MS1"], "verified": "I",
    "source": "test", "scenarios": [{"id": "DUI.MSS.99.01", "title": "S", "proofs": [
        {"id": "DUI.MSS.99.01.01", "kind": "Log", "verification": [], "method": "automated"}]}],
}]


def test_merge_keeps_our_methods_and_takes_official_texts(tmp_path: Path) -> None:
    imported = import_rem_spreadsheet(workbook(tmp_path / "rem.xlsx", GOOD_ROWS), wave=1, corridors=["MS1"])
    merged = merge_into(OURS, imported)
    assert [e["id"] for e in merged] == ["DUI.MSS.07", "DUI.MSS.99", "SC.INS/va1.53", "DMP/ALI/PROG.01"]
    mss = merged[0]
    assert mss["statement"].startswith("Le système DOIT générer") and mss["title"] == "Message-ID"
    assert mss["nature"] == "EXIGENCE" and mss["criticite"] == "MAJEURE" and mss["verified"] == "V"
    assert mss["corridors"] == ["MS1", "MS2-PDE"] and mss["refs"] == ["ECO.2.1.1"]
    assert mss["socle"] == "SC.MSS/CONF.15"
    auto, log = mss["scenarios"][0]["proofs"]
    assert auto["method"] == "automated" and "manual_reason" not in auto and auto["kind"] == "Source SMTP"
    assert auto["verification"] == ["un en-tête Message-ID", "unique"]            # the REM's points win
    assert log["method"] == "manual" and log["manual_reason"] == "Journal applicatif à fournir"
    new_proof = mss["scenarios"][1]["proofs"][0]                                     # not in ours
    assert new_proof["method"] == "manual" and new_proof["manual_reason"] == DEFAULT_MANUAL_REASON
    assert merged[1] == {**OURS[1]}                                                  # untouched
    assert OURS[0]["statement"] == "Notre paraphrase."                               # inputs not mutated

    out = tmp_path / "cat" / "mss.yaml"
    assert write_catalogue(merged, out) == 4
    catalogue = load_catalogue(out.parent)
    assert not catalogue["DUI.MSS.07"].manual_only and catalogue["DUI.MSS.99"].verified == "I"


def test_merge_accepts_loaded_requirements(tmp_path: Path) -> None:
    write_catalogue(OURS, tmp_path / "cat" / "mss.yaml")
    loaded = [r.to_dict() for r in load_catalogue(tmp_path / "cat")]       # extra keys are dropped
    imported = import_rem_spreadsheet(workbook(tmp_path / "rem.xlsx", GOOD_ROWS), wave=1, corridors=["MS1"])
    assert write_catalogue(merge_into(loaded, imported), tmp_path / "out" / "mss.yaml") == 4


def test_import_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    xlsx = workbook(tmp_path / "rem.xlsx", GOOD_ROWS)
    out = tmp_path / "cat" / "mss.yaml"
    out.parent.mkdir()
    out.write_text(yaml.safe_dump({"section": "MSS", "requirements": [
        {k: v for k, v in OURS[0].items() if k != "section"}]}, allow_unicode=True), encoding="utf-8")
    assert import_command(xlsx, out, 1, ["MS1"]) == 0
    assert "3 exigences importées (1 fusionnées avec l'existant), 3 exigences écrites" in capsys.readouterr().out
    catalogue = load_catalogue(out.parent)
    assert catalogue["DUI.MSS.07"].scenarios[0].proofs[0].method == "automated"
    assert "Importé du REM officiel rem.xlsx" in out.read_text(encoding="utf-8")

    bad = workbook(tmp_path / "bad.xlsx", [row(nature="?", rid="DUI.MSS.01", enonce="x", sid="DUI.MSS.01.01",
                                                scen="s", p1="Log")])
    before = out.read_text(encoding="utf-8")
    assert import_command(bad, out, 1, ["MS1"]) == 2
    err = capsys.readouterr().err
    assert "import-rem : échec" in err and f"bad.xlsx[REM] ligne {FIRST_DATA}" in err
    assert out.read_text(encoding="utf-8") == before
