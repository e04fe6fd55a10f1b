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


def test_plurals_agree_with_their_count() -> None:
    assert i18n.t("verdict_plural.error", "fr", n=1) == "non évaluée"
    assert i18n.t("verdict_plural.error", "fr", n=0) == "non évaluée"  # French: 0 and 1 are singular
    assert i18n.t("verdict_plural.error", "fr", n=2) == "non évaluées"
    assert i18n.t("verdict_plural.manual", "fr", n=108) == "en attente de preuve manuelle"
    assert i18n.t("req.n_verified", "en", n=0) == "0 verified points"
    assert i18n.t("req.n_verified", "en", n=1) == "1 verified point"
    for key in i18n.STRINGS:
        if key.endswith(".one"):
            assert key.removesuffix(".one") in i18n.STRINGS, key


def test_structured_values_read_as_prose_never_as_python() -> None:
    from conformance.report.common import readable

    raw = ("callback={'logged_in': False, 'error': None} session={'logged_in': True, "
           "'subject': '899999000120', 'error': None}")
    fr = readable(raw, "fr")
    assert fr == ("callback=(logged_in = faux, error = absent) session=(logged_in = vrai, "
                  "subject = 899999000120, error = absent)")
    assert readable(raw, "en").startswith("callback=(logged_in = false, error = none)")
    assert readable({"status": "failed", "codes": [1, 2]}, "fr") == "status = failed, codes = [1, 2]"
    assert readable("texte {non python} et f(x)", "fr") == "texte {non python} et f(x)"
    assert readable("[" * 5000, "fr").startswith("[[[")  # unbalanced: left as is, no error


def test_rendered_report_in_french_and_english() -> None:
    from conformance.report import synthetic as syn
    from conformance.report.html import render_html

    req = syn.requirement("DUI.PSC.01", "PSC", "failed")
    req["findings"] = [syn.finding("DUI.PSC.01", 1) | {"found": "session={'logged_in': True, 'error': None}"}]
    req["scenarios"][0]["proofs"][0]["kind"] = "Log"
    one_error = syn.requirement("DUI.PSC.02", "PSC", "error")
    res = syn.results([req, one_error])
    fr = render_html(res, "fr")
    assert "{&#39;" not in fr and "session=(logged_in = vrai, error = absent)" in fr
    assert "1 non évaluée<" in fr and "1 non évaluées" not in fr
    assert "<b>Journal</b>" in fr and "<b>Log</b>" not in fr
    en = render_html(res, "en")
    assert 'class="q" lang="fr">' in en  # the catalogue's French statement keeps its language
    assert "Pre-check outcome:" in en and "outcome :" not in en
    assert "<b>Log</b>" in en
