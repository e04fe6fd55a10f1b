"""Issue 13 item 6: the checker's decision on a manual proof, counter-signed with the checker's own key;
verify checks both signatures and names who signed what; the campaign verdict follows the decisions."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.report import synthetic as syn
from conformance.report.bundle import write_all
from conformance.report.commands import cmd_attach, cmd_review, cmd_verify
from conformance.report.manifest import load_or_create_key, public_key_info


@pytest.fixture
def bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SEGUR_SIGNING_KEY", str(tmp_path / "vendor.pem"))
    monkeypatch.setenv("SEGUR_SIGNER", "Éditeur X — qualité")
    monkeypatch.delenv("SEGUR_PDF", raising=False)
    entries = [syn.requirement("DUI.MSS.01", "MSS", "passed"),
               syn.requirement("SC.INS/va1.58", "INS", "manual", manual_only=True)]
    folder = tmp_path / "bundle"
    write_all(syn.results(entries), folder, "fr", tmp_path / "vendor.pem")
    return folder


def _manual(folder: Path) -> str:
    results = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    return next(p["id"] for r in results["requirements"] for s in r["scenarios"] for p in s["proofs"]
                if p["method"] == "manual")


def _status(folder: Path) -> str:
    html = (folder / "report.html").read_text(encoding="utf-8")
    start = html.index('<p class="status')
    return html[start:html.index("</p>", start)]


def test_review_counter_signs_and_verify_names_both_signers(bundle: Path, tmp_path: Path) -> None:
    proof = _manual(bundle)
    shot = tmp_path / "ins.png"
    shot.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 32)
    assert cmd_attach(bundle, proof, [shot], note="écran INS", by="Éditeur QA", out=io.StringIO()) == 0
    assert "CONFORME SOUS RÉSERVE des preuves manuelles" in _status(bundle)
    vendor_results = (bundle / "results.json").read_bytes()

    auditor = tmp_path / "auditor.pem"
    out = io.StringIO()
    assert cmd_review(bundle, proof, "accepted", "capture conforme au guide INS", auditor, by="Auditeur ANS",
                      out=out) == 0
    assert (bundle / "manifest.review.sig").is_file() and (bundle / "review.json").is_file()
    assert (bundle / "results.json").read_bytes() == vendor_results  # the vendor's facts are not rewritten
    status = _status(bundle)
    assert "CONFORME" in status and "SOUS RÉSERVE" not in status
    assert "acceptée" in (bundle / "report.html").read_text(encoding="utf-8")

    report = io.StringIO()
    auditor_pub = public_key_info(load_or_create_key(auditor))["b64"]
    assert cmd_verify(bundle, out=report, reviewer_key=auditor_pub) == 0, report.getvalue()
    text = report.getvalue()
    assert "signé par l'éditeur : Éditeur X — qualité" in text
    assert "contresigné par le vérificateur : Auditeur ANS" in text and "report.html" in text
    assert f"décision signée : {proof} acceptée par Auditeur ANS" in text

    # another checker key than the one trusted: refused
    other = public_key_info(load_or_create_key(tmp_path / "other.pem"))["b64"]
    assert cmd_verify(bundle, out=io.StringIO(), reviewer_key=other) == 1
    # a re-rendered view edited after the review: the counter-signature catches it
    html = bundle / "junit-requirements.xml"
    html.write_bytes(html.read_bytes() + b"<!-- -->")
    assert cmd_verify(bundle, out=io.StringIO()) == 1


def test_review_cannot_launder_a_change_to_the_vendor_facts(bundle: Path, tmp_path: Path) -> None:
    proof = _manual(bundle)
    assert cmd_review(bundle, proof, "rejected", "capture illisible", tmp_path / "auditor.pem",
                      out=io.StringIO()) == 0
    assert "NON CONFORME" in _status(bundle)
    assert cmd_verify(bundle, out=io.StringIO()) == 0
    # results.json is the vendor's: changing it (even if the checker re-signs its layer) fails verify
    data = json.loads((bundle / "results.json").read_text(encoding="utf-8"))
    data["requirements"][0]["verdict"] = "failed"
    (bundle / "results.json").write_text(json.dumps(data), encoding="utf-8")
    from conformance.report.review import sign_review_layer

    sign_review_layer(bundle, load_or_create_key(tmp_path / "auditor.pem"), "Auditeur")
    out = io.StringIO()
    assert cmd_verify(bundle, out=out) == 1 and "results.json" in out.getvalue()


def test_a_forged_decision_is_refused_and_not_shown(bundle: Path, tmp_path: Path) -> None:
    proof = _manual(bundle)
    assert cmd_review(bundle, proof, "rejected", "insuffisant", tmp_path / "auditor.pem", out=io.StringIO()) == 0
    review = json.loads((bundle / "review.json").read_text(encoding="utf-8"))
    review["decisions"][0]["decision"] = "accepted"
    (bundle / "review.json").write_text(json.dumps(review), encoding="utf-8")
    assert cmd_verify(bundle, out=io.StringIO()) == 1
    from conformance.report.review import latest_decisions

    assert latest_decisions(bundle) == {}


def test_review_refuses_the_vendor_key_automated_proofs_and_tampered_bundles(bundle: Path, tmp_path: Path) -> None:
    proof = _manual(bundle)
    assert cmd_review(bundle, proof, "accepted", "ok", tmp_path / "vendor.pem", out=io.StringIO()) == 2
    results = json.loads((bundle / "results.json").read_text(encoding="utf-8"))
    automated = next(p["id"] for r in results["requirements"] for s in r["scenarios"] for p in s["proofs"]
                     if p["method"] != "manual")
    assert cmd_review(bundle, automated, "accepted", "ok", tmp_path / "a.pem", out=io.StringIO()) == 2
    assert cmd_review(bundle, proof, "accepted", "  ", tmp_path / "a.pem", out=io.StringIO()) == 2
    (bundle / "convergence.csv").write_text("altered")
    assert cmd_review(bundle, proof, "accepted", "ok", tmp_path / "a.pem", out=io.StringIO()) == 1
    assert not (bundle / "review.json").exists()


def test_attach_after_review_keeps_decisions_and_leaves_new_files_pending(bundle: Path, tmp_path: Path) -> None:
    proof = _manual(bundle)
    first = tmp_path / "a.txt"
    first.write_text("journal 1")
    assert cmd_attach(bundle, proof, [first], out=io.StringIO()) == 0
    assert cmd_review(bundle, proof, "accepted", "ok", tmp_path / "auditor.pem", out=io.StringIO()) == 0
    second = tmp_path / "b.txt"
    second.write_text("journal 2")
    out = io.StringIO()
    assert cmd_attach(bundle, proof, [second], out=out) == 0
    assert "contre-signature du vérificateur" in out.getvalue()
    assert not (bundle / "manifest.review.sig").exists()
    assert cmd_verify(bundle, out=io.StringIO()) == 0
    html = (bundle / "report.html").read_text(encoding="utf-8")
    assert "acceptée" in html and "à examiner par le vérificateur" in html


def test_attach_from_attestations_and_review_on_the_command_line(bundle: Path, tmp_path: Path) -> None:
    proof = _manual(bundle)
    folder = tmp_path / "att"
    folder.mkdir()
    (folder / "cnda.pdf").write_bytes(b"%PDF-1.4\n%%EOF\n")
    (folder / "demo.txt").write_text("démonstration")
    (folder / "attestations.yaml").write_text(
        f"- proof: '{proof}'\n  files: [cnda.pdf, demo.txt]\n  note: certificat CNDA\n  by: Éditeur QA\n",
        encoding="utf-8")
    cli = [sys.executable, "-m", "conformance.cli"]
    proc = subprocess.run(cli + ["attach", str(bundle), "--from", str(folder / "attestations.yaml")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    results = json.loads((bundle / "results.json").read_text(encoding="utf-8"))
    atts = next(p for r in results["requirements"] for s in r["scenarios"] for p in s["proofs"]
                if p["id"] == proof)["attachments"]
    assert [a["name"] for a in atts] == ["cnda.pdf", "demo.txt"] and {a["by"] for a in atts} == {"Éditeur QA"}
    proc = subprocess.run(cli + ["review", str(bundle), proof, "--accept", "--note", "vu", "--key",
                                 str(tmp_path / "auditor.pem"), "--by", "Auditeur"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    proc = subprocess.run(cli + ["verify", str(bundle)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "contresigné par le vérificateur : Auditeur" in proc.stdout, proc.stdout
    # editing an attached file breaks verify, whatever layer
    (bundle / atts[0]["path"]).write_bytes(b"%PDF-1.4 forged")
    proc = subprocess.run(cli + ["verify", str(bundle)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and atts[0]["path"] in proc.stdout
