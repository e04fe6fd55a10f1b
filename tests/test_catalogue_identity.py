"""Which catalogue a run judged against (version, origin, SHA-256 in results.json and the report header),
and `segur-conformance requirements --diff OTHER` (issue 18)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from conformance.cli import main
from conformance.report import synthetic as syn
from conformance.report.html import render_html
from conformance.report.merge import merge_results
from conformance.requirements import catalogue_metadata, diff_catalogues, load_catalogue, load_catalogue_file

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "docs" / "results.schema.json"


def req(rid: str, statement: str, *, source: str = "rem.md", nature: str = "EXIGENCE", title: str = "T",
        section: str = "MSS") -> dict:
    return {"id": rid, "section": section, "title": title, "statement": statement, "nature": nature,
            "criticite": "MAJEURE", "wave": 2, "corridors": ["MS1"], "verified": "Vd", "source": source,
            "scenarios": [{"id": f"{rid}.01", "title": "S", "proofs": [
                {"id": f"{rid}.01.01", "kind": "Log", "verification": [], "method": "automated"}]}]}


BASE = [req("SC.MSS/CONF.01", "Le système DOIT utiliser TLS 1.2.", source="Texte ANS SC.MSS/CONF.01 : dépôt"),
        req("SC.MSS/CONF.02", "Le système DOIT\nrester   tel quel."),
        req("SC.MSS/CONF.03", "Le système DOIT être retiré."),
        req("SC.MSS/CONF.04", "Le système DOIT changer de nature."),
        req("SC.PSC.08", "acr_values=eidas1", section="PSC", source="REM officiel rem.xlsx, feuille 'REM', ligne 3")]


def write(folder: Path, entries: list[dict], *, meta: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cat.yaml").write_text(yaml.safe_dump({"requirements": entries}, allow_unicode=True), encoding="utf-8")
    if meta is not None:
        (folder / "_catalogue.yaml").write_text(meta, encoding="utf-8")
    return folder


def test_catalogue_metadata(tmp_path: Path) -> None:
    folder = write(tmp_path / "cat", BASE, meta='version: "7.1"\norigin: >-\n  REM DUI\n  officiel\n')
    info = catalogue_metadata(folder)
    assert info["version"] == "7.1" and info["origin"] == "REM DUI officiel" and info["requirements"] == 5
    assert info["statements"] == {"ans_public": 1, "imported": 1, "paraphrase": 3}
    assert len(info["sha256"]) == 64 and info["location"] == str(folder)
    assert catalogue_metadata(folder) == info                               # stable for unchanged files
    (folder / "_catalogue.yaml").write_text('version: "7.2"\n', encoding="utf-8")
    changed = catalogue_metadata(folder)
    assert changed["version"] == "7.2" and changed["sha256"] != info["sha256"] and changed["origin"] == "non déclarée"
    (folder / "_catalogue.yaml").unlink()
    assert catalogue_metadata(folder)["version"] == "non déclarée"
    (folder / "cat.yaml").write_text("requirements: [{id: oops}]", encoding="utf-8")
    broken = catalogue_metadata(folder)                                      # never raises
    assert broken["sha256"] is None and broken["error"].startswith("CatalogueError")


def test_shipped_catalogue_declares_its_identity() -> None:
    info = catalogue_metadata()
    assert info["version"] != "non déclarée" and "ansforge/segur-squash-plugins@" in info["origin"]
    assert info["requirements"] == len(load_catalogue()) and sum(info["statements"].values()) == info["requirements"]


def test_report_header_and_schema_show_the_catalogue(tmp_path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema", reason="the jsonschema package is not installed")
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    validator = jsonschema.validators.validator_for(schema)(schema)
    meta = catalogue_metadata(write(tmp_path / "cat", BASE, meta='version: "7.1"\norigin: REM officiel\n'))
    entries = [syn.requirement("SC.MSS/CONF.01", "MSS", "passed")]
    results = syn.results(entries, catalogue=meta)
    validator.validate(results)
    html = render_html(results, "fr")
    assert f'<code class="hash" id="catalogue-sha256">{meta["sha256"]}</code>' in html
    assert "Version 7.1" in html and "Origine : REM officiel" in html
    assert "1 énoncés ANS publics, 1 importés d&#39;un REM, 3 paraphrases du banc" in html
    assert "Origin: REM officiel" in render_html(results, "en")
    older = render_html(syn.results(entries), "fr")                          # results written before issue 18
    assert "non enregistré dans ce fichier de résultats" in older
    bad = syn.results(entries, catalogue={**meta, "sha256": "pas un condensat"})
    assert list(validator.iter_errors(bad))

    other = syn.results(entries, catalogue={**meta, "sha256": "0" * 64})
    outcome = merge_results([results, other])
    assert outcome.results["run"]["catalogue"]["sha256"] == meta["sha256"]
    assert ("les campagnes fusionnées n'ont pas utilisé le même catalogue d'exigences",
            "the merged runs did not use the same requirement catalogue") in outcome.warnings


def test_diff_catalogues(tmp_path: Path) -> None:
    base = load_catalogue(write(tmp_path / "base", BASE))
    new = [dict(BASE[0]), req("SC.MSS/CONF.02", "Le système DOIT rester tel quel."),           # reflow only
           req("SC.MSS/CONF.04", "Le système DOIT changer de nature.", nature="PRECONISATION", title="T2"),
           req("SC.MSS/CONF.05", "Le système DOIT être ajouté."),
           req("SC.PSC.08", "acr_values=eidas1 (reformulé)", section="PSC")]
    other = load_catalogue(write(tmp_path / "new", new))
    diff = diff_catalogues(base, other)
    assert [e["id"] for e in diff["added"]] == ["SC.MSS/CONF.05"]
    assert [e["id"] for e in diff["removed"]] == ["SC.MSS/CONF.03"]
    assert [(e["id"], e["before"], e["after"]) for e in diff["reworded"]] == [
        ("SC.PSC.08", "acr_values=eidas1", "acr_values=eidas1 (reformulé)")]
    assert [(e["id"], e["fields"]) for e in diff["changed"]] == [
        ("SC.MSS/CONF.04", {"title": ["T", "T2"], "nature": ["EXIGENCE", "PRECONISATION"]})]
    assert diff_catalogues(base, base) == {"added": [], "removed": [], "reworded": [], "changed": []}


def test_requirements_diff_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SEGUR_CATALOGUE_DIR", str(write(tmp_path / "base", BASE, meta='version: "1"\n')))
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump({"requirements": [
        BASE[0], req("SC.MSS/CONF.02", "Le système DOIT désormais autre chose."),
        req("SC.MSS/CONF.09", "Nouvelle exigence ANS.")]}, allow_unicode=True), encoding="utf-8")
    assert main(["requirements", "--diff", str(other)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("# catalogue actuel : version 1, SHA-256 ")
    assert out[0].endswith("; sections comparées : MSS")              # the PSC requirement is not "removed"
    assert out[1].startswith("+ SC.MSS/CONF.09") and "[ajoutée, Vd]" in out[1]
    assert [line[:16] for line in out if line[:1] in "-~"] == [
        "- SC.MSS/CONF.03", "- SC.MSS/CONF.04", "~ SC.MSS/CONF.02"]
    assert "    avant : Le système DOIT rester tel quel." in out
    assert "    après : Le système DOIT désormais autre chose." in out
    assert out[-1] == "# 1 ajoutée(s), 2 retirée(s), 1 reformulée(s), 0 autre(s) changement(s)"

    assert main(["requirements", "--diff", str(other), "--format", "json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["base"]["version"] == "1" and [e["id"] for e in data["added"]] == ["SC.MSS/CONF.09"]

    assert main(["requirements", "--diff", str(tmp_path / "base")]) == 0    # a folder, identical
    assert capsys.readouterr().out.splitlines()[-1].startswith("# 0 ajoutée(s), 0 retirée(s)")
    assert main(["requirements", "--diff", str(tmp_path / "absent.yaml")]) == 2
    assert "absent.yaml introuvable" in capsys.readouterr().err
    (tmp_path / "bad.yaml").write_text("requirements: [{id: DUI.MSS.7}]", encoding="utf-8")
    assert main(["requirements", "--diff", str(tmp_path / "bad.yaml")]) == 2
    assert "malformed requirement id 'DUI.MSS.7'" in capsys.readouterr().err
    assert load_catalogue_file(other)                                         # the input is left as it was
