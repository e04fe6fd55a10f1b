"""Review: untrusted-input robustness. Each test is a hostile input that once crashed, hung or misled.

Inputs are built in tmp_path; nothing large is committed. One end-to-end ``run`` on a hostile folder
(a few seconds), the rest call the code directly.
"""

from __future__ import annotations

import encodings
import json
import os
import pkgutil
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from conformance.safexml import XmlRejected, parse_bytes

ROOT = Path(__file__).resolve().parent.parent
GOOD = ROOT / "samples" / "artefacts" / "good"
XXE = '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><ClinicalDocument xmlns="urn:hl7-org:v3"><title>&e;</title></ClinicalDocument>'


def _bounded(fn, seconds: float = 10.0):
    """Run fn in a thread; fail (instead of hanging the suite) when it does not return in time."""
    box: dict[str, object] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            box["error"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"did not return within {seconds} s (hang)"
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box.get("value")


# ---------------------------------------------------------------------------------------------
# XML: the DOCTYPE byte pre-check looked at the first 4 KiB only, and only at 8-bit encodings
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("data", [
    b"<?xml version='1.0'?><!--" + b"x" * 70000 + b"-->" + XXE.encode(),
    ('<?xml version="1.0" encoding="UTF-16"?>' + XXE).encode("utf-16"),
], ids=["doctype-after-70KB-comment", "utf16-doctype"])
def test_doctype_anywhere_and_in_any_encoding_is_refused(data: bytes) -> None:
    with pytest.raises(XmlRejected) as info:
        parse_bytes(data)
    assert "DOCTYPE" in info.value.reason_en


def test_validate_a_directory_is_one_clear_usage_line(tmp_path: Path) -> None:
    (tmp_path / "dir.xml").mkdir()
    proc = subprocess.run([sys.executable, "-m", "conformance.cli", "validate", str(tmp_path / "dir.xml")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "pas un fichier ordinaire" in proc.stderr


# ---------------------------------------------------------------------------------------------
# artefact folder
# ---------------------------------------------------------------------------------------------
def test_file_names_are_shown_escaped_and_json_safe(tmp_path: Path) -> None:
    from conformance.sandbox.artefacts import read_folder

    (tmp_path / "cda").mkdir()
    os.close(os.open(os.path.join(os.fsencode(tmp_path / "cda"), b"latin1-\xe9\xff.xml"), os.O_CREAT | os.O_WRONLY))
    (tmp_path / "cda" / "DLU-\u202e\nnl.xml").write_bytes(b"<x/>")
    names = sorted(a.name for a in read_folder(tmp_path, "cda"))
    assert names == ["cda/DLU-\\u202e\\nnl.xml", "cda/latin1-\\xe9\\xff.xml"]
    json.dumps(names, ensure_ascii=False).encode("utf-8")  # surrogates once broke results.json here


@pytest.mark.parametrize("content", [b"not json{", b"[1, 2]", b"[" * 100000 + b"]" * 100000,
                                     b'{"corridors": 5}', b'{"features": "x"}', b"\xff\xfe\x00"])
def test_broken_capabilities_are_one_problem_not_a_crash_of_every_test(tmp_path: Path, content: bytes) -> None:
    from conformance.sandbox.artefacts import ArtefactFolderError, read_capabilities
    from conformance.sandbox.candidate import ArtefactCandidate

    (tmp_path / "capabilities.json").write_bytes(content)
    with pytest.raises(ArtefactFolderError):
        read_capabilities(tmp_path)
    cand = ArtefactCandidate(tmp_path)
    assert cand.capabilities() == {}
    assert "capabilities.json" in cand.capabilities_problem
    assert cand.supports("dmp") and cand.document_types() == []


def test_every_python_codec_name_as_a_charset_is_a_problem_not_a_crash() -> None:
    from conformance.mss.mime import decode_text

    names = sorted({m.name for m in pkgutil.iter_modules(encodings.__path__)} | set(encodings.aliases.aliases))
    for name in names + ["a\0b", "x" * 1000]:
        for data in (bytes(range(256)), b"\\x", b"xn--", b""):
            text, _problem = decode_text(data, name)  # zlib, rot13, idna, undefined… once raised
            assert isinstance(text, str)


def test_negative_chunk_size_does_not_loop_for_ever() -> None:
    from conformance.dmp.iti41 import load_artefact

    capture = (b"POST /dmp HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
               b"Content-Type: multipart/related; boundary=b\r\n\r\n-6\r\n")
    req = _bounded(lambda: load_artefact("dmp/neg.http", capture))
    assert [f.rule for f in req.problems][:1] == ["DMP.HTTP.unreadable"]
    assert "chunk" in req.problems[0].message_en


def test_oversized_http_headers_say_so() -> None:
    from conformance.dmp.iti41 import load_artefact

    req = load_artefact("dmp/long.http", b"POST / HTTP/1.1\r\nX-Long: " + b"a" * 100_000 + b"\r\n\r\n")
    assert "too long" in req.problems[0].message_en


def test_hostile_folder_runs_to_a_report(tmp_path: Path) -> None:
    folder = tmp_path / "art"
    for kind in ("cda", "mss", "dmp"):
        (folder / kind).mkdir(parents=True)
    shutil.copy(GOOD / "cda" / "DLU.xml", folder / "cda" / "DLU.xml")
    os.close(os.open(os.path.join(os.fsencode(folder / "cda"), b"bad-\xff.xml"), os.O_CREAT | os.O_WRONLY))
    eml = (GOOD / "mss" / "pro-DLU.eml").read_bytes()
    (folder / "mss" / "rot13.eml").write_bytes(eml.replace(b'charset="utf-8"', b'charset="rot13"')
                                               .replace(b"=?utf-8?b?", b"=?zlib?b?", 1))
    (folder / "dmp" / "neg.http").write_bytes(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n-6\r\n")
    (folder / "capabilities.json").write_bytes(b"{not json")
    report = tmp_path / "report"
    proc = subprocess.run([sys.executable, "-m", "conformance.cli", "run", "--artefacts", str(folder),
                           "--report-dir", str(report)], capture_output=True, text=True, timeout=180, cwd=ROOT,
                          env={**os.environ, "COLUMNS": "300"})
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out[-3000:]
    assert "Traceback" not in out and "LookupError" not in out
    assert "capabilities.json illisible" in out
    results = json.loads((report / "results.json").read_text(encoding="utf-8"))
    blob = json.dumps(results, ensure_ascii=False)
    assert "cda/bad-\\\\xff.xml" in blob
    assert "MSS.CHARSET.BODY" in blob and "DMP.HTTP.unreadable" in blob
    # one broken message must not make every MSS requirement "not evaluated"
    assert all(r["verdict"] != "error" for r in results["requirements"] if r["section"] == "MSS"), \
        [(r["id"], r["reason"]) for r in results["requirements"] if r["verdict"] == "error"]


# ---------------------------------------------------------------------------------------------
# results and manifests
# ---------------------------------------------------------------------------------------------
def test_deeply_nested_results_file_is_a_results_file_error(tmp_path: Path) -> None:
    from conformance.results import ResultsFileError, load_results

    path = tmp_path / "results.json"
    path.write_bytes(b"[" * 100000 + b"]" * 100000)
    with pytest.raises(ResultsFileError):
        load_results(path)


@pytest.mark.parametrize("name", ["manifest.json", "manifest.sig"])
def test_deeply_nested_manifest_is_reported_altered(tmp_path: Path, name: str) -> None:
    from conformance.report.manifest import verify

    (tmp_path / "results.json").write_text("{}", encoding="utf-8")
    (tmp_path / "manifest.json").write_text("{}", encoding="utf-8")
    (tmp_path / "manifest.sig").write_text("{}", encoding="utf-8")
    (tmp_path / name).write_bytes(b"[" * 50000 + b"]" * 50000)
    result = verify(tmp_path)
    assert not result.intact


# ---------------------------------------------------------------------------------------------
# servers on 127.0.0.1 and the contract client
# ---------------------------------------------------------------------------------------------
def _raw(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        out = b""
        while chunk := s.recv(4096):
            out += chunk
        return out


@pytest.mark.parametrize("length", [b"abc", b"-5", b"\xb2"])
def test_reference_sandbox_answers_a_bad_content_length_and_keeps_serving(capfd, length: bytes) -> None:
    from segur_reference_dui.server import serve

    with serve() as running:
        port = int(running.url.split(":")[2].split("/")[0])
        answer = _raw(port, b"POST /segur/v1/residents HTTP/1.1\r\nHost: x\r\nContent-Length: " + length
                      + b"\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 400"), answer[:100]
        assert _raw(port, b"GET /segur/v1/capabilities HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                    ).startswith(b"HTTP/1.1 200")
    assert "Traceback" not in capfd.readouterr().err


def test_dmp_simulator_refuses_a_non_ascii_digit_content_length(capfd) -> None:
    from conformance.dmp.simulator import DmpSimulator

    with DmpSimulator(tls=False) as sim:
        answer = _raw(sim.port, b"POST /dmp/repository HTTP/1.1\r\nHost: x\r\nContent-Length: \xb2\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 411"), answer[:100]
    assert "Traceback" not in capfd.readouterr().err


@pytest.mark.parametrize("body", [b"[1, 2]", b"null", b'"x"', b"[" * 100000 + b"]" * 100000])
def test_contract_client_turns_a_non_object_answer_into_a_sandbox_error(body: bytes) -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from conformance.sandbox.client import SandboxClient, SandboxError

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            return

        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        client = SandboxClient(f"http://127.0.0.1:{srv.server_address[1]}/v1", timeout=5)
        with pytest.raises(SandboxError):
            client.get_document("d1")
    finally:
        srv.shutdown()
        srv.server_close()


@pytest.mark.parametrize("mutate, needle", [
    (lambda d: d.update(requirements={"a": 1}), "'requirements' must be a list"),
    (lambda d: d["requirements"].append(5), "is not an object"),
    (lambda d: d["requirements"].append({"id": "X.01", "verdict": "great"}), "has verdict 'great'"),
    (lambda d: d["requirements"].append({"verdict": "passed"}), "has no id"),
    (lambda d: d.update(run=[]), "'run' must be an object"),
])
def test_structurally_wrong_results_files_are_refused_clearly(tmp_path, mutate, needle) -> None:
    import json as _json

    from conformance.results import ResultsFileError, build_results, load_results

    data = build_results({"profile": "MS1"}, [], [])
    mutate(data)
    path = tmp_path / "results.json"
    path.write_text(_json.dumps(data), encoding="utf-8")
    with pytest.raises(ResultsFileError) as err:
        load_results(path)
    assert needle in str(err.value)
