"""The PSC suite against a relying party nobody here wrote the checks of (tests/data/psc/independent_rp.py).

That relying party runs on Authlib (OAuth 2.0 client) and PyJWT (JOSE), not on joserfc like the harness and
its reference sandbox. The strict one must pass every PSC requirement, and each one-flaw variant must fail
at least one — exactly the tests that speak of its flaw —, whatever the order of the tests (issue 12, items
1 to 5 and 18).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

# pytester's in-process runs drop the modules first imported inside them (see tests/test_psc_suite.py)
for _name in ("cryptography.hazmat.primitives.serialization", "joserfc.jwk", "jwt", "authlib.integrations.requests_client",
              "conformance.psc.scenarios", "conformance.suites._fixtures_psc", "conformance.report.render",
              "conformance.report.manifest"):
    importlib.import_module(_name)

HERE = Path(__file__).parent


def _load_rp() -> ModuleType:
    spec = importlib.util.spec_from_file_location("independent_psc_rp", HERE / "data" / "psc" / "independent_rp.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


irp = _load_rp()

PSC_TESTS = 20
NEGATIVE = {f"test_psc_refuses_invalid_id_token[{s}]" for s in
            ("bad_signature", "alg_none", "wrong_iss", "wrong_aud", "expired", "iat_future", "wrong_nonce",
             "unknown_kid")} | {
    "test_psc_refuses_acr_other_than_eidas1",
    "test_psc_refuses_tampered_or_replayed_state[state_tampered]",
    "test_psc_refuses_tampered_or_replayed_state[state_reuse]",
    "test_psc_refuses_tampered_or_replayed_state[state_other_session]",
    "test_psc_refuses_invalid_userinfo[userinfo_sub_differs]",
    "test_psc_refuses_invalid_userinfo[userinfo_bad_signature]",
}
# flaw -> the tests it must fail (and no other)
EXPECTED = {
    "refusal_as_http_500": NEGATIVE,  # item 1: an HTTP 500 is never a refusal
    "jwks_never_refetched": {"test_psc_key_rotation_is_followed"},  # item 2
    "no_signature_check": {"test_psc_key_rotation_is_followed", "test_psc_refuses_invalid_id_token[bad_signature]",
                           "test_psc_refuses_invalid_id_token[alg_none]",
                           "test_psc_refuses_invalid_id_token[unknown_kid]"},  # item 2: no JWKS read, no check
    "no_state_check": {"test_psc_refuses_tampered_or_replayed_state[state_tampered]",
                       "test_psc_refuses_tampered_or_replayed_state[state_reuse]"},  # state_other_session: PKCE
    "state_reusable": {"test_psc_refuses_tampered_or_replayed_state[state_reuse]"},  # item 4
    "state_not_bound": {"test_psc_refuses_tampered_or_replayed_state[state_other_session]"},  # item 4
    "no_nonce": {"test_psc_nominal_login", "test_psc_refuses_invalid_id_token[wrong_nonce]"},  # item 4
    "no_pkce_no_nonce": {"test_psc_nominal_login", "test_psc_refuses_invalid_id_token[wrong_nonce]"},  # item 5
    "ignores_acr": {"test_psc_refuses_acr_other_than_eidas1"},
    "ignores_aud": {"test_psc_refuses_invalid_id_token[wrong_aud]"},
    "no_id_token_hint": {"test_psc_logout_through_end_session"},
    "subject_by_email": {"test_psc_professional_identified_by_subject_name_id"},
}
REVERSE_PLUGIN = '''
def pytest_collection_modifyitems(items):
    items.reverse()
'''


@pytest.fixture
def reversed_order(pytester: pytest.Pytester) -> list[str]:
    pytester.makepyfile(psc_reverse_order=REVERSE_PLUGIN)
    pytester.syspathinsert()
    return ["-p", "psc_reverse_order"]


def run_suite(pytester: pytest.Pytester, url: str, report: Path, *args: str) -> pytest.RunResult:
    return pytester.runpytest("--pyargs", "conformance.suites", "-k", "test_psc_", "-p", "no:cacheprovider",
                              "--sandbox-url", url, "--segur-profile", "MS1", "--segur-report", str(report), *args)


def failed_tests(result: pytest.RunResult) -> set[str]:
    return {r.nodeid.split("::")[-1] for r in result.reprec.getreports("pytest_runtest_logreport")  # type: ignore[attr-defined]
            if r.when == "call" and r.failed}


def psc_verdicts(report: Path) -> dict[str, str]:
    results = json.loads((report / "results.json").read_text(encoding="utf-8"))
    return {r["id"]: r["verdict"] for r in results["requirements"] if r["id"].startswith("SC.PSC.")}


def findings(report: Path) -> list[dict[str, object]]:
    results = json.loads((report / "results.json").read_text(encoding="utf-8"))
    return [f for r in results["requirements"] for f in r.get("findings", [])]


def test_every_flaw_is_listed() -> None:
    assert set(EXPECTED) | {"no_pkce"} == set(irp.FLAWS)


@pytest.mark.parametrize("order", ["collected", "reversed"])
def test_strict_independent_rp_passes_every_psc_requirement(pytester: pytest.Pytester, tmp_path: Path,
                                                             reversed_order: list[str], order: str) -> None:
    with irp.RunningRp() as rp:
        extra = reversed_order if order == "reversed" else []
        run_suite(pytester, rp.url, tmp_path / "r", *extra).assert_outcomes(passed=PSC_TESTS)
    verdicts = psc_verdicts(tmp_path / "r")
    assert verdicts["SC.PSC.01"] == verdicts["SC.PSC.02"] == verdicts["SC.PSC.08"] == "passed"


@pytest.mark.parametrize("flaw", sorted(EXPECTED))
def test_each_flaw_fails_exactly_its_tests(pytester: pytest.Pytester, tmp_path: Path, flaw: str) -> None:
    with irp.RunningRp(flaw) as rp:
        result = run_suite(pytester, rp.url, tmp_path / "r")
    assert failed_tests(result) == EXPECTED[flaw]
    assert "failed" in {psc_verdicts(tmp_path / "r")[r] for r in ("SC.PSC.01", "SC.PSC.02", "SC.PSC.08")}


def test_rotated_key_does_not_leak_into_later_tests(pytester: pytest.Pytester, tmp_path: Path,
                                                    reversed_order: list[str]) -> None:
    """A relying party that never refetches the JWKS fails the rotation test only, in any order or selection."""
    with irp.RunningRp("jwks_never_refetched") as rp:
        reversed_run = run_suite(pytester, rp.url, tmp_path / "rev", *reversed_order)
        selected = run_suite(pytester, rp.url, tmp_path / "sel", "-k",
                             "test_psc_key_rotation or test_psc_nominal or test_psc_logout or wrong_iss")
    assert failed_tests(reversed_run) == {"test_psc_key_rotation_is_followed"}
    assert failed_tests(selected) == {"test_psc_key_rotation_is_followed"}
    selected.assert_outcomes(passed=3, failed=1)


def test_missing_pkce_with_a_nonce_only_warns(pytester: pytest.Pytester, tmp_path: Path) -> None:
    """Item 5: PSC does not require PKCE; RFC 9700 §2.1.1 lets a confidential client rely on the nonce."""
    with irp.RunningRp("no_pkce") as rp:
        run_suite(pytester, rp.url, tmp_path / "r").assert_outcomes(passed=PSC_TESTS)
    assert psc_verdicts(tmp_path / "r")["SC.PSC.01"] == "passed"
    warned = [f for f in findings(tmp_path / "r") if f.get("rule") == "PSC.P2.code_challenge"]
    assert warned and all(f.get("severity") == "warning" for f in warned)
