"""Reliability under a hostile candidate (issue 15, items 1, 2 and the JSON part of 4).

A small misbehaving candidate (tests/data/hostile/misbehaving_candidate.py, on 127.0.0.1, stopping by itself)
stands in front of the reference sandbox and answers chosen routes badly: an answer that never completes,
an HTML page, a redirect, a 404, or it dies. Every deadline here is short (1-3 s) so that the tests stay
quick; nothing asserts a duration: the properties are "the call ended with this error", "the report exists",
"the stalled route was not asked again".
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conformance.sandbox.client import (
    Deadlines,
    SandboxClient,
    SandboxError,
    SandboxTimeout,
    default_deadlines,
    set_default_deadlines,
)

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "data" / "hostile"))
from misbehaving_candidate import MisbehavingCandidate  # noqa: E402

FAST = Deadlines(connect_s=2, first_byte_s=3, answer_s=1.5)
CLI_DEADLINES = ["--connect-timeout", "2", "--first-byte-timeout", "3", "--answer-timeout", "2"]


@pytest.fixture(scope="module")
def reference_url() -> Iterator[str]:
    from segur_reference_dui.server import serve

    with serve() as running:
        yield running.url


def _cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "conformance.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env={**os.environ, "COLUMNS": "200"})


def _proofs(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["id"]: p for r in results["requirements"] for s in r.get("scenarios", []) for p in s.get("proofs", [])}


# ---------------------------------------------------------------------------------------------
# the client: connect, first byte, whole answer, size, media type
# ---------------------------------------------------------------------------------------------
def test_an_answer_that_never_completes_is_a_timeout_and_the_route_is_not_asked_again(reference_url: str) -> None:
    # the hang of issue 15: 200, a large Content-Length, then one byte every 0.5 s (the first-byte and per-read
    # deadline of 3 s never fires: only the whole-answer deadline can end it)
    with MisbehavingCandidate(reference_url, ["GET /documents/[^/]+=stall"], interval=0.5, lifetime=60) as cand:
        client = SandboxClient(cand.url, deadlines=FAST)
        for _ in range(2):
            with pytest.raises(SandboxTimeout) as info:
                client.get_document("D1")
            assert info.value.message == "pas de réponse complète en 1.5 s (GET /documents/D1)"
            assert info.value.message_en == "no complete answer within 1.5 s (GET /documents/D1)"
        with pytest.raises(SandboxTimeout) as info:  # the same operation, another id: not asked a third time
            client.get_document("D2")
        assert "n'est pas tenté" in info.value.message
        assert cand.stalled == 2
        assert client.capabilities()["contract"] == "1"  # other operations still asked, and answered


def test_a_candidate_that_never_finishes_any_answer_is_left_after_a_bounded_number_of_calls(
        reference_url: str) -> None:
    rules = [f"{m} /.*=stall" for m in ("GET", "POST", "PUT")]
    with MisbehavingCandidate(reference_url, rules, interval=0.5, lifetime=60) as cand:
        client = SandboxClient(cand.url, deadlines=FAST)
        calls = [lambda i=i: client.get_resident(f"R{i}") for i in range(3)] + \
                [lambda i=i: client.get_document(f"D{i}") for i in range(3)] + [client.reset, client.capabilities]
        for call in calls:
            with pytest.raises(SandboxTimeout):
                call()
        from conformance.sandbox.client import OPERATION_STALL_LIMIT, STALL_LIMIT

        assert cand.stalled == STALL_LIMIT  # 2 + 2 + 1: then nothing more is asked
        assert cand.stalled < len(calls) and OPERATION_STALL_LIMIT < STALL_LIMIT


def test_headers_sent_one_byte_at_a_time_are_bounded_too() -> None:
    """The whole-answer deadline covers the status line and headers, not only the body."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(10)
    stop = threading.Event()

    def trickle() -> None:
        try:
            conn, _ = server.accept()
        except OSError:
            return
        with conn:
            conn.recv(65536)
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 60:
                if stop.wait(0.3):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    try:
        client = SandboxClient(f"http://127.0.0.1:{server.getsockname()[1]}", deadlines=FAST)
        with pytest.raises(SandboxTimeout) as info:
            client.capabilities()
        assert "pas de réponse complète en 1.5 s" in info.value.message
    finally:
        stop.set()
        server.close()
        thread.join(10)


def test_a_silent_candidate_is_a_first_byte_timeout() -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)  # accepts the connection (backlog) and never answers
    try:
        client = SandboxClient(f"http://127.0.0.1:{server.getsockname()[1]}",
                               deadlines=Deadlines(connect_s=2, first_byte_s=0.5, answer_s=5))
        with pytest.raises(SandboxTimeout) as info:
            client.capabilities()
        assert info.value.message.startswith("pas de réponse complète : aucun octet reçu pendant 0.5 s")
    finally:
        server.close()


def test_an_answer_announcing_more_than_the_size_bound_is_refused_before_reading(reference_url: str) -> None:
    with MisbehavingCandidate(reference_url, ["GET /capabilities=stall"], interval=5, lifetime=60) as cand:
        client = SandboxClient(cand.url, deadlines=Deadlines(answer_s=30, max_bytes=1000))
        with pytest.raises(SandboxError) as info:
            client.capabilities()
        assert not isinstance(info.value, SandboxTimeout)
        assert "trop volumineuse" in info.value.message and "Content-Length 1000000" in info.value.message


@pytest.mark.parametrize("rule, needle", [
    ("GET /capabilities=html", "Content-Type text/html, application/json attendu"),
    ("GET /capabilities=status:302", "réponse inattendue 302"),
    ("GET /capabilities=status:404", "réponse inattendue 404"),
])
def test_an_answer_outside_the_contract_is_a_clear_error(reference_url: str, rule: str, needle: str) -> None:
    with MisbehavingCandidate(reference_url, [rule], lifetime=60) as cand:
        with pytest.raises(SandboxError) as info:
            SandboxClient(cand.url, deadlines=FAST).capabilities()
        assert needle in info.value.message


def test_deadlines_come_from_the_environment_and_bad_values_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    previous = set_default_deadlines(None)
    try:
        monkeypatch.setenv("SEGUR_ANSWER_TIMEOUT", "7.5")
        assert default_deadlines() == Deadlines(answer_s=7.5)
        monkeypatch.setenv("SEGUR_ANSWER_TIMEOUT", "soon")
        with pytest.raises(ValueError, match="SEGUR_ANSWER_TIMEOUT"):
            default_deadlines()
        with pytest.raises(ValueError):
            Deadlines(connect_s=0)
    finally:
        set_default_deadlines(previous)
    proc = _cli("run", "--answer-timeout", "-3", timeout=60)
    assert proc.returncode == 2 and "answer-timeout" in proc.stderr and "Traceback" not in proc.stderr


# ---------------------------------------------------------------------------------------------
# end to end: the run goes on, the report is always written
# ---------------------------------------------------------------------------------------------
def test_a_stalled_candidate_run_ends_with_results_and_report_and_the_stalled_proofs_in_error(
        reference_url: str, tmp_path: Path) -> None:
    report = tmp_path / "r"
    with MisbehavingCandidate(reference_url, ["POST /documents/[^/]+/mss=stall"], interval=0.5,
                              lifetime=500) as cand:
        proc = _cli("run", "--sandbox-url", cand.url, "--report-dir", str(report), *CLI_DEADLINES, "-k", "mss")
        stalled = cand.stalled
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out[-3000:]
    assert "Traceback" not in out
    assert (report / "report.html").is_file()
    results = json.loads((report / "results.json").read_text(encoding="utf-8"))
    assert results["run"]["complete"] is True
    from conformance.sandbox.client import OPERATION_STALL_LIMIT

    assert 1 <= stalled <= OPERATION_STALL_LIMIT  # asked at most twice, then "not attempted"
    timed_out = {pid: p for pid, p in _proofs(results).items() if "pas de réponse complète en 2 s" in (p.get("reason") or "")}
    assert timed_out, "no proof names the deadline"
    assert {p["verdict"] for p in timed_out.values()} == {"error"}, timed_out
    html = (report / "report.html").read_text(encoding="utf-8")
    assert "pas de réponse complète en 2 s" in html


@pytest.mark.parametrize("rule, needle", [
    ("GET /capabilities=status:302", "réponse inattendue 302"),
    ("GET /capabilities=status:404", "réponse inattendue 404"),
    ("GET /capabilities=html", "non JSON"),
    ("GET /capabilities=stall", "pas de réponse complète en 2 s"),
])
def test_a_bad_first_answer_still_writes_the_report(reference_url: str, tmp_path: Path, rule: str,
                                                   needle: str) -> None:
    report = tmp_path / "r"
    with MisbehavingCandidate(reference_url, [rule], interval=0.5, lifetime=120) as cand:
        proc = _cli("run", "--sandbox-url", cand.url, "--report-dir", str(report), *CLI_DEADLINES, timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out[-2000:]  # unchanged: a sandbox that cannot be used is a configuration error
    assert needle in out and "Traceback" not in out
    results = json.loads((report / "results.json").read_text(encoding="utf-8"))
    check = results["harness_checks"][0]
    assert (check["id"], check["verdict"]) == ("HARNESS.PREFLIGHT", "failed")
    assert needle in check["reason"]
    assert needle in (report / "report.html").read_text(encoding="utf-8")


def test_a_candidate_that_dies_mid_run_still_gets_a_report(reference_url: str, tmp_path: Path) -> None:
    report = tmp_path / "r"
    # it answers the preflight and the first calls, then stops listening at its first document request
    with MisbehavingCandidate(reference_url, ["POST /residents/[^/]+/documents=die"], lifetime=500) as cand:
        proc = _cli("run", "--sandbox-url", cand.url, "--report-dir", str(report), *CLI_DEADLINES, "-k", "mss")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out[-3000:]
    assert "Traceback" not in out and (report / "report.html").is_file()
    results = json.loads((report / "results.json").read_text(encoding="utf-8"))
    reasons = [p.get("reason") or "" for p in _proofs(results).values() if p["verdict"] == "error"]
    assert any("injoignable" in r for r in reasons), reasons[:5]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_a_run_stopped_while_the_candidate_stalls_still_writes_its_report(reference_url: str, tmp_path: Path,
                                                                         sig: signal.Signals) -> None:
    report = tmp_path / "r"
    with MisbehavingCandidate(reference_url, ["POST /residents/[^/]+/documents=stall"], interval=0.5,
                              lifetime=300) as cand:
        proc = subprocess.Popen([sys.executable, "-m", "conformance.cli", "run", "--sandbox-url", cand.url,
                                 "--report-dir", str(report), "--answer-timeout", "120", "-k", "mss"],
                                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            for _ in range(1200):  # the run is now blocked on an answer that never completes
                if cand.stalled or proc.poll() is not None:
                    break
                time.sleep(0.1)
            assert cand.stalled, "the run never reached the stalled route"
            proc.send_signal(sig)
            out, err = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert proc.returncode == 130, (out + err)[-3000:]
    assert "Traceback" not in err
    results = json.loads((report / "results.json").read_text(encoding="utf-8"))
    assert results["run"]["interrupted"] is True and results["run"]["complete"] is False
    assert (report / "report.html").is_file()


def test_a_stalled_document_production_leaves_its_proofs_not_evaluated(reference_url: str, tmp_path: Path) -> None:
    report = tmp_path / "r"
    with MisbehavingCandidate(reference_url, ["POST /residents/[^/]+/documents=stall"], interval=0.5,
                              lifetime=500) as cand:
        proc = _cli("run", "--sandbox-url", cand.url, "--report-dir", str(report), *CLI_DEADLINES, "-k", "cda")
    assert proc.returncode == 1, (proc.stdout + proc.stderr)[-3000:]
    results = json.loads((report / "results.json").read_text(encoding="utf-8"))
    timed_out = {pid: p["verdict"] for pid, p in _proofs(results).items()
                 if "pas de réponse complète en 2 s" in (p.get("reason") or "")}
    assert timed_out
    assert set(timed_out.values()) == {"error"}, timed_out
