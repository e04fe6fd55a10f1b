"""Harness-captured screens for manual proofs (issue 14 item 6; contract 1.1, optional GET /ui/snapshot).

The reference sandbox renders the resident identity screen as a self-contained HTML page; the MS1 run stores
it (and its Chromium rendering, when a headless Chromium is available) under the manual proofs
conformance/sandbox/ui_snapshots.yaml maps the step to, marked "capture du harnais — à examiner", without
changing their verdict. A candidate that does not declare ``features.ui_snapshot`` is never asked. The
renderer is proven on a hand-written hostile page: no script runs and nothing is fetched.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from conformance.sandbox import ui_capture

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = ui_capture.find_chromium()


def _proofs(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["id"]: p for r in results["requirements"] for s in r.get("scenarios", []) for p in s.get("proofs", [])}


def _run(url: str, report: Path, select: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "conformance.cli", "run", "--sandbox-url", url, "--report-dir",
                           str(report), "--select", select], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_every_mapped_proof_is_a_manual_proof_of_the_catalogue() -> None:
    from conformance.profiles import load_profile
    from conformance.requirements import load_catalogue

    catalogue = load_catalogue()
    ms1 = set(load_profile("MS1", catalogue).requirement_ids)
    manual = {p["id"]: r.id for r in catalogue for s in r.to_dict()["scenarios"] for p in s["proofs"]
              if p["method"] == "manual"}
    steps = ui_capture.steps()
    assert set(steps) == {"resident_identity"}
    documented = set(steps["resident_identity"]["proofs"])
    assert documented and documented <= set(manual), documented - set(manual)
    assert {manual[p] for p in documented} <= ms1
    contract = (ROOT / "docs" / "sandbox-api.yaml").read_text(encoding="utf-8")
    for step in steps:
        assert step in contract  # every step the harness asks for is in the contract's enum


class _Recorder(BaseHTTPRequestHandler):
    hits: list[str] = []

    def log_message(self, *args: Any) -> None:
        return

    def do_GET(self) -> None:  # noqa: N802
        type(self).hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def outside() -> Iterator[str]:
    """A server the hostile page points at: the renderer must never reach it."""
    _Recorder.hits = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.mark.skipif(CHROMIUM is None, reason="no headless Chromium (apt-get install chromium, or SEGUR_CHROMIUM)")
def test_a_hostile_page_renders_without_script_nor_network(outside: str) -> None:
    """A page written by hand (not by the reference sandbox): a script, an external image, a stylesheet,
    a refresh and an iframe pointing at a local server; the PNG is made and the server never hears a thing."""
    page = (f'<!DOCTYPE html><html><head><meta http-equiv="refresh" content="0;url={outside}/refresh">'
            f'<link rel="stylesheet" href="{outside}/style.css"></head><body><h1 id="t">Identité</h1>'
            f'<img src="{outside}/pixel.png"><iframe src="{outside}/frame"></iframe>'
            f'<script>fetch("{outside}/script"); document.getElementById("t").textContent = "JS";</script>'
            "</body></html>").encode()
    png, why, why_en = ui_capture.render_png(page)
    assert png is not None, why_en
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and (why, why_en) == ("", "")
    width = int.from_bytes(png[16:20], "big")
    height = int.from_bytes(png[20:24], "big")
    assert width == ui_capture.VIEWPORT["width"] and height <= ui_capture.MAX_HEIGHT_PX
    assert _Recorder.hits == []


def test_without_chromium_the_page_alone_is_kept_with_the_reason(monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:
    monkeypatch.setenv("SEGUR_CHROMIUM", str(tmp_path / "no-such-browser"))
    png, why, why_en = ui_capture.render_png(b"<html><body>x</body></html>")
    assert png is None
    assert why_en.startswith("headless Chromium unavailable") and why.startswith("Chromium headless indisponible")


@pytest.mark.slow
def test_ms1_run_stores_the_identity_screen_under_its_manual_proofs(tmp_path: Path) -> None:
    from segur_reference_dui.server import serve

    report = tmp_path / "r"
    with serve() as sandbox:
        proc = _run(sandbox.url, report, "test_resident_identity_screen_after_qualification")
    assert proc.returncode in (0, 1), (proc.stdout + proc.stderr)[-3000:]
    results = json.loads((report / "results.json").read_text(encoding="utf-8"))
    check = next(c for c in results["harness_checks"] if c["id"] == "HARNESS.UI_SNAPSHOT")
    assert check["verdict"] == "passed", check
    proofs = _proofs(results)
    html = (report / "report.html").read_text(encoding="utf-8")
    for pid in ui_capture.steps()["resident_identity"]["proofs"]:
        proof = proofs[pid]
        assert proof["verdict"] == "manual"  # a capture documents the proof, it never passes it
        names = sorted(a["name"] for a in proof["attachments"])
        assert names == (["resident_identity.html.txt", "resident_identity.png"] if CHROMIUM else
                         ["resident_identity.html.txt"]), names
        for attachment in proof["attachments"]:
            assert attachment["review"] == "pending" and "capture du harnais — à examiner" in attachment["note"]
            assert "QUAL" in attachment["note"]
            assert (report / attachment["path"]).is_file()
            assert attachment["path"] in html
    page = next(a for a in proofs[ui_capture.steps()["resident_identity"]["proofs"][0]]["attachments"]
                if a["name"].endswith(".html.txt"))
    text = (report / page["path"]).read_text(encoding="utf-8")
    assert "Identité qualifiée" in text and "non modifiable (issu de l'INSi)" in text
    assert {e["path"] for e in results["evidence"]} >= {a["path"] for a in proofs[pid]["attachments"]}
    manifest = json.loads((report / "manifest.json").read_text(encoding="utf-8"))
    assert page["path"] in json.dumps(manifest)  # signed with the bundle


@pytest.mark.slow
def test_a_candidate_without_the_feature_is_never_asked(tmp_path: Path) -> None:
    from segur_reference_dui.server import serve

    asked: list[str] = []
    report = tmp_path / "r"
    with serve() as sandbox:
        app = sandbox.app
        capabilities, snapshot = app.capabilities, app.ui_snapshot

        def without_feature(req: Any) -> Any:
            status, body = capabilities(req)
            return status, {**body, "features": {k: v for k, v in body["features"].items() if k != "ui_snapshot"}}

        def counted(req: Any) -> Any:
            asked.append(req.query.get("step", ""))
            return snapshot(req)

        app.routes = [(m, p, without_feature if p.pattern == "/capabilities" else
                       counted if p.pattern == "/ui/snapshot" else h) for m, p, h in app.routes]
        proc = _run(sandbox.url, report, "test_resident_identity_screen_after_qualification")
    assert proc.returncode in (0, 1), (proc.stdout + proc.stderr)[-3000:]
    results = json.loads((report / "results.json").read_text(encoding="utf-8"))
    check = next(c for c in results["harness_checks"] if c["id"] == "HARNESS.UI_SNAPSHOT")
    assert check["verdict"] == "not_run" and "features.ui_snapshot" in check["reason_en"], check
    assert asked == []
    assert not any(p.get("attachments") for p in _proofs(results).values())


def test_check_contract_names_a_screen_answered_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    from segur_reference_dui.server import serve

    from conformance.sandbox.contract_check import check_contract

    with serve() as sandbox:
        sandbox.app.routes = [(m, p, (lambda req: (200, {"screen": "none"})) if p.pattern == "/ui/snapshot" else h)
                              for m, p, h in sandbox.app.routes]
        report = check_contract(sandbox.url)
    route = report.routes["GET /ui/snapshot"]
    assert route.problems == [
        ("Content-Type application/json; charset=utf-8 : le contrat attend text/html, image/png, application/pdf",
         "Content-Type application/json; charset=utf-8: the contract expects text/html, image/png, application/pdf")]
