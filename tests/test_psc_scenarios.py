"""Relying-party scenarios end to end: mock provider ↔ harness browser ↔ reference sandbox (psc_rp).

The compliant reference RP must pass every scenario; each RP defect must make exactly its scenarios fail;
a candidate that stays silent, leaves the loopback interface or never reaches the trap must never pass.
"""

from __future__ import annotations

import ipaddress
import secrets
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from segur_reference_dui import psc_rp
from segur_reference_dui.defects import all_defects
from segur_reference_dui.server import serve

from conformance.psc.provider import ClientRegistration, MockPscProvider
from conformance.psc.scenarios import SCENARIOS, PscHarness, run_scenario
from conformance.sandbox.client import SandboxClient, SandboxError

EXPECTED_FAILURES = {
    "no_nonce_check": {"wrong_nonce"},
    # a login after the key rotation with no JWKS read: the new key's signature cannot have been checked
    "no_signature_check": {"bad_signature", "alg_none", "unknown_kid", "key_rotation"},
    "accepts_any_aud": {"wrong_aud"},
    "ignores_acr": {"acr_eidas2"},  # acr_missing is advisory: accepted → warning, not failure
    "state_not_checked": {"state_tampered", "state_reuse", "state_other_session"},
    "jwks_not_refetched": {"key_rotation"},
    "logout_without_id_token_hint": {"logout"},
    "accounts_matched_by_email": {"identity_by_rpps"},
}
EXPECTED_RULES = {  # the finding that names the flaw, for the defects caught by a positive scenario
    "jwks_not_refetched": "PSC.key_rotation.login",
    "logout_without_id_token_hint": "PSC.P15.id_token_hint",
    "accounts_matched_by_email": "PSC.identity_by_rpps.distinct",
}


@pytest.fixture(scope="module")
def provider() -> Iterator[MockPscProvider]:
    with MockPscProvider(ClientRegistration("segur-dui-test", secrets.token_urlsafe(32))) as idp:
        yield idp


@contextmanager
def wired(provider: MockPscProvider, defects: tuple[str, ...] = ()) -> Iterator[PscHarness]:
    with serve(defects=defects) as sandbox:
        harness = PscHarness(provider, sandbox.url, sandbox.url + "/psc/callback")
        harness.register()
        SandboxClient(sandbox.url).set_endpoints({"psc": harness.endpoint_config()})
        yield harness


@pytest.fixture(scope="module")
def compliant_sandbox(provider: MockPscProvider) -> Iterator[PscHarness]:
    with wired(provider) as harness:
        yield harness


@pytest.fixture
def compliant(compliant_sandbox: PscHarness) -> PscHarness:
    compliant_sandbox.register()  # other tests of the module re-register the shared provider
    return compliant_sandbox


def summary(result: Any) -> str:
    return "; ".join(f"[{f.severity.value}] {f.rule} {f.message} ({f.found})" for f in result.findings
                     if f.severity.value != "info") or "ok"


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_compliant_relying_party_passes(compliant: PscHarness, scenario: Any) -> None:
    result = run_scenario(scenario, compliant)
    assert result.not_evaluated is None, result.not_evaluated
    assert not result.errors, summary(result)
    if scenario.kind != "positive":
        assert any(f.rule.endswith(".refused") and f.severity.value == "info" for f in result.findings), \
            summary(result)
    assert result.transcript.startswith("{") and '"etapes"' in result.transcript


def test_defect_switches_are_declared() -> None:
    assert set(psc_rp.DEFECTS) == set(EXPECTED_FAILURES)
    registry = all_defects()
    assert all(registry[name][0] == "psc_rp" for name in EXPECTED_FAILURES)


@pytest.mark.parametrize("defect", sorted(EXPECTED_FAILURES))
def test_each_defect_fails_exactly_its_scenarios(provider: MockPscProvider, defect: str) -> None:
    failing: set[str] = set()
    warnings: dict[str, list[str]] = {}
    with wired(provider, (defect,)) as harness:
        for scenario in SCENARIOS:
            result = run_scenario(scenario, harness)
            assert result.not_evaluated is None, (scenario.id, result.not_evaluated)
            if result.errors:
                failing.add(scenario.id)
                expected = (EXPECTED_RULES[defect],) if defect in EXPECTED_RULES else (".accepted", ".rotation")
                assert any(f.rule.endswith(expected) for f in result.errors), summary(result)
            warnings[scenario.id] = [f.rule for f in result.findings if f.severity.value == "warning"]
    assert failing == EXPECTED_FAILURES[defect]
    if defect == "ignores_acr":
        assert "PSC.acr_missing.accepted" in warnings["acr_missing"]


# -- candidates that must never pass -------------------------------------------------------------
def test_silence_is_not_a_refusal(provider: MockPscProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    real_callback = psc_rp.PscRelyingParty.callback

    def mute(self: Any, query: dict[str, str], session_id: str) -> dict[str, Any]:
        answer = real_callback(self, query, session_id)
        return answer if answer["logged_in"] else {"logged_in": False, "error": None}

    monkeypatch.setattr(psc_rp.PscRelyingParty, "callback", mute)
    monkeypatch.setattr(psc_rp.PscRelyingParty, "session",
                        lambda self, sid: {"logged_in": False, "subject": None, "exercice": None, "error": None})
    with wired(provider) as harness:
        result = run_scenario("bad_signature", harness)
    assert [f.rule for f in result.errors] == ["PSC.bad_signature.silence"]
    assert "silence" in result.errors[0].message


def test_refusal_only_in_session_passes_with_a_warning(provider: MockPscProvider,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    real_callback = psc_rp.PscRelyingParty.callback

    def not_json(self: Any, query: dict[str, str], session_id: str) -> Any:
        real_callback(self, query, session_id)
        return "ok"  # not the contract's object

    monkeypatch.setattr(psc_rp.PscRelyingParty, "callback", not_json)
    with wired(provider) as harness:
        result = run_scenario("alg_none", harness)
    assert not result.errors, summary(result)
    assert any(f.rule == "PSC.alg_none.refused" and f.severity.value == "warning" for f in result.findings)


def test_trap_not_reached_is_not_evaluated(provider: MockPscProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(psc_rp.PscRelyingParty, "callback",
                        lambda self, query, sid: {"logged_in": False, "error": "je refuse tout"})
    with wired(provider) as harness:
        result = run_scenario("wrong_iss", harness)
        assert result.not_evaluated is not None and "token" in result.not_evaluated[0]
        assert not result.errors
        nominal = run_scenario("nominal", harness)
    assert any(f.rule == "PSC.nominal.login" for f in nominal.errors)


def test_state_trap_not_set_when_the_provider_refused_the_request(provider: MockPscProvider,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 12 item 3: the provider's error redirect echoes the original state; no trap, so no pass."""
    monkeypatch.setattr(psc_rp, "ACR", "eidas3")  # acr_values=eidas3: the provider refuses the authorization
    with wired(provider, ("state_not_checked",)) as harness:
        result = run_scenario("state_tampered", harness)
    assert result.not_evaluated is not None and "callback" in result.not_evaluated[0]
    assert not any(f.rule == "PSC.state_tampered.refused" for f in result.findings)
    authorize = next(s for s in result.steps if s.actor == "idp" and s.kind == "authorize")
    assert "error=" in authorize.response_headers["Location"]


def test_callback_http_error_is_not_a_refusal(provider: MockPscProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 12 item 1: the body says logged_in=false with a reason, but the status is 500: an error."""
    from segur_reference_dui import server

    real = server.SandboxApp.psc_callback

    def http_500(self: Any, req: Any) -> Any:
        status, body = real(self, req)
        return (500 if body.get("logged_in") is False else status), body

    monkeypatch.setattr(server.SandboxApp, "psc_callback", http_500)
    with wired(provider) as harness:
        result = run_scenario("wrong_iss", harness)
        nominal = run_scenario("nominal", harness)
    assert [f.rule for f in result.errors] == ["PSC.wrong_iss.http_error"]
    assert not any(f.rule == "PSC.wrong_iss.refused" for f in result.findings)
    assert not nominal.errors


def test_subject_must_be_the_national_id(provider: MockPscProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    real_session = psc_rp.PscRelyingParty.session

    def by_sub(self: Any, sid: str) -> dict[str, Any]:
        answer = real_session(self, sid)
        with self._lock:
            session = self._sessions.get(sid)
        if answer["logged_in"] and session is not None:
            answer["subject"] = session.claims["sub"]
        return answer

    monkeypatch.setattr(psc_rp.PscRelyingParty, "session", by_sub)
    with wired(provider) as harness:
        result = run_scenario("nominal", harness)
    errors = [f for f in result.errors if f.rule == "PSC.P4.subject"]
    assert errors and "sub technique" in errors[0].message


class LoopbackGuard:
    """Fail any outgoing connection (or name lookup) that is not on the loopback interface."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.seen: list[str] = []
        real_connect = socket.socket.connect
        real_getaddrinfo = socket.getaddrinfo
        guard = self

        def connect(sock: socket.socket, address: Any) -> Any:
            host = address[0] if isinstance(address, tuple) else str(address)
            guard.seen.append(str(host))
            if isinstance(address, tuple) and not ipaddress.ip_address(host).is_loopback:
                raise AssertionError(f"connection outside loopback: {address}")
            return real_connect(sock, address)

        def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
            if host not in ("127.0.0.1", "localhost", "::1", None):
                raise AssertionError(f"name lookup outside loopback: {host}")
            return real_getaddrinfo(host, *args, **kwargs)

        monkeypatch.setattr(socket.socket, "connect", connect)
        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def test_hard_coded_production_url_is_reported_and_not_followed(provider: MockPscProvider,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(psc_rp.PscRelyingParty, "login", lambda self, sid: {
        "authorization_url": "https://wallet.esw.esante.gouv.fr/auth?response_type=code&client_id=x"})
    with wired(provider) as harness:
        guard = LoopbackGuard(monkeypatch)
        result = run_scenario("nominal", harness)
    assert any(f.rule == "PSC.nominal.discovery" for f in result.errors), summary(result)
    assert guard.seen and all(ipaddress.ip_address(h).is_loopback for h in guard.seen)
    assert '"refused"' in result.transcript


def test_a_whole_scenario_stays_on_loopback(compliant: PscHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    guard = LoopbackGuard(monkeypatch)
    for scenario_id in ("nominal", "logout", "state_reuse", "state_other_session"):
        assert not run_scenario(scenario_id, compliant).errors
    assert len(guard.seen) > 5


def test_hs256_registration_like_the_ans_connector(monkeypatch: pytest.MonkeyPatch) -> None:
    """An RP registered for HS256 (id_token signed with the client secret) gets the same verdicts."""
    registration = ClientRegistration("dui-hs256", secrets.token_urlsafe(32), id_token_alg="HS256")
    with MockPscProvider(registration) as idp, wired(idp) as harness:
        assert harness.endpoint_config()["id_token_signed_response_alg"] == "HS256"
        for scenario_id in ("nominal", "bad_signature", "alg_none", "unknown_kid", "wrong_nonce", "key_rotation"):
            result = run_scenario(scenario_id, harness)
            assert not result.errors and result.not_evaluated is None, summary(result)
            if scenario_id == "key_rotation":  # the rotated key signs the userinfo JWT: a real JWKS refetch
                assert any(f.rule == "PSC.key_rotation.rotation" and f.severity.value == "info"
                           for f in result.findings), summary(result)
                assert result.answers["keys_restored"] is True
        token = next(s for s in result.steps if s.kind == "token").json_body()
        assert token is not None
    with MockPscProvider(registration) as idp, wired(idp, ("no_signature_check",)) as harness:
        assert {f.rule for f in run_scenario("bad_signature", harness).errors} == {"PSC.bad_signature.accepted"}


def test_oversized_candidate_answers_are_bounded(compliant: PscHarness, monkeypatch: pytest.MonkeyPatch) -> None:
    from conformance.psc import browser as browser_module

    monkeypatch.setattr(browser_module, "MAX_RESPONSE", 64)
    browser = compliant.browser()
    with pytest.raises(SandboxError):  # a truncated answer is not the contract's JSON: not evaluated
        browser.start_login()
    assert "tronquée" in browser.steps[-1].note and len(browser.steps[-1].response_body) <= 64
