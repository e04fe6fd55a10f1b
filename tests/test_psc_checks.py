"""The PSC points of verification over recorded steps: each passes on a good request, fails on a bad one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from conformance.findings import Severity
from conformance.psc import checks, professionals
from conformance.psc.provider import CIBA_GRANT, ClientRegistration, MockPscProvider
from conformance.psc.transcript import Step

CLIENT = ClientRegistration("dui", "s3cret-s3cret", redirect_uris=("http://127.0.0.1:9/cb",),
                            post_logout_redirect_uris=("http://127.0.0.1:9/cb",))
GOOD_QUERY = {"response_type": "code", "client_id": "dui", "redirect_uri": "http://127.0.0.1:9/cb",
              "scope": "openid scope_all", "acr_values": "eidas1", "state": "s" * 43, "nonce": "n" * 64,
              "code_challenge": "c" * 43, "code_challenge_method": "S256"}


def step(kind: str, *, url: str = "", status: int = 200, **kw: Any) -> Step:
    paths = {"authorize": "/wallet/auth", "token": "/auth/realms/esante-wallet/protocol/openid-connect/token",
             "discovery": "/auth/realms/esante-wallet/.well-known/wallet-openid-configuration",
             "discovery_standard": "/auth/realms/esante-wallet/.well-known/openid-configuration",
             "userinfo": "/auth/realms/esante-wallet/protocol/openid-connect/userinfo"}
    return Step(seq=0, actor="idp", kind=kind, method="GET" if kind != "token" else "POST",
                url=url or "http://127.0.0.1:1" + paths.get(kind, "/x"), status=status, **kw)


def rules(findings: list[Any], severity: Severity) -> set[str]:
    return {f.rule for f in findings if f.severity is severity}


def test_discovery_wallet_standard_or_none() -> None:
    assert rules(checks.check_discovery([step("discovery")]), Severity.INFO) == {"PSC.P1.discovery"}
    standard = checks.check_discovery([step("discovery_standard")])
    assert standard[0].severity is Severity.WARNING and "wallet" in standard[0].message
    nothing = checks.check_discovery([step("authorize")])
    assert nothing[0].severity is Severity.ERROR and nothing[0].message_en


def test_authorize_good_request_has_no_error() -> None:
    findings = checks.check_authorize(step("authorize", query=dict(GOOD_QUERY), status=302), CLIENT,
                                      requirements=("SC.PSC.01",), acr_requirements=("SC.PSC.08",))
    assert not [f for f in findings if f.severity is not Severity.INFO]
    acr = next(f for f in findings if f.rule == "PSC.P2.acr_values")
    assert acr.requirements == ("SC.PSC.08",) and acr.expected == "eidas1"


@pytest.mark.parametrize("change, rule, severity", [
    ({"acr_values": None}, "PSC.P2.acr_values", Severity.ERROR),
    ({"acr_values": "eidas2"}, "PSC.P2.acr_values", Severity.ERROR),
    ({"response_type": "id_token"}, "PSC.P2.response_type", Severity.ERROR),
    ({"scope": "profile"}, "PSC.P2.scope", Severity.ERROR),
    ({"scope": "openid"}, "PSC.P2.scope", Severity.WARNING),
    ({"state": None}, "PSC.P2.state", Severity.ERROR),
    ({"nonce": None}, "PSC.P2.nonce", Severity.ERROR),
    ({"nonce": "1234"}, "PSC.P2.nonce", Severity.WARNING),
    ({"code_challenge": None, "code_challenge_method": None}, "PSC.P2.code_challenge", Severity.WARNING),
    # RFC 9700 §2.1.1: without PKCE, the nonce is the only protection against code injection
    ({"code_challenge": None, "code_challenge_method": None, "nonce": None}, "PSC.P2.code_challenge",
     Severity.ERROR),
    ({"code_challenge_method": "plain"}, "PSC.P2.code_challenge_method", Severity.WARNING),
    ({"redirect_uri": "http://127.0.0.1:9/autre"}, "PSC.P2.redirect_uri", Severity.ERROR),
    ({"client_id": "autre"}, "PSC.P2.client_id", Severity.ERROR),
])
def test_authorize_bad_requests(change: dict[str, Any], rule: str, severity: Severity) -> None:
    query = {k: v for k, v in {**GOOD_QUERY, **change}.items() if v is not None}
    findings = checks.check_authorize(step("authorize", query=query, status=302), CLIENT)
    assert rule in rules(findings, severity), [(f.rule, f.severity) for f in findings]


def test_authorize_refused_by_provider_is_an_error() -> None:
    findings = checks.check_authorize(step("authorize", query=dict(GOOD_QUERY), status=400), CLIENT)
    assert "PSC.P2.accepted" in rules(findings, Severity.ERROR)


def test_token_request_checks() -> None:
    authorize = step("authorize", query=dict(GOOD_QUERY), status=302)
    form = {"grant_type": "authorization_code", "code": "c", "redirect_uri": GOOD_QUERY["redirect_uri"],
            "code_verifier": "v" * 43}
    good = checks.check_token_request(step("token", form=form, request_headers={"authorization": "Basic eA=="}),
                                      authorize)
    assert not [f for f in good if f.is_error]
    assert any(f.found == "client_secret_basic" for f in good)
    no_auth = checks.check_token_request(step("token", form=form, status=401), authorize)
    assert {"PSC.P3.client_auth", "PSC.P3.accepted"} <= rules(no_auth, Severity.ERROR)
    no_verifier = {k: v for k, v in form.items() if k != "code_verifier"}
    missing = checks.check_token_request(step("token", form={**no_verifier, "client_secret": "x"}), authorize)
    assert "PSC.P3.code_verifier" in rules(missing, Severity.ERROR)
    other_uri = checks.check_token_request(
        step("token", form={**form, "redirect_uri": "http://x/y", "client_secret": "x"}), authorize)
    assert "PSC.P3.redirect_uri" in rules(other_uri, Severity.ERROR)


def test_userinfo_bearer_check() -> None:
    ok = checks.check_userinfo_request(step("userinfo", request_headers={"authorization": "Bearer abc"}))
    assert ok[0].severity is Severity.INFO
    query = checks.check_userinfo_request(step("userinfo", query={"access_token": "abc"}))
    assert query[0].severity is Severity.WARNING


def test_identity_check_explains_sub_and_email_confusions() -> None:
    pro = professionals.by_key("ide-ehpad")
    good = checks.check_identity({"subject": pro.subject_name_id, "exercice": pro.exercice_summary()},
                                 pro.subject_name_id, pro.exercice_summary())
    assert all(f.severity is Severity.INFO for f in good)
    by_sub = checks.check_identity({"subject": pro.keycloak_sub, "exercice": None}, pro.subject_name_id,
                                   pro.exercice_summary(), sub=pro.keycloak_sub, email=pro.email)
    assert "sub technique" in by_sub[0].message and by_sub[0].is_error
    assert by_sub[1].severity is Severity.WARNING  # exercice missing
    by_mail = checks.check_identity({"subject": pro.email}, pro.subject_name_id, pro.exercice_summary(),
                                    email=pro.email)
    assert "adresse électronique" in by_mail[0].message


def test_logout_check() -> None:
    end = "http://127.0.0.1:1/auth/realms/esante-wallet/protocol/openid-connect/logout"
    good_url = f"{end}?id_token_hint=a.b.c&post_logout_redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb&state=x"
    good = checks.check_logout({"end_session_url": good_url}, good_url, end, ["a.b.c"], CLIENT)
    assert not [f for f in good if f.severity is not Severity.INFO]
    none = checks.check_logout({"end_session_url": None}, "", end, ["a.b.c"], CLIENT)
    assert none[0].is_error
    bad_url = "http://127.0.0.1:1/ailleurs?id_token_hint=z.z.z&post_logout_redirect_uri=http%3A%2F%2Fevil.test%2F"
    bad = checks.check_logout({"end_session_url": bad_url}, bad_url, end, ["a.b.c"], CLIENT)
    assert {"PSC.P15.end_session", "PSC.P15.id_token_hint", "PSC.P15.post_logout_redirect_uri"} <= rules(
        bad, Severity.ERROR)
    no_target = f"{end}?id_token_hint=a.b.c"
    assert "PSC.P15.post_logout_redirect_uri" in rules(
        checks.check_logout({"end_session_url": no_target}, no_target, end, ["a.b.c"], CLIENT), Severity.WARNING)


# -- CIBA: a real client loop against the provider with a fake clock ----------------------------
class FakeClock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def ciba_idp() -> Iterator[tuple[MockPscProvider, FakeClock]]:
    clock = FakeClock()
    with MockPscProvider(ClientRegistration("dui", "s3cret-s3cret"), clock=clock) as provider:
        provider.configure(ciba_pending_polls=2, ciba_interval=5)
        yield provider, clock


def run_ciba_client(provider: MockPscProvider, clock: FakeClock, *, wait: float | None, binding: str = "DUI",
                    polls_after_end: int = 0) -> None:
    """A CIBA client: waits ``interval`` between polls (or ``wait`` s if given), honours slow_down."""
    http = requests.Session()
    http.trust_env = False
    pro = professionals.by_key("medco-ehpad")
    start = http.post(provider.endpoint("ciba_auth"), auth=("dui", "s3cret-s3cret"), timeout=5,
                      data={"scope": "openid scope_all", "login_hint": pro.subject_name_id,
                            "binding_message": binding}).json()
    interval = start["interval"]
    for _ in range(10):
        answer = http.post(provider.endpoint("token"), auth=("dui", "s3cret-s3cret"), timeout=5,
                           data={"grant_type": CIBA_GRANT, "auth_req_id": start["auth_req_id"]})
        error = answer.json().get("error")
        if error == "slow_down":
            interval += 5
        if answer.status_code == 200 or error in ("access_denied", "expired_token", "invalid_grant"):
            break
        clock.now += wait if wait is not None else interval
    for _ in range(polls_after_end):
        clock.now += 60
        http.post(provider.endpoint("token"), auth=("dui", "s3cret-s3cret"), timeout=5,
                  data={"grant_type": CIBA_GRANT, "auth_req_id": start["auth_req_id"]})
    http.close()


def test_ciba_client_that_respects_interval_passes(ciba_idp: tuple[MockPscProvider, FakeClock]) -> None:
    provider, clock = ciba_idp
    run_ciba_client(provider, clock, wait=None)
    findings = checks.check_ciba_client(provider.exchanges())
    assert not [f for f in findings if f.severity is not Severity.INFO], findings
    assert "PSC.P17.polling" in rules(findings, Severity.INFO)


def test_ciba_client_polling_too_fast_fails(ciba_idp: tuple[MockPscProvider, FakeClock]) -> None:
    provider, clock = ciba_idp
    run_ciba_client(provider, clock, wait=1, binding="")
    findings = checks.check_ciba_client(provider.exchanges())
    assert "PSC.P17.interval" in rules(findings, Severity.ERROR)
    assert "PSC.P17.binding_message" in rules(findings, Severity.WARNING)


def test_ciba_client_polling_after_the_end_fails(ciba_idp: tuple[MockPscProvider, FakeClock]) -> None:
    provider, clock = ciba_idp
    provider.configure(ciba_outcome="deny", ciba_pending_polls=0, ciba_interval=5)
    run_ciba_client(provider, clock, wait=None, polls_after_end=1)
    assert "PSC.P17.terminal" in rules(checks.check_ciba_client(provider.exchanges()), Severity.ERROR)


def test_no_ciba_request_is_an_error() -> None:
    assert checks.check_ciba_client([])[0].is_error

