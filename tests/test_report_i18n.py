"""Every interface string exists in French and English; every key the template and code use exists."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

from conformance.report import i18n
from conformance.report.common import SEVERITIES, VERDICTS

REPORT = Path(i18n.__file__).resolve().parent


def test_every_key_has_french_and_english() -> None:
    for key, entry in i18n.STRINGS.items():
        assert set(entry) == {"fr", "en"}, key
        assert entry["fr"].strip() and entry["en"].strip(), key


def test_placeholders_are_the_same_in_both_languages() -> None:
    fmt = string.Formatter()
    for key, entry in i18n.STRINGS.items():
        fields = [{name for _, name, _, _ in fmt.parse(entry[lang]) if name} for lang in ("fr", "en")]
        assert fields[0] == fields[1], key


def test_keys_used_in_templates_and_code_exist() -> None:
    used: set[str] = set()
    pattern = re.compile(r"""\bt\(\s*["']([a-z_]+\.[A-Za-z0-9_.]+)["']""")
    for path in list((REPORT / "templates").glob("*.j2")) + list(REPORT.glob("*.py")):
        used |= set(pattern.findall(path.read_text(encoding="utf-8")))
    assert used, "no t(...) call found: the scan is broken"
    missing = sorted(k for k in used if k not in i18n.STRINGS)
    assert not missing


def test_dynamic_key_families_are_complete() -> None:
    for v in VERDICTS:
        assert f"verdict.{v}" in i18n.STRINGS and f"verdict_plural.{v}" in i18n.STRINGS
    for s in SEVERITIES:
        assert f"sev.{s}" in i18n.STRINGS
    for c in ("MINEURE", "MAJEURE", "CRITIQUE"):
        assert f"crit.{c}" in i18n.STRINGS
    for v in ("V", "Vd", "S", "I"):
        assert f"verified.{v}" in i18n.STRINGS
    for s in ("failed", "incomplete", "manual", "passed"):
        assert f"status.{s}" in i18n.STRINGS
    for s in ("missing", "mismatch", "unsafe", "ok"):
        assert f"ev.{s}" in i18n.STRINGS


def test_french_is_the_default_and_unknown_keys_fail_loudly() -> None:
    assert i18n.t("verdict.failed") == "NON CONFORME"
    assert i18n.t("verdict.failed", "en") == "FAIL"
    assert i18n.t("verdict.failed", "de") == "NON CONFORME"
    assert i18n.t("ui.shown", "en", n=3, total=9) == "3 of 9 requirement(s) shown"
    with pytest.raises(i18n.MissingString):
        i18n.t("no.such.key")


def test_manual_verdict_wording_matches_rem() -> None:
    # rem.md §4.4: PASS / FAIL / NOT TESTED / MANUAL EVIDENCE REQUIRED
    assert [i18n.t(f"verdict.{v}", "en") for v in ("passed", "failed", "not_run", "manual")] == [
        "PASS", "FAIL", "NOT TESTED", "MANUAL EVIDENCE REQUIRED"]
