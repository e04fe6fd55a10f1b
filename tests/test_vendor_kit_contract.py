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
