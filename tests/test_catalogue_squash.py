"""import-rem on ANS's Squash TM requirement exports (the layout of ansforge/segur-squash-plugins macros/).

Small workbooks are built here with openpyxl using the exact header rows of the public files
(create_rem_0901.xlsx for the import layout; export_full_lgc.xlsx for the full export with its
LINK_REQ_REQ and LINK_REQ_TC sheets); the real files are read from ../shared/ans-rem-exports when present.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook

from conformance.catalogue_import import (
    DEFAULT_MANUAL_REASON,
    SpreadsheetError,
    html_to_text,
    import_command,
    import_rem_spreadsheet,
    merge_into,
    read_rem_workbook,
    write_catalogue,
)
from conformance.cli import main
from conformance.requirements import load_catalogue

SHARED = Path(os.environ.get("SEGUR_SHARED") or Path(__file__).resolve().parents[2] / "shared")
EXPORTS = SHARED / "ans-rem-exports"
needs_exports = pytest.mark.skipif(not EXPORTS.is_dir(), reason=f"../shared absent ({EXPORTS}); set SEGUR_SHARED")

# Header row of macros/import_gsheet/create_rem_0901.xlsx and create_sc_0901.xlsx, sheet REQUIREMENT.
CREATE_HEADER = [
    "REQ_VERSION_REFERENCE", "REQ_VERSION_CUF_PROFIL", "REQ_VERSION_CUF_SECTION", "REQ_VERSION_CUF_BLOC",
    "REQ_VERSION_CUF_FONCTION", "REQ_VERSION_CATEGORY", "REQ_VERSION_STATUS", "ACTION",
    "REQ_VERSION_CUF_VERSION_IMPORT", "REQ_VERSION_CUF_NOTE_INTERNE", "REQ_VERSION_DESCRIPTION",
    "REQ_VERSION_CUF_COM_LAST_EVOL", "REQ_VERSION_CUF_OLD_DESCRIPTION", "REQ_VERSION_NAME", "REQ_PATH",
    "REQ_VERSION_CRITICALITY", "REQ_ID", "REQ_VERSION_MILESTONE", "REQ_VERSION_NUM"]
# Header rows of macros/update_status/export_full_lgc.xlsx (sheets REQUIREMENT, LINK_REQ_TC, LINK_REQ_REQ).
FULL_HEADER = [
    "PROJECT_ID", "PROJECT_NAME", "REQ_PATH", "REQ_NUM", "REQ_ID", "REQ_VERSION_NUM", "REQ_VERSION_ID",
    "REQ_VERSION_REFERENCE", "REQ_VERSION_NAME", "REQ_VERSION_CRITICALITY", "REQ_VERSION_CATEGORY",
    "REQ_VERSION_STATUS", "REQ_VERSION_DESCRIPTION", "REQ_VERSION_#_TC", "REQ_VERSION_#_ATTACHEMENT",
    "REQ_VERSION_CREATED_ON", "REQ_VERSION_CREATED_BY", "REQ_VERSION_LAST_MODIFIED_ON",
    "REQ_VERSION_LAST_MODIFIED_BY", "REQ_VERSION_MILESTONE", "REQ_VERSION_CUF_BLOC", "REQ_VERSION_CUF_FONCTION",
    "REQ_VERSION_CUF_PROFIL", "REQ_VERSION_CUF_SECTION", "REQ_VERSION_CUF_APPROB", "REQ_VERSION_CUF_NOTE_INTERNE",
    "REQ_VERSION_CUF_SEGUR_REM", "REQ_VERSION_CUF_COM_LAST_EVOL"]
LINK_TC_HEADER = ["REQ_PATH", "REQ_VERSION_NUM", "TC_PATH"]
LINK_REQ_HEADER = ["REQ_PATH", "REQ_VERSION_NUM", "RELATED_REQ_PATH", "RELATED_REQ_VERSION_NUM", "RELATED_REQ_ROLE"]


def create_row(**v: Any) -> list[Any]:
    values = {"REQ_VERSION_CUF_PROFIL": "Général", "REQ_VERSION_CATEGORY": "CRI", "REQ_VERSION_STATUS": "APPROVED",
              "ACTION": "C", "REQ_VERSION_CRITICALITY": "MAJOR", "REQ_VERSION_NUM": 1,
              "REQ_VERSION_CUF_NOTE_INTERNE": "<p>--[import gsheet 09/01/2023] note interne, jamais importée</p>"}
    values.update(v)
    return [values.get(h) for h in CREATE_HEADER]


def save(path: Path, sheets: dict[str, list[list[Any]]]) -> Path:
    wb = Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        sheet = wb.create_sheet(name)
        for values in rows:
            sheet.append(values)
    wb.save(path)
    return path


CREATE_ROWS = [
    create_row(REQ_VERSION_REFERENCE="SC.MSS/CONF.27",
               REQ_VERSION_CUF_SECTION="MSS/CONF_Conformité avec le référentiel #2 MSSanté v1.0",
               REQ_VERSION_CUF_BLOC="API LPS", REQ_VERSION_CUF_FONCTION="Sécurisation",
               REQ_VERSION_STATUS="UNDER_REVIEW", REQ_VERSION_NAME="Sécurisation - 001",
               REQ_VERSION_DESCRIPTION="<p>Le système DOIT accepter l'IGC Sant&eacute; gamme "
                                       "<strong>Elementaire</strong>&nbsp;Organisation.</p>"),
    create_row(REQ_VERSION_REFERENCE="LGC.DMP.01 ", REQ_VERSION_CUF_SECTION="DMP_DMP",
               REQ_VERSION_CUF_BLOC="Alimentation du DMP", REQ_VERSION_CUF_FONCTION="Modification et suppression",
               REQ_VERSION_DESCRIPTION="<p>Le système DOIT proposer :<br/>\n- la modification,<br/>- la "
                                       "suppression</p>\n<p>conformément au <a href=\"https://example.invalid\">"
                                       "guide DMP</a>.</p>"),
    create_row(REQ_VERSION_REFERENCE="DB.CO.94", REQ_VERSION_CUF_PROFIL="DRIMbox Proxy",
               REQ_VERSION_CUF_SECTION="DB/CO_Consommateur DRIMbox", REQ_VERSION_CATEGORY="PRECO",
               REQ_VERSION_CRITICALITY="MINOR", REQ_VERSION_STATUS="WORK_IN_PROGRESS",
               REQ_VERSION_NAME="Affichage - 002",
               REQ_VERSION_DESCRIPTION="Le système PEUT afficher <ul><li>la liste</li><li>le détail</li></ul>"),
    create_row(REQ_VERSION_REFERENCE="SC.VACC/ALI.01", REQ_VERSION_STATUS="OBSOLETE",
               REQ_VERSION_DESCRIPTION="<p>retirée</p>"),                                       # row 5
    create_row(REQ_VERSION_REFERENCE="ex.1", REQ_VERSION_DESCRIPTION="<p>bac à sable</p>"),     # row 6
    create_row(REQ_VERSION_REFERENCE="LGC.MSS.02", REQ_VERSION_DESCRIPTION="<p>\n</p>"),        # row 7
    create_row(REQ_VERSION_REFERENCE="LGC.DMP.01", REQ_VERSION_DESCRIPTION="<p>doublon</p>"),   # row 8
    create_row(REQ_VERSION_REFERENCE="LGC.DMP.03", REQ_VERSION_CATEGORY="OBLIG",
               REQ_VERSION_DESCRIPTION="<p>x</p>"),                                               # row 9
    create_row(REQ_VERSION_REFERENCE="LGC.DMP.04", REQ_VERSION_CRITICALITY="GRAVE",
               REQ_VERSION_DESCRIPTION="<p>x</p>"),                                               # row 10
    create_row(REQ_VERSION_REFERENCE="LGC.DMP.05", REQ_VERSION_STATUS="PUBLISHED",
               REQ_VERSION_DESCRIPTION="<p>x</p>"),                                               # row 11
    create_row(REQ_VERSION_REFERENCE="LGC.DMP.06", REQ_VERSION_CUF_SECTION="dmp minuscule_x",
               REQ_VERSION_DESCRIPTION="<p>x</p>"),                                               # row 12
]


# ---------------------------------------------------------------------------------------------
# HTML descriptions
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("html, text", [
    ("<p>Le syst&egrave;me DOIT&nbsp;tracer.</p>", "Le système DOIT tracer."),
    ("<p>a<br/>b</p><p>c</p>", "a\nb\nc"),
    ("<ul><li>un</li><li>deux</li></ul>", "- un\n- deux"),
    ("texte <b>sans</b> paragraphe", "texte sans paragraphe"),
    ("<p>voir <a href='https://x.invalid'>le guide</a></p><script>alert(1)</script>", "voir le guide"),
    ("Plain  text,\nno   markup", "Plain text,\nno markup"),
    ("a < b et b > c", "a < b et b > c"),
    ("<p>\n</p>", ""),
    (None, ""),
    (12, "12"),
])
def test_html_to_text(html: Any, text: str) -> None:
    assert html_to_text(html) == text


# ---------------------------------------------------------------------------------------------
# the import layout (create_rem_0901)
# ---------------------------------------------------------------------------------------------
def test_squash_import_layout(tmp_path: Path) -> None:
    path = save(tmp_path / "create.xlsx", {"REQUIREMENT": [CREATE_HEADER, *CREATE_ROWS]})
    result = read_rem_workbook(path, wave=2, corridors=["MS1"])
    assert result.layouts == {"REQUIREMENT": "Squash"}
    assert [e["id"] for e in result.entries] == ["SC.MSS/CONF.27", "LGC.DMP.01", "DB.CO.94"]
    mss, dmp, db = result.entries

    assert mss["section"] == "MSS" and mss["sub_section"] == "MSS/CONF" and mss["title"] == "Sécurisation"
    assert mss["statement"] == "Le système DOIT accepter l'IGC Santé gamme Elementaire Organisation."
    assert mss["nature"] == "EXIGENCE" and mss["criticite"] == "MAJEURE" and mss["conditional_profile"] == ""
    assert mss["verified"] == "Vd"                                       # UNDER_REVIEW: a draft
    assert mss["source"] == "Export Squash TM create.xlsx, feuille 'REQUIREMENT', ligne 2, statut UNDER_REVIEW"
    (scenario,) = mss["scenarios"]
    assert scenario["id"] == "SC.MSS/CONF.27.01" and scenario["proofs"][0]["method"] == "manual"
    assert scenario["proofs"][0]["manual_reason"] == DEFAULT_MANUAL_REASON

    assert dmp["section"] == "DMP" and "sub_section" not in dmp and dmp["verified"] == "V"   # APPROVED
    assert dmp["statement"] == ("Le système DOIT proposer :\n- la modification,\n- la suppression\n"
                                "conformément au guide DMP.")
    assert db["nature"] == "PRECONISATION" and db["criticite"] == "MINEURE"
    assert db["conditional_profile"] == "DRIMbox Proxy" and db["sub_section"] == "DB/CO"
    assert db["title"] == "Affichage"                                    # name without its Squash counter
    assert db["statement"] == "Le système PEUT afficher\n- la liste\n- le détail"

    got = [(sheet, row, msg) for sheet, row, msg in result.problems]
    assert {s for s, _, _ in got} == {"REQUIREMENT"}
    expected = [
        (5, "SC.VACC/ALI.01 : statut Squash OBSOLETE"),
        (6, "ex.1 : identifiant hors des schémas"),
        (7, "LGC.MSS.02 : REQ_VERSION_DESCRIPTION vide"),
        (8, "LGC.DMP.01 : référence en double (déjà lue ligne 3)"),
        (9, "LGC.DMP.03 : REQ_VERSION_CATEGORY inconnue 'OBLIG'"),
        (10, "LGC.DMP.04 : REQ_VERSION_CRITICALITY inconnue 'GRAVE'"),
        (11, "LGC.DMP.05 : statut Squash inconnu 'PUBLISHED'"),
        (12, "LGC.DMP.06 : section illisible"),
    ]
    assert len(got) == len(expected), got
    for (_, row, msg), (want_row, fragment) in zip(got, expected, strict=True):
        assert row == want_row and msg.startswith(fragment), (row, msg)
    assert result.lines()[0].startswith("create.xlsx[REQUIREMENT] ligne 5: SC.VACC/ALI.01")

    with pytest.raises(SpreadsheetError) as strict:                       # the strict form names them all
        import_rem_spreadsheet(path, wave=2, corridors=["MS1"])
    assert len(strict.value.errors) == len(expected)

    out = tmp_path / "cat" / "squash.yaml"
    assert write_catalogue(result.entries, out) == 3
    catalogue = load_catalogue(out.parent)
    assert catalogue["DB.CO.94"].conditional and catalogue["LGC.DMP.01"].manual_only


# ---------------------------------------------------------------------------------------------
# the full export (export_full_lgc): socle links and test cases
# ---------------------------------------------------------------------------------------------
REM = "/REM_LGC_Logiciels de Gestion de Cabinet [va2]/Profil Général/MSS - Échanges"
SOCLE = "/SC_MSS_Messagerie sécurisée [va2]/Profil Général/MSS\\/CONF - Conformité"


def full_row(path: str, ref: str, text: str, *, status: str = "APPROVED", section: str = "") -> list[Any]:
    values = {"PROJECT_ID": 74, "PROJECT_NAME": path.split("/")[1], "REQ_PATH": path, "REQ_VERSION_NUM": 1,
              "REQ_VERSION_REFERENCE": ref, "REQ_VERSION_NAME": path.rsplit("/", 1)[1],
              "REQ_VERSION_CRITICALITY": "CRITICAL", "REQ_VERSION_CATEGORY": "CRI", "REQ_VERSION_STATUS": status,
              "REQ_VERSION_DESCRIPTION": text, "REQ_VERSION_CUF_PROFIL": "Général",
              "REQ_VERSION_CUF_SECTION": section, "REQ_VERSION_LAST_MODIFIED_ON": "2022-10-24"}
    return [values.get(h) for h in FULL_HEADER]


def full_export(path: Path) -> Path:
    return save(path, {
        "REQUIREMENT": [
            FULL_HEADER,
            full_row(f"{REM}/Envoi - 001", "LGC.MSS.02", "<p>Le système DOIT envoyer.</p>"),
            full_row(f"{REM}/Envoi - 002", "LGC.MSS.03", "<p>Le système DOIT recevoir.</p>", status="OBSOLETE"),
            full_row(f"{SOCLE}/Envoi - 001", "SC.MSS/CONF.15", "<p>Socle : envoyer.</p>",
                     section="MSS/CONF_Conformité avec le référentiel #2"),
        ],
        "LINK_REQ_TC": [
            LINK_TC_HEADER,
            [f"{REM}/Envoi - 001", 1, "/REM_LGC [va2]/Scénarios/SCN_LGC/MSS.02.01 Envoi d'un CR"],
            [f"{REM}/Envoi - 001", 1, "/REM_LGC [va2]/Scénarios/SCN_LGC/MSS.02.02 Accusé"],
            [f"{REM}/Inconnue", 1, "/REM_LGC [va2]/Scénarios/orphelin"],
        ],
        "LINK_REQ_REQ": [
            LINK_REQ_HEADER,
            [f"{SOCLE}/Envoi - 001", 1, f"{REM}/Envoi - 001", 1, "SEGUR_PARENT"],
            [f"{SOCLE}/Envoi - 001", 1, f"{REM}/Envoi - 002", 1, "SEGUR_PARENT"],
            [f"{SOCLE}/Envoi - 001", 1, f"{REM}/Ailleurs", 1, "SEGUR_PARENT"],
            [f"{SOCLE}/Envoi - 001", 1, f"{REM}/Envoi - 001", 1, "RELATED"],
        ],
    })


def test_squash_full_export_links(tmp_path: Path) -> None:
    result = read_rem_workbook(full_export(tmp_path / "full.xlsx"), wave=2, corridors=["MS1", "MS2-PDS"])
    assert result.layouts == {"REQUIREMENT": "Squash"}
    by_id = {e["id"]: e for e in result.entries}
    assert list(by_id) == ["LGC.MSS.02", "SC.MSS/CONF.15"]
    lgc = by_id["LGC.MSS.02"]
    assert lgc["socle"] == "SC.MSS/CONF.15" and lgc["criticite"] == "CRITIQUE" and lgc["section"] == "MSS"
    assert [(s["id"], s["title"]) for s in lgc["scenarios"]] == [
        ("LGC.MSS.02.01", "MSS.02.01 Envoi d'un CR"), ("LGC.MSS.02.02", "MSS.02.02 Accusé")]
    assert lgc["scenarios"][0]["proofs"][0]["description"].startswith("Preuves du cas de test Squash /REM_LGC")
    assert "socle" not in by_id["SC.MSS/CONF.15"]
    assert [(s, r, m.split(" : ")[0]) for s, r, m in result.problems] == [
        ("REQUIREMENT", 3, "LGC.MSS.03"),
        ("LINK_REQ_REQ", 3, "lien SEGUR_PARENT ignoré"),          # its REM side was OBSOLETE
        ("LINK_REQ_REQ", 4, "lien SEGUR_PARENT ignoré"),          # path absent from REQUIREMENT
        ("LINK_REQ_REQ", 5, "lien de rôle 'RELATED' ignoré (seul SEGUR_PARENT relie une exigence à son socle)"),
        ("LINK_REQ_TC", 4, "cas de test ignoré"),
    ]
    assert "exigence absente de la feuille REQUIREMENT" in result.problems[2][2]


# ---------------------------------------------------------------------------------------------
# merging into our catalogue and the command
# ---------------------------------------------------------------------------------------------
OURS = {
    "id": "SC.MSS/CONF.15", "section": "MSS", "sub_section": "MSS/CONF", "title": "Notre titre",
    "statement": "Notre paraphrase.", "nature": "EXIGENCE", "criticite": "MAJEURE", "wave": 2,
    "corridors": ["MS1", "MS2-PDE"], "verified": "I", "source": "rem.md", "refs": ["ECO.1"],
    "scenarios": [{"id": "SC.MSS/CONF.15.01", "title": "Notre scénario", "proofs": [
        {"id": "SC.MSS/CONF.15.01.01", "kind": "Source SMTP", "verification": ["X-MSS-INS"],
         "method": "automated"}]}],
}


def test_squash_merge_keeps_our_scenarios(tmp_path: Path) -> None:
    result = read_rem_workbook(full_export(tmp_path / "full.xlsx"), wave=2, corridors=["MS1"])
    merged = merge_into([OURS], result.entries)
    mine = merged[0]
    assert mine["statement"] == "Socle : envoyer." and mine["verified"] == "V" and mine["criticite"] == "CRITIQUE"
    assert mine["scenarios"] == OURS["scenarios"]                   # the automated proof survives
    assert mine["corridors"] == ["MS1", "MS2-PDE"] and mine["refs"] == ["ECO.1"]
    assert write_catalogue(merged, tmp_path / "cat" / "mss.yaml") == 2
    assert not load_catalogue(tmp_path / "cat")["SC.MSS/CONF.15"].manual_only


def test_squash_import_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cat" / "lgc.yaml"
    assert import_command(full_export(tmp_path / "full.xlsx"), out, 2, ["MS1"]) == 0
    captured = capsys.readouterr()
    assert "full.xlsx (feuilles REQUIREMENT (Squash)) : 2 exigences importées" in captured.out
    assert "5 ligne(s) ignorée(s)" in captured.out
    assert captured.err.splitlines()[0] == ("full.xlsx[REQUIREMENT] ligne 3: LGC.MSS.03 : statut Squash OBSOLETE "
                                            "(exigence retirée par l'ANS)")
    assert "Importé de l'export Squash TM full.xlsx" in out.read_text(encoding="utf-8")

    only_bad = save(tmp_path / "bad.xlsx", {"REQUIREMENT": [CREATE_HEADER, CREATE_ROWS[4]]})
    before = out.read_text(encoding="utf-8")
    assert import_command(only_bad, out, 2, ["MS1"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("bad.xlsx[REQUIREMENT] ligne 2: ex.1 : identifiant hors des schémas")
    assert err[1].startswith("import-rem : échec, 0 exigence importée de bad.xlsx")
    assert out.read_text(encoding="utf-8") == before

    empty = Workbook()
    empty.active.title = "Feuil1"
    empty.save(tmp_path / "vide.xlsx")
    assert main(["import-rem", str(tmp_path / "vide.xlsx"), "--out", str(out), "--wave", "2"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "vide.xlsx: classeur vide : aucune cellule remplie ; feuilles lues : 'Feuil1'"


# ---------------------------------------------------------------------------------------------
# the four public ANS files
# ---------------------------------------------------------------------------------------------
@needs_exports
@pytest.mark.parametrize("name, code, imported, skipped", [
    ("create_rem_0901.xlsx", 0, 123, 7),
    ("create_sc_0901.xlsx", 0, 3, 3),
    ("export_full_lgc.xlsx", 2, 0, 20),
    ("export_REM_final.xlsx", 2, 0, 1),
])
def test_public_ans_exports(name: str, code: int, imported: int, skipped: int, tmp_path: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cat" / "ans.yaml"
    assert main(["import-rem", str(EXPORTS / name), "--out", str(out), "--wave", "2"]) == code
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    lines = captured.err.splitlines()
    reasons = [line for line in lines if not line.startswith("import-rem :")]
    assert len(reasons) == skipped
    assert all(line.startswith(f"{name}") and ": " in line for line in reasons)
    if imported:
        assert f": {imported} exigences importées" in captured.out
        assert len(load_catalogue(out.parent)) == imported
    else:
        assert not out.exists() and f"0 exigence importée de {name}" in lines[-1]


@needs_exports
def test_public_exports_content() -> None:
    sc = {e["id"]: e for e in read_rem_workbook(EXPORTS / "create_sc_0901.xlsx", wave=2, corridors=["MS1"]).entries}
    assert sorted(sc) == ["SC.MSS/CONF.27", "SC.MSS/CONF.28", "SC.ORDN/CONF.04"]
    assert sc["SC.MSS/CONF.27"]["statement"] == ("Le système DOIT accepter l'IGC Santé gamme Elementaire "
                                                 "Organisation utilisée par les API LPS des systèmes de messagerie "
                                                 "MSSanté.")
    assert sc["SC.ORDN/CONF.04"]["section"] == "ORDN" and sc["SC.ORDN/CONF.04"]["verified"] == "V"
    rem = read_rem_workbook(EXPORTS / "create_rem_0901.xlsx", wave=2, corridors=["MS1"])
    by_id = {e["id"]: e for e in rem.entries}
    assert by_id["SGL.CDA/DD.05"]["section"] == "CDA"          # reference with a trailing space, trimmed
    assert by_id["LGC.DMP.01"]["statement"].startswith("Le système DOIT proposer aux utilisateurs une interface")
    assert "<" not in "".join(e["statement"] for e in rem.entries)       # no markup left
    assert {e["conditional_profile"] for e in rem.entries} >= {"", "DRIMbox Proxy", "DRIMbox native"}
    assert by_id["SGL.DMP/va1.23"]["conditional_profile"] == ""            # « va1 Général » is the general profile
    assert {e["nature"] for e in rem.entries} == {"EXIGENCE", "PRECONISATION"}
    assert all("OBSOLETE" in m for _, _, m in rem.problems)
