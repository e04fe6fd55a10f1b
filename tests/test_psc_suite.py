"""The shipped PSC suite through pytest itself: verdicts, defects caught, evidence on disk without secrets."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import pytest

from conformance.psc.redact import JWT_RE

# pytester's in-process runs drop the modules first imported inside them; cryptography's Rust bindings then
# see two copies of its classes ("must be a KeySerializationEncryption instance"). Import them out here.
for _name in ("cryptography.hazmat.primitives.serialization", "joserfc.jwk", "conformance.psc.scenarios",
              "conformance.suites._fixtures_psc", "segur_reference_dui.psc_rp", "segur_reference_dui.server",
              "conformance.report.render", "conformance.report.manifest"):
    try:
        importlib.import_module(_name)
    except ImportError:
        pass

CLIENT_SECRET = "secret-client-psc-de-test-0123456789"
RAW_PREFIXES = re.compile(r"psc-(code|at|rt|ciba)-[A-Za-z0-9_-]{8,}")
PSC_TESTS = 20


def run_suite(pytester: pytest.Pytester, report: Path, *args: str) -> pytest.RunResult:
    return pytester.runpytest("--pyargs", "conformance.suites", "-k", "test_psc_", "-p", "no:cacheprovider",
                              "--segur-report", str(report), *args)


def outcomes(report: Path) -> dict[str, str]:
    results = json.loads((report / "results.json").read_text(encoding="utf-8"))
    return {r["id"]: r["verdict"] for r in results["requirements"] if r["id"].startswith("SC.PSC.")}


def test_suite_passes_on_the_reference_sandbox_and_evidence_holds_no_secret(
        pytester: pytest.Pytester, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEGUR_PSC_CLIENT_SECRET", CLIENT_SECRET)
    report = tmp_path / "rapport"
    run_suite(pytester, report, "--sandbox-url", "reference").assert_outcomes(passed=PSC_TESTS)
    verdicts = outcomes(report)
    assert verdicts["SC.PSC.01"] == verdicts["SC.PSC.02"] == verdicts["SC.PSC.08"] == "passed"
    assert verdicts["SC.PSC.05"] == verdicts["SC.PSC.06"] == verdicts["SC.PSC.07"] == "manual"
    files = sorted((report / "evidence").rglob("psc-*.json"))
    assert len(files) == PSC_TESTS
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert CLIENT_SECRET not in text, path
        assert not RAW_PREFIXES.search(text), path
        assert not JWT_RE.search(text), path
        assert re.search(r'"authorization": "Basic \[masqué sha256:[0-9a-f]{8}\]"', text) or "nominal" not in path.name
    results = json.loads((report / "results.json").read_text(encoding="utf-8"))
    kinds = {e["kind"] for e in results["evidence"] if "psc-" in e["path"]}
    assert kinds == {"Transcription OIDC"}


def test_suite_catches_every_reference_rp_defect(pytester: pytest.Pytester, tmp_path: Path) -> None:
    defects = ["no_nonce_check", "no_signature_check", "accepts_any_aud", "ignores_acr", "state_not_checked"]
    args = ["--sandbox-url", "reference"] + [a for d in defects for a in ("--segur-defect", d)]
    result = run_suite(pytester, tmp_path / "r", *args)
    failed = {r.nodeid.split("::")[-1] for r in result.reprec.getreports("pytest_runtest_logreport")  # type: ignore[attr-defined]
              if r.when == "call" and r.failed}
    assert failed == {
        "test_psc_refuses_invalid_id_token[wrong_nonce]",
        "test_psc_refuses_invalid_id_token[bad_signature]",
        "test_psc_refuses_invalid_id_token[alg_none]",
        "test_psc_refuses_invalid_id_token[unknown_kid]",
        "test_psc_refuses_invalid_id_token[wrong_aud]",
        "test_psc_refuses_acr_other_than_eidas1",
        "test_psc_refuses_tampered_or_replayed_state[state_tampered]",
        "test_psc_refuses_tampered_or_replayed_state[state_reuse]",
        "test_psc_refuses_tampered_or_replayed_state[state_other_session]",
        "test_psc_key_rotation_is_followed",  # no_signature_check: no JWKS read after the rotation
    }
    assert outcomes(tmp_path / "r")["SC.PSC.01"] == "failed"
    assert outcomes(tmp_path / "r")["SC.PSC.02"] == "passed"


def test_suite_is_not_run_in_artefact_mode(pytester: pytest.Pytester, tmp_path: Path) -> None:
    folder = tmp_path / "artefacts"
    folder.mkdir()
    result = run_suite(pytester, tmp_path / "r", "--artefacts", str(folder))
    result.assert_outcomes(skipped=PSC_TESTS)
    verdicts = outcomes(tmp_path / "r")
    assert verdicts["SC.PSC.01"] == "not_run" and verdicts["SC.PSC.05"] == "manual"
