""""Not supported" is one thing (issue 14): a candidate answering HTTP 501 on POST /documents/{id}/dmp and
POST /documents/{id}/mss gets only ``not_run`` for every DMP and MSSanté proof, with the reason "the candidate
answered 501 (not supported)": never ``failed`` (DUI.DMP.04 used to say "did not show it refused") nor
``error`` (the shared send fixtures used to turn the 501 into "not evaluated").

The candidate is the reference sandbox with those two routes replaced by a 501 answer, run through the real
CLI (``segur-conformance run --select "dmp or mss"``) against its URL, as a vendor's sandbox would be.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _proofs(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["id"]: p for req in results["requirements"] for sc in req.get("scenarios", [])
            for p in sc.get("proofs", [])}


@pytest.mark.slow
def test_501_on_dmp_and_mss_makes_every_dependent_proof_not_run(tmp_path: Path) -> None:
    from segur_reference_dui.server import HttpError, serve

    def unsupported(req: Any, did: str) -> Any:
        raise HttpError(501, "fonction non prise en charge par ce DUI", "unsupported")

    with serve() as sandbox:
        sandbox.app.routes = [(m, p, unsupported if p.pattern.endswith(("/dmp", "/mss")) else h)
                              for m, p, h in sandbox.app.routes]
        report = tmp_path / "r"
        proc = subprocess.run([sys.executable, "-m", "conformance.cli", "run", "--sandbox-url", sandbox.url,
                               "--report-dir", str(report), "--select", "dmp or mss"],
                              cwd=ROOT, capture_output=True, text=True, timeout=900)
    results = json.loads((report / "results.json").read_text(encoding="utf-8"))
    dmp_mss = {pid: p for pid, p in _proofs(results).items() if re.search(r"DMP|MSS", pid)
               and p.get("verdict") != "manual"}
    assert len(dmp_mss) >= 40, sorted(dmp_mss)
    verdicts = {pid: p["verdict"] for pid, p in dmp_mss.items()}
    assert set(verdicts.values()) == {"not_run"}, {k: v for k, v in verdicts.items() if v != "not_run"}
    for pid, proof in dmp_mss.items():
        text = json.dumps(proof, ensure_ascii=False)
        assert "the candidate answered 501 (not supported)" in text, (pid, text[:400])
    assert "DUI.DMP.04.01.01" in dmp_mss and "SC.MSS/UX.30.01.01" in dmp_mss
    assert proc.returncode in (0, 1), proc.stderr[-2000:]


@pytest.mark.slow
def test_empty_document_types_names_what_to_declare(tmp_path: Path) -> None:
    """MiniDUI's first run: no document type declared; the DMP and MSSanté reasons say what to fix."""
    from segur_reference_dui.server import serve

    with serve() as sandbox:
        app = sandbox.app
        original = app.capabilities

        def capabilities(req: Any) -> Any:
            status, body = original(req)
            return status, {**body, "document_types": []}

        app.routes = [(m, p, capabilities if p.pattern == "/capabilities" else h) for m, p, h in app.routes]
        report = tmp_path / "r"
        subprocess.run([sys.executable, "-m", "conformance.cli", "run", "--sandbox-url", sandbox.url, "--report-dir",
                        str(report), "--select", "test_every_document_reaches_the_dmp or test_x_mss_nil_on_every_message",
                        "--lang", "en"], cwd=ROOT, capture_output=True, text=True, timeout=900)
    results = json.loads((report / "results.json").read_text(encoding="utf-8"))
    proofs = _proofs(results)
    for pid in ("DUI.DMP.01.01.01", "SC.MSS/CONF.16.01.01"):
        text = json.dumps(proofs[pid], ensure_ascii=False)
        assert proofs[pid]["verdict"] == "error" and "déclarez document_types dans GET /capabilities" in text, text[:600]
        # --lang en: the English twin of the fixture's NotEvaluated reaches the proof (issue 14 item 7)
        assert "declare document_types in GET /capabilities" in proofs[pid]["reason_en"], proofs[pid]["reason_en"]
        assert "déclarez" not in proofs[pid]["reason_en"]
