"""``segur-conformance check-contract`` (issue 14): the reference sandbox conforms; a hand-written
misbehaving sandbox (below, not built with the harness's builders) gets one clear line per problem, naming
the route; 501 on an optional route is "not supported", never a defect."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from conformance.cli import main
from conformance.sandbox.contract_check import load_spec, spec_routes

TRAITS = {"birth_name": "X", "given_names": ["Y"], "first_given_name": "Y", "birth_date": "1941-05-12", "sex": "F",
          "birthplace_code": "63113"}


def _misbehaving(caps: dict[str, Any]) -> type[BaseHTTPRequestHandler]:
    """A sandbox written by hand from docs/sandbox-api.yaml, with deliberate mistakes."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            return

        def _send(self, status: int, body: Any = None, ctype: str = "application/json") -> None:
            data = b"" if body is None else (body.encode() if isinstance(body, str) else json.dumps(body).encode())
            self.send_response(status)
            if data:
                self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _route(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            path = self.path.split("?")[0].removeprefix("/v1")
            key = f"{self.command} {path}"
            resident = {"id": "R1", "traits": TRAITS, "status": "NEW"}  # status outside the enum
            answers: dict[str, tuple[int, Any, str]] = {
                "GET /capabilities": (200, caps, "application/json"),
                "PUT /endpoints": (204, None, ""),
                "POST /residents": (201, resident, "application/json"),
                "GET /residents/R1": (200, "<html><body>Résident</body></html>", "text/html; charset=utf-8"),
                "POST /residents/R1/qualify": (200, {"outcome": "maybe", "resident": resident}, "application/json"),
                "POST /residents/R1/documents": (201, {"id": "D1", "type": "DLU"}, "application/json"),
                "GET /documents/D1": (200, {"id": "D1", "type": "DLU"}, "application/json"),
                "POST /documents/D1/dmp": (501, {"error": "pas de DMP"}, "application/json"),
                "POST /documents/D1/mss": (501, {"error": "pas de MSSanté"}, "application/json"),
                "POST /reset": (501, {"error": "non"}, "application/json"),
            }
            status, body, ctype = answers.get(key, (404, {"error": f"inconnu : {key}"}, "application/json"))
            self._send(status, body, ctype)

        do_GET = do_POST = do_PUT = _route

    return Handler


@pytest.fixture
def misbehaving_url() -> Iterator[str]:
    caps = {"contract": 1, "product": "MiniDUI", "version": "0.1", "vendor": "V", "corridors": ["MS1"],
            "document_types": ["DLU"], "features": {"ins": True, "dmp": False, "mss": False, "psc": True}}
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _misbehaving(caps))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_reference_sandbox_conforms_on_every_route(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from segur_reference_dui.server import serve

    with serve() as sandbox:
        code = main(["check-contract", "--sandbox-url", sandbox.url, "--lang", "en", "--json", str(tmp_path / "c.json")])
    out = capsys.readouterr().out
    assert code == 0, out
    routes = spec_routes(load_spec())
    for method, template in routes:
        assert f"OK   {method} {template}" in out, (method, template, out)
    result = json.loads((tmp_path / "c.json").read_text(encoding="utf-8"))
    assert result["counts"] == {"routes": len(routes), "ok": len(routes), "to_fix": 0, "unsupported": 0,
                                "not_exercised": 0}


def test_misbehaving_sandbox_gets_one_line_per_problem(misbehaving_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["check-contract", "--sandbox-url", misbehaving_url, "--lang", "en"])
    out = capsys.readouterr().out
    assert code == 1, out
    lines = out.splitlines()

    def block(route: str) -> str:
        start = next(i for i, line in enumerate(lines) if line.startswith("FIX") and line.split(None, 1)[1]
                     .startswith(route + " "))
        end = next((i for i in range(start + 1, len(lines)) if not lines[i].startswith("    ")), len(lines))
        return "\n".join(lines[start:end])

    assert "$.contract: 1 is not of type 'string'" in block("GET /capabilities")
    assert "Content-Type text/html; charset=utf-8: the contract expects application/json" in \
        block("GET /residents/{residentId}")
    assert "$.status: 'NEW' is not one of ['PROV', 'RECUP', 'VALI', 'QUAL']" in block("POST /residents")
    assert "$.outcome: 'maybe' is not one of" in block("POST /residents/{residentId}/qualify")
    assert "'cda_base64' is a required property" in block("POST /residents/{residentId}/documents")
    assert "HTTP status 404 not in the contract (expected: 200, 501)" in block("POST /psc/login")
    for route in ("POST /documents/{documentId}/dmp", "POST /documents/{documentId}/mss", "POST /reset"):
        assert f"501  {route}: not supported" in out
    assert "OK   GET /documents/{documentId} 200" in out
    assert "to fix" in lines[-1]


def test_empty_document_types_says_what_to_declare(capsys: pytest.CaptureFixture[str]) -> None:
    caps = {"contract": "1", "product": "P", "version": "1", "vendor": "V", "corridors": ["MS1"], "document_types": []}
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _misbehaving(caps))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        code = main(["check-contract", "--sandbox-url", f"http://127.0.0.1:{httpd.server_address[1]}/v1"])
    finally:
        httpd.shutdown()
        httpd.server_close()
    out = capsys.readouterr().out
    assert code == 1
    assert "document_types est vide : déclarez dans GET /capabilities" in out
    assert "NON EXERCÉE  POST /residents/{residentId}/documents" in out


def test_unreachable_sandbox_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens on it once closed
    code = main(["check-contract", "--sandbox-url", f"http://127.0.0.1:{port}/v1", "--lang", "en"])
    out = capsys.readouterr().out
    assert code == 2 and "ERROR: sandbox unreachable (GET /capabilities)" in out


# ---------------------------------------------------------------------------------------------
# the contract as package data, and run's preflight (HARNESS.SANDBOX_API)
# ---------------------------------------------------------------------------------------------
ROOT = Path(__file__).resolve().parents[1]


def test_the_packaged_contract_is_docs_sandbox_api_yaml() -> None:
    """check-contract reads conformance/sandbox/sandbox-api.yaml (package data); it must be docs/'s copy."""
    from conformance.sandbox.contract_check import SPEC_PATH

    assert SPEC_PATH == ROOT / "conformance" / "sandbox" / "sandbox-api.yaml"
    assert SPEC_PATH.read_bytes() == (ROOT / "docs" / "sandbox-api.yaml").read_bytes(), \
        "copy docs/sandbox-api.yaml to conformance/sandbox/sandbox-api.yaml"


@pytest.mark.slow
def test_check_contract_works_from_a_non_editable_build(tmp_path: Path) -> None:
    """What a non-editable install holds (setuptools' build of the packages and their package data, as a wheel
    gets it; no docs/ folder) still finds the contract description."""
    import shutil
    import subprocess
    import sys

    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for tree in ("conformance", "profiles", "samples/reference_dui"):
        shutil.copytree(ROOT / tree, src / tree, ignore=ignore)
    site = tmp_path / "site"
    proc = subprocess.run([sys.executable, "setup.py", "-q", "build_py", "--build-lib", str(site)], cwd=src,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (site / "conformance" / "sandbox" / "sandbox-api.yaml").is_file()
    assert not (site / "docs").exists()
    code = ("import sys; sys.path.insert(0, sys.argv[1]); "
            "from conformance.sandbox.contract_check import SPEC_PATH, load_spec, spec_routes; "
            "assert SPEC_PATH.is_relative_to(sys.argv[1]), SPEC_PATH; print(len(spec_routes(load_spec())))")
    run = subprocess.run([sys.executable, "-c", code, str(site)], capture_output=True, text=True, cwd=tmp_path,
                         timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert int(run.stdout.strip()) == len(spec_routes(load_spec()))


def test_preflight_passes_the_reference_sandbox() -> None:
    from segur_reference_dui.server import serve

    from conformance.sandbox.contract_check import preflight

    with serve() as sandbox:
        verdict, reason, reason_en = preflight(sandbox.url)
    assert verdict == "passed", reason_en
    assert reason_en.startswith("3 exercised routes conform") and "check-contract --sandbox-url" in reason_en


def test_preflight_warns_on_deviations_and_fails_only_without_a_resident(misbehaving_url: str) -> None:
    from conformance.sandbox.contract_check import preflight

    verdict, reason, reason_en = preflight(misbehaving_url)
    assert verdict == "reserved", reason_en  # a warning: the exit status is unchanged
    assert "exit status is unchanged" in reason_en and "sans effet sur le code de sortie" in reason
    assert "GET /capabilities: $.contract: 1 is not of type 'string'" in reason_en
    assert "POST /residents: $.status: 'NEW' is not one of" in reason_en
    assert "GET /residents/{residentId}: Content-Type text/html" in reason_en

    caps = {"contract": "1", "product": "P", "version": "1", "vendor": "V", "corridors": ["MS1"],
            "document_types": ["DLU"]}
    handler = _misbehaving(caps)
    original = handler._route

    def no_resident(self: Any) -> None:  # POST /residents answers a valid call with an HTML page
        if self.command == "POST" and self.path.endswith("/residents"):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            return self._send(200, "<html>Résident créé</html>", "text/html")
        return original(self)

    handler.do_GET = handler.do_POST = handler.do_PUT = no_resident
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        verdict, reason, reason_en = preflight(f"http://127.0.0.1:{httpd.server_address[1]}/v1")
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert verdict == "failed", reason_en
    assert reason_en.startswith("contract badly broken: no resident can be created (POST /residents)")
    assert "POST /residents: HTTP status 200 not in the contract (expected: 201, 422)" in reason_en


@pytest.mark.slow
def test_run_reports_contract_deviations_as_a_warning(misbehaving_url: str, tmp_path: Path) -> None:
    """run's preflight on a sandbox whose answers deviate: HARNESS.SANDBOX_API reserved, printed as a warning,
    in results.json and the report; the run goes on (its tests judge the rest)."""
    import subprocess
    import sys

    report = tmp_path / "r"
    proc = subprocess.run([sys.executable, "-m", "conformance.cli", "run", "--sandbox-url", misbehaving_url,
                           "--report-dir", str(report), "--lang", "en", "--select", "test_sandbox_speaks_contract_v1"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    results = json.loads((report / "results.json").read_text(encoding="utf-8"))
    check = next(c for c in results["harness_checks"] if c["id"] == "HARNESS.SANDBOX_API")
    assert check["verdict"] == "reserved" and "$.contract: 1 is not of type 'string'" in check["reason_en"]
    assert "WARNING HARNESS.SANDBOX_API" in out, out[-3000:]
    assert "HARNESS.SANDBOX_API" in (report / "report.html").read_text(encoding="utf-8")
