"""The HTML report and its view model: ANS order, manual slots, findings placement, safety, languages."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from lxml import html as lxml_html

from conformance.report import synthetic as syn
from conformance.report.html import bar_segments, render_html
from conformance.report.view import build_view


def _small() -> dict:
    entries = [
        syn.requirement("DUI.MSS.01", "MSS", "failed", findings=[syn.finding("DUI.MSS.01", 1)]),
        syn.requirement("DUI.INS.01", "INS", "passed", findings=[syn.finding("DUI.INS.01", 2, "info")]),
        syn.requirement("DUI.CDA.01", "CDA", "not_run"),
        syn.requirement("DUI.PSC.01", "PSC", "manual", manual_only=True),
        syn.requirement("DUI.DMP.01", "DMP", "error"),
        syn.requirement("DUI.ZZZ.01", "AAA", "passed"),
    ]
    return syn.results(entries)


def _doc(html: str):
    return lxml_html.fromstring(html.encode("utf-8"))


def test_sections_follow_ans_order_then_others() -> None:
    view = build_view(_small(), "fr", None)
    assert [s.code for s in view.sections] == ["INS", "DMP", "MSS", "PSC", "AAA", "CDA"]


def test_report_shows_hierarchy_with_ans_ids_and_attributes() -> None:
    html = render_html(_small(), "fr")
    doc = _doc(html)
    req = doc.get_element_by_id("req-DUI.MSS.01")
    text = req.text_content()
    assert "NON CONFORME" in text and "DOIT" in text and "Majeure" in text and "Vague 1" in text
    assert "DUI.MSS.01.01" in text and "DUI.MSS.01.01.01" in text  # scénario and preuve ids
    assert "MS1, MS2-PDE" in text and "Vd — vérifié" in text
    assert "Non (profil Général)" in text
    # the finding, with xpath, line, expected and found
    assert "valeur inattendue n°1 pour DUI.MSS.01" in text
    assert "/ClinicalDocument/component/section[2]/code" in text and "l.11" in text
    assert req.get("open") is not None  # failed items start unfolded
    assert doc.get_element_by_id("req-DUI.INS.01").get("open") is None  # passed items are collapsed


def test_manual_proof_is_never_shown_as_passed() -> None:
    entry = syn.requirement("DUI.PSC.02", "PSC", "passed", extra_manual_proof=True)
    entry["scenarios"][0]["proofs"][1]["verdict"] = "passed"  # a tampered or buggy file
    html = render_html(syn.results([entry]), "fr")
    doc = _doc(html)
    proofs = doc.get_element_by_id("req-DUI.PSC.02").find_class("proof")
    manual = [p for p in proofs if "manuelle" in p.text_content()]
    assert len(manual) == 1
    assert "PREUVE MANUELLE REQUISE" in manual[0].text_content()
    assert "CONFORME" not in manual[0].text_content().replace("PREUVE MANUELLE REQUISE", "")
    slot = manual[0].find_class("slot")
    assert slot and "L'éditeur doit fournir : Attestation" in slot[0].text_content()
    assert "certificat d'homologation CNDA" in slot[0].text_content()


def test_overall_status_reflects_mandatory_requirements() -> None:
    assert build_view(_small(), "fr", None).status == "failed"
    only_passed = syn.results([syn.requirement("DUI.INS.01", "INS", "passed")])
    assert build_view(only_passed, "fr", None).status == "passed"
    with_manual = syn.results([syn.requirement("DUI.INS.01", "INS", "passed", extra_manual_proof=True)])
    assert build_view(with_manual, "fr", None).status == "manual"
    not_run = syn.results([syn.requirement("DUI.INS.01", "INS", "not_run")])
    assert build_view(not_run, "fr", None).status == "incomplete"


def test_findings_go_under_the_proof_of_their_evidence_kind() -> None:
    entry = syn.requirement("DUI.MSS.03", "MSS", "failed", proofs=2, kinds=("Source SMTP", "Log"))
    entry["findings"] = [syn.finding("DUI.MSS.03", 1, evidence="evidence/t/mail.eml", sha="0" * 64),
                         syn.finding("DUI.MSS.03", 2)]
    evidence = [{"path": "evidence/t/mail.eml", "sha256": "0" * 64, "size": 3, "kind": "Source SMTP",
                 "description": "", "test": entry["tests"][0]["nodeid"]}]
    view = build_view(syn.results([entry], evidence), "fr", None)
    req = view.sections[0].requirements[0]
    smtp, log = req.scenarios[0].proofs
    assert [f.rule for f in smtp.findings] == ["RULE.DUI.MSS.03.1"]
    assert [e.path for e in smtp.evidence] == ["evidence/t/mail.eml"]
    assert log.findings == []
    assert [f.rule for f in req.common_findings] == ["RULE.DUI.MSS.03.2"]  # cannot be placed: shown once


def test_hostile_strings_are_escaped_and_no_network_reference(tmp_path: Path) -> None:
    entry = syn.requirement("DUI.DOC.01", "DOC", "failed")
    bad = syn.finding("DUI.DOC.01", 1, evidence="../../etc/passwd")
    bad.update(message="<script>alert(1)</script><img src=http://evil.example/x>",
               found="\"><iframe src=//evil.example>", xpath="/a[@b='</td>']")
    entry["findings"] = [bad]
    entry["title"] = "<b onmouseover=alert(1)>titre</b>"
    html = render_html(syn.results([entry]), "fr")
    assert "<script>alert(1)" not in html and "<iframe" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'href="../../etc/passwd"' not in html and "chemin refusé" in html
    doc = _doc(html)
    for el in doc.iter():
        for attr in ("src", "href", "action", "data"):
            value = el.get(attr)
            assert value is None or not re.match(r"^\s*(https?:|//|javascript:|data:)", value), (el.tag, value)
    scripts = [s for s in doc.iter("script")]
    assert len(scripts) == 2 and all(s.get("src") is None for s in scripts)
    assert doc.find(".//link") is None


def test_csp_hashes_match_the_inline_style_and_script() -> None:
    html = render_html(_small(), "fr")
    doc = _doc(html)
    csp = doc.find(".//meta[@http-equiv='Content-Security-Policy']").get("content")
    assert "default-src 'none'" in csp
    import base64

    style = doc.find(".//style").text
    script = [s for s in doc.iter("script") if s.get("type") is None][0].text
    for body in (style, script):
        digest = base64.b64encode(hashlib.sha256(body.encode("utf-8")).digest()).decode()
        assert f"'sha256-{digest}'" in csp


def test_evidence_links_are_relative_and_checked_on_disk(tmp_path: Path) -> None:
    data = b"<ClinicalDocument/>"
    (tmp_path / "evidence" / "t").mkdir(parents=True)
    (tmp_path / "evidence" / "t" / "doc.xml").write_bytes(data)
    (tmp_path / "evidence" / "t" / "bad.xml").write_bytes(b"changed")
    entry = syn.requirement("DUI.DOC.02", "DOC", "passed")
    node = entry["tests"][0]["nodeid"]
    evidence = [
        {"path": "evidence/t/doc.xml", "sha256": hashlib.sha256(data).hexdigest(), "size": len(data),
         "kind": "Log", "description": "", "test": node},
        {"path": "evidence/t/bad.xml", "sha256": "1" * 64, "size": 3, "kind": "Log", "description": "", "test": node},
        {"path": "evidence/t/gone.xml", "sha256": "2" * 64, "size": 3, "kind": "Log", "description": "", "test": node},
    ]
    html = render_html(syn.results([entry], evidence), "fr", report_dir=tmp_path)
    doc = _doc(html)
    links = {a.get("href"): a.get("class") for a in doc.iter("a") if (a.get("href") or "").startswith("evidence/")}
    assert links["evidence/t/doc.xml"] == "ev ev-ok"
    assert links["evidence/t/bad.xml"] == "ev ev-mismatch"
    assert links["evidence/t/gone.xml"] == "ev ev-missing"
    assert "empreinte différente" in html and "fichier absent" in html


def test_english_report_uses_english_strings_and_messages() -> None:
    html = render_html(_small(), "en")
    assert 'lang="en"' in html
    assert "FAIL" in html and "MANUAL EVIDENCE REQUIRED" in html and "unexpected value #1 for DUI.MSS.01" in html
    assert "Énoncé" not in html and "Synthèse" not in html


def test_header_shows_candidate_kit_key_and_banners() -> None:
    res = syn.results([syn.requirement("DUI.INS.01", "INS", "passed")], interrupted=True,
                      reference_sandbox=True, defects=["wrong_codecda"], cisis_kit=None)
    html = render_html(res, "fr", public_key={"b64": "QUJD" * 11, "fingerprint": "SHA256:abc"})
    text = _doc(html).text_content()
    assert "DUI Exemple" in text and "Éditeur SAS" in text and "4.2" in text
    assert "MS1 — DUI MS1" in text and "Vague 1" in text
    assert "QUJD" * 11 in text and "SHA256:abc" in text
    assert "Campagne interrompue" in text and "wrong_codecda" in text
    assert "non fourni : les contrôles XSD" in text


def test_garbage_results_do_not_crash() -> None:
    weird = {"run": "nope", "requirements": [None, 3, {"id": "X", "verdict": "bogus", "findings": [None, {"line": "x"}],
                                                        "scenarios": [{"proofs": [None, {"method": "manual"}]}]}],
             "evidence": [None, {"path": None}]}
    html = render_html(weird, "xx")
    assert "NON ÉVALUÉ" in html  # an unknown verdict is never shown as passed


def test_bar_segments_are_proportional() -> None:
    segs = bar_segments({"passed": 3, "failed": 1, "error": 0, "not_run": 0, "manual": 0})
    assert [s["verdict"] for s in segs] == ["passed", "failed"]
    assert segs[0]["width"] == 180.0 and segs[1]["x"] == 180.0


def test_large_report_stays_small(tmp_path: Path) -> None:
    res = syn.large(2000)
    html = render_html(res, "fr")
    # about 560 bytes per finding: 10,000 findings stay well under the 10 MB target (benchmarks/)
    assert len(html.encode("utf-8")) < 2000 * 1000


def test_failed_and_unevaluated_requirements_are_listed_up_front() -> None:
    """An auditor reaches every requirement to address from one list near the summary."""
    from conformance.report import synthetic
    from conformance.report.html import render_html

    entries = [synthetic.requirement("DUI.MSS.07", "MSS", "failed"),
               synthetic.requirement("SC.INS/va1.53", "INS", "error"),
               synthetic.requirement("SC.PSC.01", "PSC", "passed")]
    html = render_html(synthetic.results(entries), lang="fr")
    block = html.split('id="blocking"', 1)[1].split("</nav>", 1)[0]
    assert "DUI.MSS.07" in block and "SC.INS/va1.53" in block and "SC.PSC.01" not in block
    assert "Exigences à traiter (non conformes ou non évaluées) (2)" in block
    clean = render_html(synthetic.results([synthetic.requirement("SC.PSC.01", "PSC", "passed")]), lang="en")
    assert 'id="blocking"' not in clean
