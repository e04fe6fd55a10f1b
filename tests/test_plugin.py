"""The pytest plugin end to end, through ``pytester``: markers, verdicts, results file, interruption."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

CATALOGUE = textwrap.dedent("""\
    section: INS
    requirements:
      - id: DUI.INS.01
        title: "Exigence automatisée A"
        statement: "Le système DOIT faire A."
        nature: EXIGENCE
        criticite: MAJEURE
        wave: 1
        corridors: [MS1, MS2-PDE, MS2-PDS]
        verified: I
        source: test
        scenarios:
          - id: DUI.INS.01.01
            title: "Scénario A"
            proofs:
              - id: DUI.INS.01.01.01
                kind: Log
                verification: ["A est fait"]
                method: automated
      - id: DUI.INS.02
        title: "Exigence automatisée B"
        statement: "Le système DOIT faire B."
        nature: EXIGENCE
        criticite: MAJEURE
        wave: 1
        corridors: [MS1]
        verified: I
        source: test
        scenarios:
          - id: DUI.INS.02.01
            title: "Scénario B"
            proofs:
              - id: DUI.INS.02.01.01
                kind: Log
                verification: ["B est fait"]
                method: automated
      - id: DUI.INS.03
        title: "Exigence à preuve manuelle"
        statement: "Le système DOIT documenter C."
        nature: PRECONISATION
        criticite: MINEURE
        wave: 1
        corridors: [MS1]
        verified: I
        source: test
        scenarios:
          - id: DUI.INS.03.01
            title: "Scénario C"
            proofs:
              - id: DUI.INS.03.01.01
                kind: Démonstration
                verification: ["vidéo"]
                method: manual
                manual_reason: "Vidéo de démonstration à fournir"
      - id: DUI.INS.04
        title: "Exigence non couverte"
        statement: "Le système DOIT faire D."
        nature: EXIGENCE
        criticite: MAJEURE
        wave: 1
        corridors: [MS1]
        verified: I
        source: test
        scenarios:
          - id: DUI.INS.04.01
            title: "Scénario D"
            proofs:
              - id: DUI.INS.04.01.01
                kind: Log
                verification: ["D"]
                method: automated
      - id: DUI.INS.05
        title: "Exigence d'un autre couloir"
        statement: "Le système DOIT faire E."
        nature: EXIGENCE
        criticite: MAJEURE
        wave: 1
        corridors: [MS2-PDE]
        verified: I
        source: test
        scenarios:
          - id: DUI.INS.05.01
            title: "Scénario E"
            proofs:
              - id: DUI.INS.05.01.01
                kind: Log
                verification: ["E"]
                method: automated
    """)


@pytest.fixture
def catalogue_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "catalogue"
    folder.mkdir()
    (folder / "ins.yaml").write_text(CATALOGUE, encoding="utf-8")
    monkeypatch.setenv("SEGUR_CATALOGUE_DIR", str(folder))
    from conformance import requirements

    cache_clear = getattr(requirements.load_catalogue, "cache_clear", None)
    if cache_clear:
        cache_clear()
    yield folder
    if cache_clear:
        cache_clear()


def _results(report: Path) -> dict:
    return json.loads((report / "results.json").read_text(encoding="utf-8"))


def _verdicts(results: dict) -> dict[str, str]:
    return {r["id"]: r["verdict"] for r in results["requirements"]}


def test_each_verdict_is_aggregated_from_marked_tests(pytester: pytest.Pytester, catalogue_dir: Path) -> None:
    pytester.makepyfile(textwrap.dedent("""
        import pytest
        from conformance.findings import error, warning

        @pytest.mark.requirement("DUI.INS.01")
        def test_a_passes(segur):
            segur.record([warning("juste un avertissement", "just a warning", rule="W1")])

        @pytest.mark.requirement("DUI.INS.01")
        def test_a_also_passes(segur):
            segur.record([])  # a check evaluated on the input that found nothing: a point that held

        @pytest.mark.requirement("DUI.INS.02")
        def test_b_fails_on_finding(segur):
            segur.record([error("B manquant", "B missing", rule="R.B", xpath="/x/b", line=4,
                                expected="b", found="")])
    """))
    report = pytester.path / "rep"
    result = pytester.runpytest("--segur-report", str(report), "--segur-profile", "MS1")
    result.assert_outcomes(passed=2, failed=1)
    data = _results(report)
    assert data["format"] == "segur-conformance-results"
    verdicts = _verdicts(data)
    assert verdicts == {"DUI.INS.01": "passed", "DUI.INS.02": "failed", "DUI.INS.03": "manual",
                        "DUI.INS.04": "not_run"}
    assert "DUI.INS.05" not in verdicts  # other corridor: not in the MS1 profile
    b = next(r for r in data["requirements"] if r["id"] == "DUI.INS.02")
    assert b["findings"][0]["rule"] == "R.B" and b["findings"][0]["line"] == 4
    assert b["findings"][0]["message_en"] == "B missing"
    a = next(r for r in data["requirements"] if r["id"] == "DUI.INS.01")
    assert len(a["tests"]) == 2 and a["findings"][0]["severity"] == "warning"
    manual = next(r for r in data["requirements"] if r["id"] == "DUI.INS.03")
    assert manual["scenarios"][0]["proofs"][0]["verdict"] == "manual"
    assert data["summary"]["mandatory_failed"] == 1
    result.stdout.fnmatch_lines(["*FAILED*DUI.INS.02*"])


def test_a_check_that_cannot_run_is_error_never_passed(pytester: pytest.Pytester, catalogue_dir: Path) -> None:
    pytester.makepyfile(textwrap.dedent("""
        import pytest

        @pytest.mark.requirement("DUI.INS.01")
        def test_not_evaluated(segur):
            segur.not_evaluated("jeu de valeurs absent", "value set missing")

        @pytest.mark.requirement("DUI.INS.01")
        def test_other_passes(segur):
            pass

        @pytest.mark.requirement("DUI.INS.02")
        def test_crash(segur):
            raise RuntimeError("validator crashed")

        @pytest.fixture
        def broken():
            raise ConnectionError("sandbox down")

        @pytest.mark.requirement("DUI.INS.04")
        def test_setup_error(broken):
            pass
    """))
    report = pytester.path / "rep"
    result = pytester.runpytest("--segur-report", str(report))
    assert result.ret != 0
    data = _results(report)
    verdicts = _verdicts(data)
    assert verdicts["DUI.INS.01"] == "error"  # one passing test cannot hide one that did not run
    assert verdicts["DUI.INS.02"] == "error"
    assert verdicts["DUI.INS.04"] == "error"
    a = next(r for r in data["requirements"] if r["id"] == "DUI.INS.01")
    assert "jeu de valeurs absent" in a["reason"]
    assert any(f["rule"] == "HARNESS.NOT_EVALUATED" for f in a["findings"])


def test_errors_recorded_before_a_check_gives_up_still_fail(pytester: pytest.Pytester,
                                                           catalogue_dir: Path) -> None:
    pytester.makepyfile(textwrap.dedent("""
        import pytest
        from conformance.findings import error
        from conformance.sandbox.client import SandboxUnsupported

        @pytest.mark.requirement("DUI.INS.01")
        def test_error_then_not_evaluated(segur):
            segur.record([error("premier document non conforme", "first document non-conformant")])
            segur.not_evaluated("le second n'a pas pu être lu", "the second could not be read")

        @pytest.mark.requirement("DUI.INS.02")
        def test_error_then_unsupported(segur):
            segur.record([error("premier envoi non conforme", "first send non-conformant")])
            raise SandboxUnsupported("pas de deuxième envoi", "no second send", 501)
    """))
    report = pytester.path / "rep"
    pytester.runpytest("--segur-report", str(report)).assert_outcomes(failed=2)
    verdicts = _verdicts(_results(report))
    assert verdicts["DUI.INS.01"] == "failed" and verdicts["DUI.INS.02"] == "failed"


def test_skipped_tests_give_not_run_with_reason(pytester: pytest.Pytester, catalogue_dir: Path) -> None:
    pytester.makepyfile(textwrap.dedent("""
        import pytest

        @pytest.mark.requirement("DUI.INS.01")
        def test_skipped(segur):
            pytest.skip("nécessite un bac à sable")
    """))
    report = pytester.path / "rep"
    pytester.runpytest("--segur-report", str(report)).assert_outcomes(skipped=1)
    entry = next(r for r in _results(report)["requirements"] if r["id"] == "DUI.INS.01")
    assert entry["verdict"] == "not_run"
    assert "nécessite un bac à sable" in entry["reason"]


def test_unknown_requirement_id_fails_collection(pytester: pytest.Pytester, catalogue_dir: Path) -> None:
    pytester.makepyfile(textwrap.dedent("""
        import pytest

        @pytest.mark.requirement("DUI.INS.99")
        def test_x():
            pass
    """))
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown requirement, scenario or proof id 'DUI.INS.99'*"])


def test_results_are_written_when_the_run_is_interrupted(pytester: pytest.Pytester,
                                                         catalogue_dir: Path) -> None:
    pytester.makepyfile(textwrap.dedent("""
        import pytest
        from conformance.findings import error

        @pytest.mark.requirement("DUI.INS.02")
        def test_first(segur):
            segur.record([error("constat avant interruption", "finding before interrupt")])

        @pytest.mark.requirement("DUI.INS.01")
        def test_interrupt():
            raise KeyboardInterrupt

        @pytest.mark.requirement("DUI.INS.04")
        def test_never_reached():
            pass
    """))
    report = pytester.path / "rep"
    # a real Ctrl-C must not reach the outer test run: run in a subprocess
    result = pytester.runpytest_subprocess("--segur-report", str(report))
    assert result.ret == pytest.ExitCode.INTERRUPTED
    data = _results(report)
    assert data["run"]["interrupted"] is True and data["run"]["complete"] is False
    assert _verdicts(data)["DUI.INS.02"] == "failed"
    assert _verdicts(data)["DUI.INS.04"] == "not_run"


def test_options_come_from_environment_and_ini(pytester: pytest.Pytester, catalogue_dir: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makeini("[pytest]\nsegur_lang = en\n")
    report = pytester.path / "from-env"
    monkeypatch.setenv("SEGUR_REPORT", str(report))
    monkeypatch.setenv("SEGUR_PROFILE", "MS2-PDE")
    pytester.makepyfile(textwrap.dedent("""
        import pytest

        @pytest.mark.requirement("DUI.INS.05")
        def test_e(segur):
            assert segur.lang == "en"
            segur.record([])
    """))
    pytester.runpytest().assert_outcomes(passed=1)
    data = _results(report)
    assert data["run"]["profile"] == "MS2-PDE" and data["run"]["lang"] == "en"
    assert _verdicts(data) == {"DUI.INS.01": "not_run", "DUI.INS.05": "passed"}


def test_bad_option_is_one_clear_line(pytester: pytest.Pytester, catalogue_dir: Path) -> None:
    pytester.makepyfile("def test_x():\n    pass\n")
    result = pytester.runpytest("--segur-lang", "de")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--segur-lang must be fr or en*"])
    assert "Traceback" not in result.stderr.str()


def test_plugin_is_inert_without_markers_or_options(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_plain():\n    assert True\n")
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    assert "segur-conformance —" not in result.stdout.str()  # no summary section
    assert not list(pytester.path.rglob("results.json"))


def test_evidence_is_stored_with_its_hash(pytester: pytest.Pytester, catalogue_dir: Path) -> None:
    pytester.makepyfile(textwrap.dedent("""
        import pytest

        @pytest.mark.requirement("DUI.INS.01")
        def test_with_evidence(segur):
            ref = segur.evidence("../../etc/passwd message.eml", b"From: a@b\\r\\n\\r\\nbody", kind="Source SMTP")
            assert ".." not in ref.path
    """))
    report = pytester.path / "rep"
    pytester.runpytest("--segur-report", str(report)).assert_outcomes(passed=1)
    data = _results(report)
    (ev,) = data["evidence"]
    assert ev["kind"] == "Source SMTP" and ev["path"].startswith("evidence/")
    import hashlib

    assert hashlib.sha256((report / ev["path"]).read_bytes()).hexdigest() == ev["sha256"]


def test_a_partial_run_says_so_in_the_results(pytester: pytest.Pytester, catalogue_dir: Path) -> None:
    pytester.makepyfile(textwrap.dedent("""
        import pytest

        @pytest.mark.requirement("DUI.INS.01")
        def test_alpha(segur):
            pass

        @pytest.mark.requirement("DUI.INS.02")
        def test_beta(segur):
            pass
    """))
    report = pytester.path / "rep"
    pytester.runpytest("--segur-report", str(report), "-k", "alpha").assert_outcomes(passed=1)
    data = _results(report)
    assert data["run"]["selection"] == "-k alpha"
    assert _verdicts(data)["DUI.INS.02"] == "not_run"
    assert "Campagne partielle" in (report / "report.html").read_text(encoding="utf-8")
