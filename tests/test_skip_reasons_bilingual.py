"""Every reason a suite gives for not running a check has an English twin (issue 14 loose end, ``--lang en``).

A ``pytest.skip("…")`` carries one French string: an English run would show it as is. The suites (and the
plugin's fixtures) skip through ``conformance.plugin.skip(fr, en)`` and say "not evaluated" through
``segur.not_evaluated(fr, en)`` / ``NotEvaluated(fr, en)``; a scan of their syntax tree names any call left
without its English twin. Then one English run in artefact mode shows a reason that used to be French-only
reaching results.json, the JUnit file and the HTML report in English; and a merge of runs keeps the English
reason beside the French one it goes with.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conformance.report import synthetic as syn
from conformance.report.junit import junit_bytes
from conformance.report.merge import merge_results

ROOT = Path(__file__).resolve().parents[1]
SCANNED = sorted((ROOT / "conformance" / "suites").glob("*.py")) + [ROOT / "conformance" / "plugin" / "fixtures.py"]
# pytest's own ways of not running a test: one reason, no English twin
PYTEST_SKIPS = {"pytest.skip", "pytest.xfail", "pytest.importorskip", "pytest.mark.skip", "pytest.mark.skipif",
                "pytest.mark.xfail", "pytest.skip.Exception", "pytest.xfail.Exception"}
# our bilingual calls: (French, English)
BILINGUAL = {"skip", "not_evaluated", "NotEvaluated", "BilingualSkip"}


def untwinned(source: str, name: str) -> list[str]:
    """``name:line: call`` for each skip / not-evaluated call of ``source`` without an English reason."""
    out: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Raise) and node.exc is not None and not isinstance(node.exc, ast.Call):
            called = ast.unparse(node.exc)
            if called in PYTEST_SKIPS:
                out.append(f"{name}:{node.lineno}: raise {called}")
            continue
        if not isinstance(node, ast.Call):
            continue
        called = ast.unparse(node.func)
        where = f"{name}:{node.lineno}: {called}(…)"
        if called in PYTEST_SKIPS:
            out.append(where + " (pytest's skip has no English twin: use conformance.plugin.skip(fr, en))")
            continue
        if called.rsplit(".", 1)[-1] not in BILINGUAL or called.startswith("pytest."):
            continue
        if any(isinstance(a, ast.Starred) for a in node.args):
            continue  # a (French, English) pair built by a helper, e.g. *_not_sent(captures)
        args = list(node.args) + [k.value for k in node.keywords if k.arg in ("reason_en", "en")]
        if len(args) < 2:
            out.append(where + " (no English reason)")
            continue
        fr, en = args[0], args[1]
        if isinstance(en, ast.Constant) and not str(en.value).strip():
            out.append(where + " (empty English reason)")
        elif ast.dump(fr) == ast.dump(en):
            out.append(where + " (the English reason is the French one)")
    return out


def test_no_skip_nor_not_evaluated_reason_is_left_without_its_english_twin() -> None:
    found = [hit for path in SCANNED
             for hit in untwinned(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))]
    assert not found, f"{len(found)} reason(s) without English:\n" + "\n".join(found)


def test_the_scan_names_each_untwinned_call() -> None:
    """The scan can fail: each French-only form is named with its line, the bilingual forms are not."""
    source = textwrap.dedent("""\
        import pytest
        from conformance.plugin import skip
        def t(segur, pair):
            pytest.skip("aucun document")
            skip("aucun document")
            segur.not_evaluated("kit absent")
            raise NotEvaluated("kit absent")
            skip("aucun document", "")
            skip(f"motif {x}", f"motif {x}")
            raise pytest.skip.Exception
            pytest.xfail("plus tard")
            skip("aucun document", "no document")
            segur.not_evaluated("kit absent", "kit missing")
            raise NotEvaluated("kit absent", reason_en="kit missing")
            segur.not_evaluated(*pair)
        @pytest.mark.skip(reason="plus tard")
        def u(): ...
    """)
    hits = untwinned(source, "x.py")
    assert sorted(int(h.split(":")[1]) for h in hits) == [4, 5, 6, 7, 8, 9, 10, 11, 16], "\n".join(hits)


@pytest.mark.slow
def test_an_english_artefact_run_gives_the_skip_reason_in_english(tmp_path: Path) -> None:
    """samples/artefacts/good, ``--lang en``: a bare .eml does not say whether the user asked for a read
    receipt, so SC.MSS/UX.33.01.01 is not run; its reason (French-only before) is English in results.json,
    in the JUnit file and in the HTML report; the contract harness check's skip too."""
    report = tmp_path / "r"
    proc = subprocess.run(
        [sys.executable, "-m", "conformance.cli", "run", "--profile", "MS1", "--lang", "en",
         "--artefacts", str(ROOT / "samples" / "artefacts" / "good"), "--report-dir", str(report),
         "--select", "test_read_receipt_request or test_sandbox_speaks_contract_v1"],
        cwd=ROOT, capture_output=True, text=True, timeout=600, env={**os.environ, "COLUMNS": "200"})
    assert (report / "results.json").is_file(), (proc.stdout + proc.stderr)[-3000:]
    results = json.loads((report / "results.json").read_text(encoding="utf-8"))
    french = "mode artefacts : le fichier .eml ne dit pas si l'utilisateur a demandé un accusé de lecture"
    english = "artefact mode: the .eml file does not say whether the user asked for a read receipt"
    req = next(r for r in results["requirements"] if r["id"] == "SC.MSS/UX.33")
    proof = next(p for s in req["scenarios"] for p in s["proofs"] if p["id"] == "SC.MSS/UX.33.01.01")
    assert (proof["verdict"], proof["reason"], proof["reason_en"]) == ("not_run", french, english)
    assert (req["verdict"], req["reason"], req["reason_en"]) == ("not_run", french, english)
    harness = {h["id"]: h for h in results["harness_checks"]}["HARNESS.CONTRACT"]
    assert (harness["verdict"], harness["reason"], harness["reason_en"]) == (
        "not_run", "mode artefacts : pas de contrat à vérifier", "artefact mode: no contract to check")
    junit = (report / "junit-requirements.xml").read_text(encoding="utf-8")
    html = (report / "report.html").read_text(encoding="utf-8")
    for shown in (junit, html):
        assert english in shown.replace("&#x27;", "'").replace("&#39;", "'")
        assert "ne dit pas si l" not in shown


def _entry(rid: str, verdict: str, reason: str, reason_en: str | None) -> dict:
    req = syn.requirement(rid, rid.split(".")[1], verdict)
    req["reason"] = reason
    if reason_en is not None:
        req["reason_en"] = reason_en
    return req


def test_a_merge_keeps_the_english_reason_of_the_french_one_it_keeps() -> None:
    """The stronger verdict brings its reason in both languages; equal verdicts join both languages; inputs
    that never had ``reason_en`` get none."""
    skipped = _entry("DUI.INS.01", "not_run", "le candidat ne déclare pas la fonction INS (features.ins)",
                     "the candidate does not declare the INS function (features.ins)")
    error = _entry("DUI.INS.01", "error", "non évalué : kit absent", "not evaluated: kit missing")
    other_skip = _entry("DUI.INS.01", "not_run", "aucun document CDA collecté", "no CDA document collected")
    merged = merge_results([syn.results([skipped]), syn.results([error])]).results["requirements"][0]
    assert (merged["verdict"], merged["reason"], merged["reason_en"]) == (
        "error", "non évalué : kit absent", "not evaluated: kit missing")
    junit = junit_bytes(merge_results([syn.results([skipped]), syn.results([error])]).results, "en").decode()
    assert "not evaluated: kit missing" in junit and "features.ins" not in junit

    joined = merge_results([syn.results([skipped]), syn.results([other_skip])]).results["requirements"][0]
    assert joined["reason"] == ("le candidat ne déclare pas la fonction INS (features.ins); "
                                "aucun document CDA collecté")
    assert joined["reason_en"] == ("the candidate does not declare the INS function (features.ins); "
                                   "no CDA document collected")

    old = merge_results([syn.results([_entry("DUI.INS.01", "not_run", "motif a", None)]),
                         syn.results([_entry("DUI.INS.01", "error", "motif b", None)])]).results["requirements"][0]
    assert old["reason"] == "motif b" and "reason_en" not in old
