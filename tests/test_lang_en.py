"""``--lang en`` (issue 14 item 7): the harness's reasons reach results.json, the console and the report in
English; the catalogue's REM texts stay French, and the English report says so in one sentence.

A test records one message per phase; the English twin of a reason (``segur.not_evaluated(fr, en)``, a
sandbox error, ``conformance.plugin.skip(fr, en)``, blocking findings) travels beside it as ``message_en``,
then ``reason_en`` on the proof and on the requirement.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
# the small synthetic catalogue of the plugin tests, and the fixture that installs it
import test_plugin  # noqa: E402

CATALOGUE = test_plugin.CATALOGUE
catalogue_dir = test_plugin.catalogue_dir  # the same fixture, registered in this module


def _proofs(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["id"]: p for r in results["requirements"] for s in r.get("scenarios", []) for p in s.get("proofs", [])}


def test_each_reason_keeps_its_english_twin(pytester: pytest.Pytester, catalogue_dir: Path) -> None:
    """Not evaluated, not supported (skip) and blocking findings: French in ``reason``, English in
    ``reason_en``, for the proof, the requirement and the test."""
    pytester.makepyfile(textwrap.dedent("""
        import pytest
        from conformance.findings import error
        from conformance.plugin import skip

        @pytest.mark.requirement("DUI.INS.01")
        def test_not_evaluated(segur):
            segur.not_evaluated("jeu de valeurs absent", "value set missing")

        @pytest.mark.requirement("DUI.INS.02")
        def test_blocking(segur):
            segur.record([error("B manquant", "B missing", rule="R.B", expected="b", found="")])

        @pytest.mark.requirement("DUI.INS.04")
        def test_not_supported(segur):
            skip("le candidat a répondu 501 (non pris en charge)", "the candidate answered 501 (not supported)")
    """))
    report = pytester.path / "rep"
    result = pytester.runpytest("--segur-report", str(report), "--segur-lang", "en")
    assert result.ret != 0
    data = json.loads((report / "results.json").read_text(encoding="utf-8"))
    proofs = _proofs(data)
    a, b, d = proofs["DUI.INS.01.01.01"], proofs["DUI.INS.02.01.01"], proofs["DUI.INS.04.01.01"]
    assert (a["verdict"], a["reason"], a["reason_en"]) == (
        "error", "non évalué : jeu de valeurs absent", "not evaluated: value set missing")
    assert b["verdict"] == "failed" and "B manquant" in b["reason"] and "B missing" in b["reason_en"]
    assert "manquant" not in b["reason_en"]
    assert (d["verdict"], d["reason"], d["reason_en"]) == (
        "not_run", "le candidat a répondu 501 (non pris en charge)", "the candidate answered 501 (not supported)")
    reqs = {r["id"]: r for r in data["requirements"]}
    assert reqs["DUI.INS.01"]["reason_en"] == "DUI.INS.01.01.01: not evaluated: value set missing"
    assert reqs["DUI.INS.04"]["reason_en"] == "the candidate answered 501 (not supported)"
    assert reqs["DUI.INS.03"]["reason_en"] == "manual evidence to be provided by the vendor"
    blocking = reqs["DUI.INS.02"]["tests"][0]
    assert "B manquant" in blocking["message"] and "attendu" in blocking["message"]
    assert "B missing" in blocking["message_en"] and "expected" in blocking["message_en"]
    assert "B manquant" not in blocking["message_en"]
    # the HARNESS.NOT_EVALUATED warning shown with the proof has its English twin too
    warn = next(f for f in reqs["DUI.INS.01"]["findings"] if f["rule"] == "HARNESS.NOT_EVALUATED")
    assert warn["message_en"] == "not evaluated: value set missing"
    html = (report / "report.html").read_text(encoding="utf-8")
    assert "not evaluated: value set missing" in html and "non évalué : jeu de valeurs absent" not in html
    assert 'id="catalogue-lang"' in html and "stay in French" in html


def test_the_french_report_has_no_english_reasons_nor_the_note(pytester: pytest.Pytester, catalogue_dir: Path
                                                               ) -> None:
    pytester.makepyfile(textwrap.dedent("""
        import pytest

        @pytest.mark.requirement("DUI.INS.01")
        def test_not_evaluated(segur):
            segur.not_evaluated("jeu de valeurs absent", "value set missing")
    """))
    report = pytester.path / "rep"
    pytester.runpytest("--segur-report", str(report))
    html = (report / "report.html").read_text(encoding="utf-8")
    assert "non évalué : jeu de valeurs absent" in html
    assert "value set missing" not in html.replace("not evaluated: value set missing", "")  # only in the JSON
    assert 'id="catalogue-lang"' not in html


@pytest.mark.slow
def test_an_english_run_of_a_defect_gives_english_reasons(tmp_path: Path) -> None:
    """The reference sandbox with no_read_receipt_header, in English: SC.MSS/UX.33.01.01 fails and the
    SC.MSS/UX.35 proofs are not evaluated (failed prerequisite); every reason shown is English."""
    report = tmp_path / "r"
    proc = subprocess.run(
        [sys.executable, "-m", "conformance.cli", "run", "--defect", "no_read_receipt_header", "--lang", "en",
         "--report-dir", str(report), "--select", "test_read_receipt_request or test_mdn_linked_to_message"],
        cwd=ROOT, capture_output=True, text=True, timeout=600, env={**os.environ, "COLUMNS": "200"})
    assert proc.returncode == 1, (proc.stdout + proc.stderr)[-3000:]
    proofs = _proofs(json.loads((report / "results.json").read_text(encoding="utf-8")))
    failed = proofs["SC.MSS/UX.33.01.01"]
    assert failed["verdict"] == "failed"
    assert "read receipt asked but Disposition-Notification-To missing" in failed["reason_en"]
    assert "accusé de lecture demandé" in failed["reason"] and "accusé" not in failed["reason_en"]
    for pid in ("SC.MSS/UX.35.01.01", "SC.MSS/UX.35.02.01"):
        proof = proofs[pid]
        assert proof["verdict"] == "error"
        assert proof["reason_en"].startswith("not evaluated: failed prerequisite: the message asks for no receipt")
        assert "le message ne demande pas d'accusé" in proof["reason"]
    for text in (proc.stdout, (report / "report.html").read_text(encoding="utf-8")):
        assert "the message asks for no receipt" in text
        assert "le message ne demande pas d'accusé" not in text
        assert "accusé de lecture demandé mais" not in text
