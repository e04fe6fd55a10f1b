"""report.pdf is optional and best effort (issue 13 item 3): off unless asked, and a missing engine costs
neither the run nor the signed bundle; the reason is said. (The PDF itself: tests/test_report_print.py.)"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from conformance.report import synthetic as syn
from conformance.report.bundle import write_all
from conformance.report.commands import cmd_verify


def _entries() -> list[dict]:
    return [syn.requirement("DUI.MSS.01", "MSS", "passed"), syn.requirement("DUI.MSS.02", "MSS", "failed")]


def test_no_pdf_unless_asked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SEGUR_PDF", raising=False)
    paths = write_all(syn.results(_entries()), tmp_path / "b", "fr", tmp_path / "key.pem")
    assert paths.pdf is None and paths.pdf_problem == ""
    assert not (tmp_path / "b" / "report.pdf").exists()


def test_missing_engine_leaves_a_signed_bundle_and_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SEGUR_PDF", "1")
    monkeypatch.setenv("SEGUR_CHROMIUM", str(tmp_path / "no-such-browser"))
    paths = write_all(syn.results(_entries()), tmp_path / "b", "fr", tmp_path / "key.pem")
    assert paths.pdf is None and not (tmp_path / "b" / "report.pdf").exists()
    assert paths.pdf_problem and "pas de report.pdf" in capsys.readouterr().err
    assert not list((tmp_path / "b").glob("*.part"))
    assert cmd_verify(tmp_path / "b", out=io.StringIO()) == 0
