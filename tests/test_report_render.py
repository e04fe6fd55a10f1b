"""The plugin's entry point: write_reports writes every format and signs with the configured key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conformance.report import synthetic as syn
from conformance.report.manifest import SigningError, load_or_create_key, public_key_info, verify
from conformance.report.render import SIGNING_KEY_ENV, write_reports


def test_write_reports_uses_the_key_named_in_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = tmp_path / "ci-key.pem"
    monkeypatch.setenv(SIGNING_KEY_ENV, str(key))
    report = tmp_path / "run"
    report.mkdir()
    results = syn.results([syn.requirement("DUI.INS.01", "INS", "passed")])
    (report / "results.json").write_text(json.dumps(results), encoding="utf-8")
    before = (report / "results.json").read_bytes()
    paths = write_reports(results, report, "fr")
    assert (report / "results.json").read_bytes() == before  # the runner's file is never rewritten
    for path in (paths.html, paths.junit, paths.csv, paths.xlsx, paths.manifest, paths.signature):
        assert path is not None and path.is_file()
    trusted = public_key_info(load_or_create_key(key))
    assert paths.fingerprint == trusted["fingerprint"]
    assert verify(report, public_key=trusted["b64"]).intact


def test_default_key_is_created_under_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SIGNING_KEY_ENV, raising=False)
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    report = tmp_path / "run"
    write_reports(syn.results([syn.requirement("DUI.INS.01", "INS", "passed")]), report, "en")
    assert (tmp_path / "home" / ".config" / "segur-conformance" / "signing-key.pem").is_file()
    assert (report / "results.json").is_file()  # written when absent (export into a new folder)
    assert verify(report).intact


def test_broken_key_still_writes_the_report_then_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = tmp_path / "broken.pem"
    key.write_text("not a key")
    monkeypatch.setenv(SIGNING_KEY_ENV, str(key))
    report = tmp_path / "run"
    with pytest.raises(SigningError):
        write_reports(syn.results([syn.requirement("DUI.INS.01", "INS", "failed")]), report, "fr")
    assert (report / "report.html").is_file() and not (report / "manifest.json").exists()
    assert "non signé" in (report / "report.html").read_text(encoding="utf-8")
