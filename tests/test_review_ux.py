"""First-use review by a DUI vendor's integration engineer: what the documented commands must do when the
sandbox is down or speaks another contract, when the report folder is not fresh, with --jobs and
--lang en, and what --help must explain. Each test pins one problem that was found and fixed."""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from conformance import cli
from conformance.plugin import sandbox_preflight

ROOT = Path(__file__).resolve().parent.parent


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "conformance.cli", *args], capture_output=True, text=True,
                          timeout=120, cwd=cwd or ROOT, env={**os.environ, "COLUMNS": "200"})


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_sandbox_is_one_clear_line_and_exit_2(tmp_path: Path) -> None:
    report = tmp_path / "r"
    proc = _cli("run", "--sandbox-url", f"http://127.0.0.1:{_closed_port()}/segur/v1", "--report-dir", str(report))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out[-2000:]
    assert "injoignable" in out and "unreachable" in out
    assert "Traceback" not in out and "EEEE" not in out  # not one error per test
    # the dossier still says why: results.json and report.html with the failed preflight, first
    results = json.loads((report / "results.json").read_text(encoding="utf-8"))
    assert results["harness_checks"][0]["id"] == "HARNESS.PREFLIGHT"
    assert results["harness_checks"][0]["verdict"] == "failed"
    assert "injoignable" in results["harness_checks"][0]["reason"]
    assert (report / "report.html").is_file()


def test_wrong_contract_version_is_refused_before_any_test(tmp_path: Path) -> None:
    from segur_reference_dui.server import serve

    with serve(defects=["contract_v0"]) as running:
        assert "contrat '0'" in sandbox_preflight(running.url)
        proc = _cli("run", "--sandbox-url", running.url, "--report-dir", str(tmp_path / "r"))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out[-2000:]  # it used to exit 0, "conform"
    assert "contrat '0'" in out and "docs/sandbox-api.yaml" in out
    with serve() as running:
        assert sandbox_preflight(running.url) == ""


def test_embedded_sandbox_with_wrong_contract_is_not_conform_even_with_jobs(tmp_path: Path) -> None:
    report = tmp_path / "r"
    proc = _cli("run", "--defect", "contract_v0", "--jobs", "2", "-k", "contract or x_mss_codecda", "--lang", "en",
                "--report-dir", str(report))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out[-2000:]
    run = json.loads((report / "results.json").read_text(encoding="utf-8"))["run"]
    # with --jobs the candidate is opened in the workers: what it declared must reach the report
    assert run["candidate"] and run["candidate"]["product"]
    assert run["sandbox_url"].startswith("http://127.0.0.1:")
    assert "contract '0'" in run["candidate_problem"]
    assert "requirements in" in out and "requirements:" in out and "exigences" not in out  # --lang en all along
    assert "PytestBenchmarkWarning" not in out  # no noise from an unrelated plugin under --jobs
    html = (report / "report.html").read_text(encoding="utf-8")
    assert "harness reference sandbox" in html and "candidate sandbox (contract v1)" not in html


def test_report_dir_must_be_fresh_and_writable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    used = tmp_path / "used"
    used.mkdir()
    (used / "notes.txt").write_text("precious", encoding="utf-8")
    assert cli.main(["run", "--report-dir", str(used)]) == 2
    assert "n'est pas vide" in capsys.readouterr().err
    assert [p.name for p in used.iterdir()] == ["notes.txt"]
    afile = tmp_path / "afile"
    afile.write_text("x", encoding="utf-8")
    assert cli.main(["run", "--report-dir", str(afile / "sub")]) == 2
    err = capsys.readouterr().err
    assert "impossible de créer" in err and "Traceback" not in err
    assert cli.main(["run", "--report-dir", str(afile)]) == 2


def test_two_runs_in_the_same_second_get_two_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class Frozen(datetime):
        @classmethod
        def now(cls, tz=None):  # type: ignore[no-untyped-def, override]
            return datetime(2026, 11, 23, 10, 15, 0)

    monkeypatch.setattr(cli, "datetime", Frozen)
    monkeypatch.chdir(tmp_path)
    first = cli._new_report_dir(None, "MS1")
    second = cli._new_report_dir(None, "MS1")
    assert first.name == "MS1-20261123-101500" and second.name == "MS1-20261123-101500-2"


def test_interrupted_run_says_so_in_the_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = {"run": {"profile": "MS1", "interrupted": True}, "requirements": [],
               "summary": {"total": 0, "passed": 0, "failed": 0, "error": 0, "not_run": 0, "manual": 0}}
    (tmp_path / "results.json").write_text(json.dumps(results), encoding="utf-8")
    assert cli._summarise_run(tmp_path, 2, 1.0, "fr") == cli.EXIT_INTERRUPTED
    assert "INTERROMPU" in capsys.readouterr().out


def test_every_command_and_argument_is_explained_in_help() -> None:
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, command in sub.choices.items():
        assert command.description, f"{name} --help has no description"
        for action in command._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help, f"{name} {action.option_strings or action.dest}: no help text"
    assert "130" in sub.choices["run"].format_help()  # exit codes are documented where they apply


def test_verify_accepts_the_base64_key_printed_in_the_report(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from conformance.report.manifest import public_key_info, sign_bundle

    (tmp_path / "results.json").write_text("{}", encoding="utf-8")
    key = Ed25519PrivateKey.generate()
    sign_bundle(tmp_path, key)
    b64 = public_key_info(key)["b64"]
    assert cli.main(["verify", str(tmp_path), "--public-key", b64]) == 0
    other = public_key_info(Ed25519PrivateKey.generate())["b64"]
    assert cli.main(["verify", str(tmp_path), "--public-key", other]) == 1
    assert cli.main(["verify", str(tmp_path), "--public-key", str(tmp_path / "missing.pem")]) == 2
    capsys.readouterr()
