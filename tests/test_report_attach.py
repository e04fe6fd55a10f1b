"""Issue 13: `segur-conformance attach` hands the vendor's files for a manual proof over in the signed bundle."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.report import synthetic as syn
from conformance.report.bundle import write_all
from conformance.report.commands import cmd_attach, cmd_verify


@pytest.fixture
def bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SEGUR_SIGNING_KEY", str(tmp_path / "key.pem"))
    entries = [syn.requirement("DUI.MSS.01", "MSS", "passed"),
               syn.requirement("SC.INS/va1.58", "INS", "manual", manual_only=True)]
    folder = tmp_path / "bundle"
    write_all(syn.results(entries), folder, "fr", tmp_path / "key.pem")
    return folder


def _manual_id(folder: Path) -> str:
    results = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    return next(p["id"] for r in results["requirements"] for s in r["scenarios"] for p in s["proofs"]
                if p["method"] == "manual")


def test_attach_records_the_file_and_verify_still_passes(bundle: Path, tmp_path: Path) -> None:
    shot = tmp_path / "écran INS.png"
    shot.write_bytes(b"\x89PNG\r\n\x1a\nnot really an image")
    proof = _manual_id(bundle)
    out = io.StringIO()
    assert cmd_attach(bundle, proof, [shot], note="écran de qualification", by="Éditeur QA", out=out) == 0
    results = json.loads((bundle / "results.json").read_text(encoding="utf-8"))
    att = next(p for r in results["requirements"] for s in r["scenarios"] for p in s["proofs"]
               if p["id"] == proof)["attachments"]
    assert len(att) == 1 and att[0]["by"] == "Éditeur QA" and att[0]["review"] == "pending"
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((Path(__file__).parents[1] / "docs" / "results.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(results)
    assert att[0]["sha256"] == hashlib.sha256(shot.read_bytes()).hexdigest()
    stored = bundle / att[0]["path"]
    assert stored.read_bytes() == shot.read_bytes() and att[0]["path"].startswith("evidence/manual-")
    html = (bundle / "report.html").read_text(encoding="utf-8")
    assert att[0]["path"] in html and "à examiner par le vérificateur" in html and "Éditeur QA" in html
    assert cmd_verify(bundle, out=io.StringIO()) == 0
    # the attached file is signed: editing it breaks verify
    stored.write_bytes(b"edited")
    report = io.StringIO()
    assert cmd_verify(bundle, out=report) == 1 and att[0]["path"] in report.getvalue()


def test_attach_refuses_an_altered_bundle_and_automated_proofs(bundle: Path, tmp_path: Path) -> None:
    f = tmp_path / "log.txt"
    f.write_text("journal")
    results = json.loads((bundle / "results.json").read_text(encoding="utf-8"))
    automated = next(p["id"] for r in results["requirements"] for s in r["scenarios"] for p in s["proofs"]
                     if p["method"] != "manual")
    assert cmd_attach(bundle, automated, [f], out=io.StringIO()) == 2
    assert cmd_attach(bundle, "NO.SUCH.PROOF", [f], out=io.StringIO()) == 2
    assert cmd_attach(bundle, _manual_id(bundle), [tmp_path / "absent.png"], out=io.StringIO()) == 2
    (bundle / "convergence.csv").write_text("altered")
    assert cmd_attach(bundle, _manual_id(bundle), [f], out=io.StringIO()) == 1  # never re-signs tampering
    assert "manual-" not in (bundle / "results.json").read_text(encoding="utf-8")


def test_attach_from_the_command_line(bundle: Path, tmp_path: Path) -> None:
    f = tmp_path / "cnda.pdf"
    f.write_bytes(b"%PDF-1.4\n%%EOF\n")
    proc = subprocess.run([sys.executable, "-m", "conformance.cli", "attach", str(bundle), _manual_id(bundle), str(f),
                           "--note", "certificat CNDA"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    verify = subprocess.run([sys.executable, "-m", "conformance.cli", "verify", str(bundle)], capture_output=True,
                            text=True, timeout=120)
    assert verify.returncode == 0, verify.stdout + verify.stderr
