"""README command 1, end to end: the CLI starts the reference sandbox, runs a corridor, writes the bundle.

Then the same with an injected defect: the run must fail on the expected requirement, non-zero exit.
These are the slowest tests of the suite (one full run each), so there are only two.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

TABLE = Path(__file__).resolve().parents[1] / "samples" / "reference_dui" / "defect_proofs.yaml"
pytestmark = pytest.mark.slow


def _run(report: Path, *extra: str) -> tuple[int, dict, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "conformance.cli", "run", "--profile", "MS1", "--report-dir", str(report), *extra],
        capture_output=True, text=True, timeout=900)
    results = json.loads((report / "results.json").read_text(encoding="utf-8"))
    return proc.returncode, results, proc.stdout + proc.stderr


def test_compliant_reference_sandbox_passes_ms1(tmp_path: Path) -> None:
    code, results, output = _run(tmp_path / "ok")
    bad = [(r["id"], r["verdict"], r["reason"]) for r in results["requirements"]
           if r["mandatory"] and r["verdict"] in ("failed", "error")]
    assert not bad, output[-3000:]
    assert code == 0, output[-3000:]
    assert results["run"]["complete"] and results["run"]["reference_sandbox"]
    assert results["summary"]["passed"] > 0
    for name in ("report.html", "manifest.json", "manifest.sig", "junit-requirements.xml"):
        assert (tmp_path / "ok" / name).is_file(), name
    assert "== MS1" in output


def test_two_injected_defects_fail_exactly_their_requirements_with_evidence(tmp_path: Path) -> None:
    """Issue 8's check: two defects, exactly their requirements fail, evidence links open, in English."""
    import re

    report = tmp_path / "defect"
    code, results, output = _run(report, "--defect", "ins_shared_unqualified", "--defect", "no_nonce_check",
                                 "--lang", "en")
    failed = {r["id"] for r in results["requirements"] if r["verdict"] in ("failed", "error")}
    # what each defect fails is measured data (samples/reference_dui/defect_proofs.yaml): the union, by requirement
    table = yaml.safe_load(TABLE.read_text(encoding="utf-8"))["defects"]
    expected = {proof.rsplit(".", 2)[0] for name in ("ins_shared_unqualified", "no_nonce_check")
                for proof in table[name]["fails"] + table[name].get("not_evaluated", [])}
    assert {"SC.INS/va1.53", "DUI.DMP.04", "DUI.MSS.11", "SC.PSC.01"} <= expected  # every channel of the INS fault
    assert failed == expected, output[-3000:]
    assert code == 1
    assert "SC.INS/va1.53" in output and "SHALL" in output
    assert sorted(results["run"]["defects"]) == ["ins_shared_unqualified", "no_nonce_check"]
    html = (report / "report.html").read_text(encoding="utf-8")
    assert "Requirements to address" in html
    links = set(re.findall(r'href="(evidence/[^"#]+)"', html))
    assert links, "the report links no evidence"
    missing = [link for link in links if not (report / link).is_file()]
    assert not missing, missing[:5]
    for entry in results["requirements"]:
        if entry["id"] == "SC.PSC.01":
            assert any("nonce" in (f["message_en"] + f["message"]).lower() for f in entry["findings"])
