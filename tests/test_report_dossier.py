"""Issue 13: what an auditor must cite (run id, local dates, catalogue reliability, public sources, key holder)
and tamper-evidence wording that holds (no "vérifiée" written at generation time)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lxml import html as lxml_html

from conformance.report import synthetic as syn
from conformance.report.bundle import write_all
from conformance.report.html import page_css, paris_time, render_html
from conformance.report.view import public_source


def test_dates_are_written_in_paris_time_for_a_reader() -> None:
    assert paris_time("2026-12-04T19:35:07+00:00", "fr") == "4 décembre 2026, 20 h 35 (heure de Paris)"
    assert paris_time("2026-07-14T08:05:00+00:00", "en") == "14 July 2026, 10:05 (Paris time)"  # summer time
    assert paris_time("not a date", "fr") == "not a date" and paris_time(None, "fr") == "—"


def test_internal_notes_are_not_cited_as_sources() -> None:
    shown, internal = public_source("Texte ANS SC.INS/va1.01 : ansforge/x@abc, ligne 2 ; paraphrase précédente : "
                                    "rem.md §2.1 ; protocols.md §3")
    assert shown == "Texte ANS SC.INS/va1.01 : ansforge/x@abc, ligne 2" and internal
    assert public_source("rem.md §2.1 et §2.4 (vague 2) ; protocols.md §3.3") == ("", True)
    assert public_source("DMP guide d'intégration v2.7 §4") == ("DMP guide d'intégration v2.7 §4", False)


def _report(results: dict, lang: str = "fr") -> lxml_html.HtmlElement:
    return lxml_html.fromstring(render_html(results, lang))


def test_header_cites_run_id_grades_and_paraphrase_warning() -> None:
    entries = [syn.requirement("DUI.MSS.01", "MSS", "passed"), syn.requirement("DUI.MSS.02", "MSS", "passed")]
    entries[0]["verified"], entries[1]["verified"] = "Vd", "I"
    entries[1]["source"] = "rem.md §2.1"
    res = syn.results(entries, started_at="2026-12-04T19:35:07+00:00")
    res["run"]["run_id"] = "5d6f1c2a-0000-4000-8000-000000000001"
    res["run"]["catalogue"] = {"version": "2026.12.1", "requirements": 2,
                               "statements": {"ans_public": 1, "imported": 0, "paraphrase": 1}}
    doc = _report(res)
    assert doc.get_element_by_id("run-id").text == "5d6f1c2a-0000-4000-8000-000000000001"
    banner = " ".join(doc.get_element_by_id("paraphrase-banner").itertext())
    assert "non officiels" in banner and "0 V " in banner and "1 Vd" in banner and "1 I " in banner
    assert "20 h 35 (heure de Paris)" in " ".join(doc.itertext())
    sources = [" ".join(dd.itertext()) for dd in doc.xpath('//dt[text()="Source"]/following-sibling::dd[1]')]
    assert any("aucune source ANS publique" in s for s in sources) and not any("rem.md" in s for s in sources)
    # once the official REM is imported for every requirement, no banner
    res["run"]["catalogue"]["statements"] = {"imported": 2}
    assert not _report(res).xpath("//*[@id='paraphrase-banner']")


def test_footer_rule_keeps_only_safe_characters() -> None:
    css = page_css('x";}body{display:none}', "ab" * 40, "fr")
    assert "body{" not in css and '";}' not in css  # the value stays inside its CSS string
    assert css.startswith("@page{size:A4") and 'counter(page) " / " counter(pages)' in css


def test_key_holder_is_printed_and_signed_and_no_digest_is_called_verified(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEGUR_SIGNER", "Éditeur Exemple — qualité")
    data = b"<ClinicalDocument/>"
    import hashlib

    entry = syn.requirement("DUI.DOC.01", "DOC", "failed",
                            findings=[syn.finding("DUI.DOC.01", 1, evidence="evidence/t/doc.xml",
                                                  sha=hashlib.sha256(data).hexdigest())])
    res = syn.results([entry], evidence=[{"path": "evidence/t/doc.xml", "sha256": hashlib.sha256(data).hexdigest(),
                                          "size": len(data), "kind": "Document CDA", "test": "t::a"}])
    folder = tmp_path / "b"
    (folder / "evidence" / "t").mkdir(parents=True)
    (folder / "evidence" / "t" / "doc.xml").write_bytes(data)
    write_all(res, folder, "fr", tmp_path / "key.pem")
    page = (folder / "report.html").read_text(encoding="utf-8")
    assert "Éditeur Exemple — qualité" in page
    assert "vérifiée" not in page and "segur-conformance verify" in page
    assert "par un autre canal" in page
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["signer"] == "Éditeur Exemple — qualité"


def test_manual_annex_names_kind_points_expected_file_and_state() -> None:
    from conformance.report.html import render_html

    manual = syn.requirement("SC.INS/va1.58", "INS", "manual", manual_only=True)
    for scenario in manual["scenarios"]:
        for proof in scenario["proofs"]:
            proof["kind"] = "Démonstration"
    html = render_html(syn.results([manual]), "fr")
    start = html.index('id="todo"')
    annex = html[start:html.index("</section>", start)]
    assert "<th>Fichier attendu</th>" in annex and "vidéo (.mp4, .webm) ou captures d&#39;écran" in annex
    assert "à fournir par l&#39;éditeur" in annex and "à examiner" not in annex  # nothing attached yet
