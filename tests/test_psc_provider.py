"""The mock Pro Santé Connect provider as a real HTTP server: every endpoint, good and bad requests."""

from __future__ import annotations

import base64
import json
import secrets
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from conformance.psc import professionals
from conformance.psc.provider import CIBA_GRANT, JWT_BEARER, ClientRegistration, MockPscProvider
from conformance.psc.signing import pkce_s256

CB = "http://127.0.0.1:9/segur/v1/psc/callback"
SECRET = "secret-de-test-" + "x" * 16


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="module")
def client_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "cle-client", "alg": "RS256"})


@pytest.fixture(scope="module")
def idp(client_key: RSAKey) -> Iterator[MockPscProvider]:
    registration = ClientRegistration("dui-test", SECRET, redirect_uris=(CB,), post_logout_redirect_uris=(CB,),
                                      jwks=KeySet([client_key]).as_dict(private=False))
    with MockPscProvider(registration) as provider:
        yield provider


@pytest.fixture(autouse=True)
def nominal(idp: MockPscProvider) -> Iterator[None]:
    idp.configure()
    yield
    idp.configure()


def authorize(idp: MockPscProvider, http: requests.Session, **overrides: str) -> tuple[requests.Response, str]:
    verifier = secrets.token_urlsafe(48)
    params = {"client_id": "dui-test", "redirect_uri": CB, "response_type": "code", "scope": "openid scope_all",
              "acr_values": "eidas1", "state": "etat-" + secrets.token_hex(8), "nonce": "nonce-" + secrets.token_hex(8),
              "code_challenge": pkce_s256(verifier), "code_challenge_method": "S256", **overrides}
    params = {k: v for k, v in params.items() if v != "<absent>"}
    return http.get(idp.endpoint("authorize"), params=params, allow_redirects=False, timeout=5), verifier


def returned(resp: requests.Response) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(resp.headers["Location"]).query).items()}


def login(idp: MockPscProvider, http: requests.Session, **token_form: str) -> dict[str, Any]:
    resp, verifier = authorize(idp, http)
    code = returned(resp)["code"]
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": CB, "code_verifier": verifier}
    form.update(token_form)
    token = http.post(idp.endpoint("token"), data=form, auth=("dui-test", SECRET), timeout=5)
    assert token.status_code == 200, token.text
    return dict(token.json())


def claims_of(token: str) -> dict[str, Any]:
    part = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))


def header_of(token: str) -> dict[str, Any]:
    part = token.split(".")[0]
    return dict(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))


# -- discovery and keys --------------------------------------------------------------------------
def test_binds_loopback_on_an_ephemeral_port(idp: MockPscProvider) -> None:
    assert idp.base_url.startswith("http://127.0.0.1:") and not idp.base_url.endswith(":0")
    with pytest.raises(ValueError):
        MockPscProvider(ClientRegistration("x", "y"), host="0.0.0.0")


def test_wallet_discovery_advertises_psc_layout(idp: MockPscProvider, http: requests.Session) -> None:
    doc = http.get(idp.discovery_url, timeout=5).json()
    assert idp.discovery_url.endswith("/auth/realms/esante-wallet/.well-known/wallet-openid-configuration")
    assert doc["issuer"] == idp.issuer
    assert doc["authorization_endpoint"].endswith("/wallet/auth")  # not under the issuer, as on PSC
    assert doc["acr_values_supported"] == ["eidas1"]
    assert "S256" in doc["code_challenge_methods_supported"]
    assert doc["backchannel_token_delivery_modes_supported"] == ["poll", "ping"]
    assert {"client_secret_basic", "client_secret_post", "private_key_jwt"} <= set(
        doc["token_endpoint_auth_methods_supported"])
    assert http.get(idp.issuer + "/.well-known/openid-configuration", timeout=5).status_code == 200
    kinds = [s.kind for s in idp.exchanges()]
    assert "discovery" in kinds and "discovery_standard" in kinds


def test_jwks_is_public_only_and_rotation_keeps_the_previous_key(http: requests.Session) -> None:
    with MockPscProvider(ClientRegistration("a", "b")) as provider:
        first = http.get(provider.endpoint("jwks"), timeout=5).json()["keys"]
        assert len(first) == 1 and "d" not in first[0] and first[0]["kty"] == "RSA"
        new_kid = provider.rotate_keys()
        after = http.get(provider.endpoint("jwks"), timeout=5).json()["keys"]
        assert [k["kid"] for k in after] == [new_kid, first[0]["kid"]]
        provider.rotate_keys()
        assert first[0]["kid"] not in [k["kid"] for k in http.get(provider.endpoint("jwks"), timeout=5).json()["keys"]]


# -- authorize -----------------------------------------------------------------------------------
def test_authorize_auto_authenticates_and_redirects_with_code_and_state(idp: MockPscProvider,
                                                                        http: requests.Session) -> None:
    resp, _ = authorize(idp, http, state="etat-123456789012345")
    assert resp.status_code == 302 and resp.headers["Location"].startswith(CB + "?")
    back = returned(resp)
    assert back["state"] == "etat-123456789012345" and back["code"].startswith("psc-code-")


@pytest.mark.parametrize("overrides, error", [
    ({"acr_values": "<absent>"}, "invalid_request"),
    ({"acr_values": "eidas2"}, "invalid_request"),
    ({"response_type": "token"}, "unsupported_response_type"),
    ({"scope": "scope_all"}, "invalid_scope"),
    ({"code_challenge_method": "S512"}, "invalid_request"),
])
def test_authorize_errors_go_back_to_the_client(idp: MockPscProvider, http: requests.Session,
                                                overrides: dict[str, str], error: str) -> None:
    resp, _ = authorize(idp, http, **overrides)
    assert resp.status_code == 302 and returned(resp)["error"] == error


@pytest.mark.parametrize("overrides", [{"client_id": "inconnu"}, {"redirect_uri": "http://127.0.0.1:9/ailleurs"},
                                       {"redirect_uri": "<absent>"}])
def test_authorize_never_redirects_to_an_unregistered_uri(idp: MockPscProvider, http: requests.Session,
                                                          overrides: dict[str, str]) -> None:
    resp, _ = authorize(idp, http, **overrides)
    assert resp.status_code == 400 and "Location" not in resp.headers
    assert "text/html" in resp.headers["Content-Type"]


def test_tampered_state_switch(idp: MockPscProvider, http: requests.Session) -> None:
    idp.configure(state="tampered")
    resp, _ = authorize(idp, http, state="etat-original-0000000")
    assert returned(resp)["state"] != "etat-original-0000000"


# -- token ---------------------------------------------------------------------------------------
def test_token_with_basic_auth_and_pkce_gives_a_valid_id_token(idp: MockPscProvider, http: requests.Session) -> None:
    tokens = login(idp, http)
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 120
    token = jwt.decode(tokens["id_token"], idp.keys.verification_set(), algorithms=["RS256"])
    claims = token.claims
    pro = professionals.by_key(professionals.DEFAULT_PROFESSIONAL)
    assert claims["iss"] == idp.issuer and claims["aud"] == "dui-test" and claims["acr"] == "eidas1"
    assert claims["sub"] == pro.keycloak_sub and claims["preferred_username"] == pro.subject_name_id
    assert claims["nonce"].startswith("nonce-") and claims["exp"] - claims["iat"] == 120


def test_token_with_client_secret_post(idp: MockPscProvider, http: requests.Session) -> None:
    resp, verifier = authorize(idp, http)
    form = {"grant_type": "authorization_code", "code": returned(resp)["code"], "redirect_uri": CB,
            "code_verifier": verifier, "client_id": "dui-test", "client_secret": SECRET}
    assert http.post(idp.endpoint("token"), data=form, timeout=5).status_code == 200


def test_token_with_private_key_jwt_and_assertion_replay(idp: MockPscProvider, http: requests.Session,
                                                         client_key: RSAKey) -> None:
    now = int(time.time())
    assertion = jwt.encode({"alg": "RS256", "kid": "cle-client"},
                           {"iss": "dui-test", "sub": "dui-test", "aud": idp.endpoint("token"), "exp": now + 60,
                            "iat": now, "jti": uuid.uuid4().hex}, client_key)
    for expected in (200, 401):  # the same jti twice: replay refused
        resp, verifier = authorize(idp, http)
        form = {"grant_type": "authorization_code", "code": returned(resp)["code"], "redirect_uri": CB,
                "code_verifier": verifier, "client_assertion_type": JWT_BEARER, "client_assertion": assertion}
        answer = http.post(idp.endpoint("token"), data=form, timeout=5)
        assert answer.status_code == expected, answer.text
    assert "jti" in answer.json()["error_description"]


@pytest.mark.parametrize("change, status, error", [
    ({"code_verifier": "faux-" + "v" * 50}, 400, "invalid_grant"),
    ({"code_verifier": ""}, 400, "invalid_grant"),
    ({"redirect_uri": "http://127.0.0.1:9/autre"}, 400, "invalid_grant"),
    ({"code": "psc-code-inconnu"}, 400, "invalid_grant"),
    ({"grant_type": "password"}, 400, "unsupported_grant_type"),
])
def test_token_refuses_bad_exchanges(idp: MockPscProvider, http: requests.Session, change: dict[str, str],
                                     status: int, error: str) -> None:
    resp, verifier = authorize(idp, http)
    form = {"grant_type": "authorization_code", "code": returned(resp)["code"], "redirect_uri": CB,
            "code_verifier": verifier, **change}
    answer = http.post(idp.endpoint("token"), data=form, auth=("dui-test", SECRET), timeout=5)
    assert (answer.status_code, answer.json()["error"]) == (status, error)


def test_token_refuses_bad_client_authentication(idp: MockPscProvider, http: requests.Session) -> None:
    resp, verifier = authorize(idp, http)
    form = {"grant_type": "authorization_code", "code": returned(resp)["code"], "redirect_uri": CB,
            "code_verifier": verifier}
    none = http.post(idp.endpoint("token"), data=form, timeout=5)
    assert none.status_code == 401 and none.json()["error"] == "invalid_client"
    wrong = http.post(idp.endpoint("token"), data=form, auth=("dui-test", "mauvais"), timeout=5)
    assert wrong.status_code == 401
    both = http.post(idp.endpoint("token"), data={**form, "client_secret": SECRET}, auth=("dui-test", SECRET),
                     timeout=5)
    assert both.status_code == 400 and both.json()["error"] == "invalid_request"


def test_code_is_single_use_and_reuse_revokes_tokens(idp: MockPscProvider, http: requests.Session) -> None:
    resp, verifier = authorize(idp, http)
    form = {"grant_type": "authorization_code", "code": returned(resp)["code"], "redirect_uri": CB,
            "code_verifier": verifier}
    first = http.post(idp.endpoint("token"), data=form, auth=("dui-test", SECRET), timeout=5).json()
    again = http.post(idp.endpoint("token"), data=form, auth=("dui-test", SECRET), timeout=5)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    userinfo = http.get(idp.endpoint("userinfo"), headers={"Authorization": f"Bearer {first['access_token']}"},
                        timeout=5)
    assert userinfo.status_code == 401


def test_refresh_token_gives_new_tokens_once(idp: MockPscProvider, http: requests.Session) -> None:
    tokens = login(idp, http)
    form = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    fresh = http.post(idp.endpoint("token"), data=form, auth=("dui-test", SECRET), timeout=5)
    assert fresh.status_code == 200 and fresh.json()["access_token"] != tokens["access_token"]
    assert http.post(idp.endpoint("token"), data=form, auth=("dui-test", SECRET), timeout=5).status_code == 400


@pytest.mark.parametrize("switch", ["bad_signature", "alg_none", "unknown_kid", "wrong_iss", "wrong_aud",
                                    "expired", "iat_future", "wrong_nonce", "acr_eidas2", "acr_missing"])
def test_id_token_switches_produce_exactly_the_announced_defect(idp: MockPscProvider, http: requests.Session,
                                                                switch: str) -> None:
    idp.configure(id_token=switch)
    token = login(idp, http)["id_token"]
    claims, header = claims_of(token), header_of(token)
    published = {k["kid"] for k in idp.keys.jwks()["keys"]}
    verifies = True
    try:
        jwt.decode(token, idp.keys.verification_set(), algorithms=["RS256"])
    except Exception:
        verifies = False
    now = time.time()
    assert verifies is (switch not in ("bad_signature", "alg_none", "unknown_kid"))
    assert (header["alg"] == "none") is (switch == "alg_none")
    assert (header["kid"] in published) is (switch != "unknown_kid")
    assert (claims["iss"] == idp.issuer) is (switch != "wrong_iss")
    assert (claims["aud"] == "dui-test") is (switch != "wrong_aud")
    assert (claims["exp"] < now) is (switch == "expired")
    assert (claims["iat"] > now + 60) is (switch == "iat_future")
    assert claims["nonce"].startswith("nonce-") is (switch != "wrong_nonce")
    assert claims.get("acr") == {"acr_eidas2": "eidas2", "acr_missing": None}.get(switch, "eidas1")


# -- userinfo ------------------------------------------------------------------------------------
def test_userinfo_json_carries_psc_claims(idp: MockPscProvider, http: requests.Session) -> None:
    tokens = login(idp, http)
    resp = http.get(idp.endpoint("userinfo"), headers={"Authorization": f"Bearer {tokens['access_token']}"},
                    timeout=5)
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("application/json")
    info = resp.json()
    pro = professionals.by_key(professionals.DEFAULT_PROFESSIONAL)
    assert info["SubjectNameID"] == pro.subject_name_id and info["sub"] == claims_of(tokens["id_token"])["sub"]
    activity = info["SubjectRefPro"]["exercices"][0]["activities"][0]
    assert activity["codeSecteurDactivite"] == "SA17" and info["Secteur_Activite"].startswith("SA17^")


def test_userinfo_jwt_and_its_switches(idp: MockPscProvider, http: requests.Session) -> None:
    for switch, verifies, same_sub in (("nominal", True, True), ("sub_differs", True, False),
                                       ("bad_signature", False, True)):
        idp.configure(userinfo_format="jwt", userinfo=switch)
        tokens = login(idp, http)
        resp = http.get(idp.endpoint("userinfo"), headers={"Authorization": f"Bearer {tokens['access_token']}"},
                        timeout=5)
        assert resp.headers["Content-Type"] == "application/jwt"
        try:
            claims = jwt.decode(resp.text, idp.keys.verification_set(), algorithms=["RS256"]).claims
            ok = True
        except Exception:
            claims, ok = claims_of(resp.text), False
        assert ok is verifies, switch
        assert (claims["sub"] == claims_of(tokens["id_token"])["sub"]) is same_sub, switch
        assert claims["iss"] == idp.issuer and claims["aud"] == "dui-test"


def test_userinfo_refuses_missing_unknown_and_expired_tokens(http: requests.Session) -> None:
    clock = FakeClock()
    with MockPscProvider(ClientRegistration("dui-test", SECRET, redirect_uris=(CB,)), clock=clock) as provider:
        assert http.get(provider.endpoint("userinfo"), timeout=5).status_code == 401
        bad = http.get(provider.endpoint("userinfo"), headers={"Authorization": "Bearer nimporte"}, timeout=5)
        assert bad.status_code == 401 and 'error="invalid_token"' in bad.headers["WWW-Authenticate"]
        tokens = login(provider, http)
        clock.advance(121)
        late = http.get(provider.endpoint("userinfo"), headers={"Authorization": f"Bearer {tokens['access_token']}"},
                        timeout=5)
        assert late.status_code == 401


def test_introspection(idp: MockPscProvider, http: requests.Session) -> None:
    tokens = login(idp, http)
    active = http.post(idp.endpoint("introspect"), data={"token": tokens["access_token"]},
                       auth=("dui-test", SECRET), timeout=5).json()
    assert active["active"] is True and active["client_id"] == "dui-test"
    assert http.post(idp.endpoint("introspect"), data={"token": "x"}, auth=("dui-test", SECRET),
                     timeout=5).json() == {"active": False}


# -- logout --------------------------------------------------------------------------------------
def test_end_session(idp: MockPscProvider, http: requests.Session) -> None:
    tokens = login(idp, http)
    ok = http.get(idp.endpoint("end_session"), params={"id_token_hint": tokens["id_token"],
                                                       "post_logout_redirect_uri": CB, "state": "s1"},
                  allow_redirects=False, timeout=5)
    assert ok.status_code == 302 and ok.headers["Location"] == CB + "?state=s1"
    after = http.get(idp.endpoint("userinfo"), headers={"Authorization": f"Bearer {tokens['access_token']}"},
                     timeout=5)
    assert after.status_code == 401  # the provider session is closed
    unknown = http.get(idp.endpoint("end_session"), params={"id_token_hint": "a.b.c"}, timeout=5)
    assert unknown.status_code == 400
    elsewhere = http.get(idp.endpoint("end_session"), params={"id_token_hint": login(idp, http)["id_token"],
                                                              "post_logout_redirect_uri": "http://evil.test/"},
                         allow_redirects=False, timeout=5)
    assert elsewhere.status_code == 400 and "Location" not in elsewhere.headers


# -- CIBA ----------------------------------------------------------------------------------------
@pytest.fixture
def ciba() -> Iterator[tuple[MockPscProvider, FakeClock]]:
    clock = FakeClock()
    with MockPscProvider(ClientRegistration("dui-test", SECRET), clock=clock) as provider:
        yield provider, clock


def ciba_start(provider: MockPscProvider, http: requests.Session, **form: str) -> requests.Response:
    pro = professionals.by_key("medco-ehpad")
    body = {"scope": "openid scope_all", "login_hint": pro.subject_name_id, "binding_message": "DUI-42", **form}
    return http.post(provider.endpoint("ciba_auth"), data=body, auth=("dui-test", SECRET), timeout=5)


def ciba_poll(provider: MockPscProvider, http: requests.Session, auth_req_id: str) -> requests.Response:
    return http.post(provider.endpoint("token"), data={"grant_type": CIBA_GRANT, "auth_req_id": auth_req_id},
                     auth=("dui-test", SECRET), timeout=5)


def test_ciba_pending_slow_down_then_tokens(ciba: tuple[MockPscProvider, FakeClock], http: requests.Session) -> None:
    provider, clock = ciba
    provider.configure(ciba_pending_polls=2, ciba_interval=5)
    start = ciba_start(provider, http).json()
    assert start["interval"] == 5 and start["expires_in"] == 120 and start["auth_req_id"].startswith("psc-ciba-")
    rid = start["auth_req_id"]
    assert ciba_poll(provider, http, rid).json()["error"] == "authorization_pending"
    clock.advance(1)
    assert ciba_poll(provider, http, rid).json()["error"] == "slow_down"  # too early: interval now 10 s
    clock.advance(10)
    assert ciba_poll(provider, http, rid).json()["error"] == "authorization_pending"
    clock.advance(10)
    tokens = ciba_poll(provider, http, rid)
    assert tokens.status_code == 200
    assert claims_of(tokens.json()["id_token"])["preferred_username"] == professionals.by_key(
        "medco-ehpad").subject_name_id
    clock.advance(10)
    assert ciba_poll(provider, http, rid).json()["error"] == "invalid_grant"  # consumed


@pytest.mark.parametrize("outcome, error", [("deny", "access_denied"), ("expire", "expired_token")])
def test_ciba_terminal_refusals(ciba: tuple[MockPscProvider, FakeClock], http: requests.Session,
                                outcome: str, error: str) -> None:
    provider, clock = ciba
    provider.configure(ciba_outcome=outcome, ciba_pending_polls=0)
    rid = ciba_start(provider, http).json()["auth_req_id"]
    assert ciba_poll(provider, http, rid).json()["error"] == error


def test_ciba_request_expires(ciba: tuple[MockPscProvider, FakeClock], http: requests.Session) -> None:
    provider, clock = ciba
    provider.configure(ciba_pending_polls=100)
    rid = ciba_start(provider, http).json()["auth_req_id"]
    clock.advance(121)
    assert ciba_poll(provider, http, rid).json()["error"] == "expired_token"


@pytest.mark.parametrize("form, error", [({"login_hint": ""}, "invalid_request"),
                                         ({"login_hint": "800000000000"}, "unknown_user_id"),
                                         ({"scope": "scope_all"}, "invalid_scope"),
                                         ({"binding_message": "x" * 101}, "invalid_binding_message")])
def test_ciba_auth_errors(ciba: tuple[MockPscProvider, FakeClock], http: requests.Session, form: dict[str, str],
                          error: str) -> None:
    provider, _ = ciba
    resp = ciba_start(provider, http, **form)
    assert resp.status_code == 400 and resp.json()["error"] == error


# -- robustness ----------------------------------------------------------------------------------
def test_hostile_requests_get_clean_errors(idp: MockPscProvider, http: requests.Session) -> None:
    big = http.post(idp.endpoint("token"), data=b"a=" + b"x" * 70_000,
                    headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=5)
    assert big.status_code == 413
    repeated = http.post(idp.endpoint("token"), data="grant_type=a&grant_type=b",
                         headers={"Content-Type": "application/x-www-form-urlencoded"}, auth=("dui-test", SECRET),
                         timeout=5)
    assert repeated.status_code == 400
    many = "&".join(f"k{i}=v" for i in range(200))
    assert http.get(idp.endpoint("authorize") + "?" + many, timeout=5).status_code == 400
    assert http.get(idp.base_url + "/nulle-part", timeout=5).status_code == 404
    assert http.get(idp.endpoint("token"), timeout=5).status_code == 405
    assert http.get(idp.discovery_url, timeout=5).status_code == 200  # still serving


def test_every_exchange_is_recorded_and_secrets_are_known(idp: MockPscProvider, http: requests.Session) -> None:
    mark = idp.mark()
    tokens = login(idp, http)
    steps = idp.exchanges(mark)
    assert [s.kind for s in steps] == ["authorize", "token"]
    assert steps[1].form["grant_type"] == "authorization_code"
    assert steps[1].request_headers["authorization"].startswith("Basic ")
    known = idp.issued_secrets()
    assert {SECRET, tokens["access_token"], tokens["refresh_token"], steps[1].form["code"]} <= known
    assert tokens["id_token"].split(".")[2] in known and tokens["id_token"] not in known


def test_stop_releases_the_port() -> None:
    provider = MockPscProvider(ClientRegistration("a", "b")).start()
    url = provider.discovery_url
    provider.stop()
    with pytest.raises(requests.RequestException):
        requests.get(url, timeout=2)
