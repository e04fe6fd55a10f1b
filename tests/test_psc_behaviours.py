"""The PSC provider's behaviour tables are its implementation (issue 17 item 5).

Every switch is one row of ``conformance.psc.behaviours`` (a description and the claims, signature or
redirect mutator that implements it). These tests take the switch names from the tables themselves, so a
new row is covered without editing them: each non-nominal row must change what the provider answers
(compared with the nominal answer under the same fixed clock, nonce and state), and no module of the
provider may name a behaviour (no ``if switch == ...`` chain beside the table).
"""

from __future__ import annotations

import ast
import base64
import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import KeySet, OctKey

from conformance.psc import behaviours
from conformance.psc.behaviours import ID_TOKEN_BEHAVIOURS, STATE_BEHAVIOURS, USERINFO_BEHAVIOURS
from conformance.psc.provider import ClientRegistration, MockPscProvider
from conformance.psc.signing import pkce_s256

CB = "http://127.0.0.1:9/segur/v1/psc/callback"
SECRET = "secret-de-test-" + "y" * 24
NONCE = "nonce-fixe"
STATE = "etat-fixe"
TABLES = {"id_token": ID_TOKEN_BEHAVIOURS, "userinfo": USERINFO_BEHAVIOURS, "state": STATE_BEHAVIOURS}
VOLATILE = ("jti", "at_hash", "session_state", "sid")  # random per login, whatever the switch
PROVIDER_MODULES = ("provider", "oauth_http", "grants", "client_auth", "tokens", "ciba")


class FixedClock:
    def __call__(self) -> float:
        return 1_800_000_000.0


@pytest.fixture(scope="module", params=["RS256", "HS256"])
def idp(request: pytest.FixtureRequest) -> Iterator[MockPscProvider]:
    registration = ClientRegistration("dui-test", SECRET, redirect_uris=(CB,), id_token_alg=request.param)
    with MockPscProvider(registration, clock=FixedClock()) as provider:
        yield provider


def _authorize(idp: MockPscProvider, http: requests.Session) -> tuple[dict[str, str], str]:
    verifier = secrets.token_urlsafe(48)
    params = {"client_id": "dui-test", "redirect_uri": CB, "response_type": "code", "scope": "openid scope_all",
              "acr_values": "eidas1", "state": STATE, "nonce": NONCE, "code_challenge": pkce_s256(verifier),
              "code_challenge_method": "S256"}
    resp = http.get(idp.endpoint("authorize"), params=params, allow_redirects=False, timeout=5)
    assert resp.status_code == 302, resp.text
    returned = {k: v[0] for k, v in parse_qs(urlsplit(resp.headers["Location"]).query).items()}
    return returned, verifier


def _login(idp: MockPscProvider, http: requests.Session) -> dict[str, Any]:
    returned, verifier = _authorize(idp, http)
    form = {"grant_type": "authorization_code", "code": returned["code"], "redirect_uri": CB,
            "code_verifier": verifier}
    token = http.post(idp.endpoint("token"), data=form, auth=("dui-test", SECRET), timeout=5)
    assert token.status_code == 200, token.text
    return dict(token.json())


def _part(token: str, index: int) -> dict[str, Any]:
    part = token.split(".")[index]
    return dict(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))


def _verifies(idp: MockPscProvider, token: str) -> bool:
    """Does the token verify as the client would check it (provider's JWKS, or HS256 with its secret)?"""
    hs256 = idp.client.id_token_alg == "HS256" and _part(token, 0).get("alg") == "HS256"
    key: Any = OctKey.import_key(SECRET) if hs256 else idp.keys.verification_set()
    try:
        jwt.decode(token, key, algorithms=["HS256"] if hs256 else ["RS256"])
    except Exception:
        return False
    return True


def _id_token_view(idp: MockPscProvider, token: str) -> tuple[Any, ...]:
    header, claims = _part(token, 0), _part(token, 1)
    published = {k["kid"] for k in KeySet.import_key_set(idp.keys.jwks()).keys}
    return (header.get("alg"), header.get("kid") in published if "kid" in header else None, _verifies(idp, token),
            {k: v for k, v in claims.items() if k not in VOLATILE})


def _userinfo_view(idp: MockPscProvider, http: requests.Session, access_token: str) -> tuple[Any, ...]:
    resp = http.get(idp.endpoint("userinfo"), headers={"Authorization": f"Bearer {access_token}"}, timeout=5)
    assert resp.status_code == 200, resp.text
    kind = resp.headers["Content-Type"].split(";")[0]
    if kind == "application/jwt":
        return kind, _verifies(idp, resp.text), _part(resp.text, 1)
    return kind, None, resp.json()


def test_every_row_has_exactly_the_mutators_its_kind_uses() -> None:
    """Nominal rows change nothing; every other row carries at least one mutator of its answer kind."""
    for name, table in TABLES.items():
        assert not any((table["nominal"].claims, table["nominal"].sign, table["nominal"].redirect)), name
        for switch, row in table.items():
            assert row.text.strip(), (name, switch)
            if switch == "nominal":
                continue
            if name == "state":
                assert row.redirect is not None and row.claims is None and row.sign is None, switch
            else:
                assert (row.claims or row.sign) is not None and row.redirect is None, (name, switch)


def test_no_module_of_the_provider_names_a_behaviour() -> None:
    """The provider only looks a switch up in its table: no behaviour name is written anywhere else."""
    names = {switch for table in TABLES.values() for switch in table if switch != "nominal"}
    folder = Path(behaviours.__file__).parent
    found = []
    for module in PROVIDER_MODULES:
        tree = ast.parse((folder / f"{module}.py").read_text(encoding="utf-8"))
        found += [(module, node.lineno, node.value) for node in ast.walk(tree)
                  if isinstance(node, ast.Constant) and node.value in names]
    assert not found, f"behaviour names written outside conformance/psc/behaviours.py: {found}"


@pytest.mark.parametrize("switch", sorted(set(ID_TOKEN_BEHAVIOURS) - {"nominal"}))
def test_each_id_token_row_changes_the_id_token(idp: MockPscProvider, http: requests.Session, switch: str) -> None:
    idp.configure()
    nominal = _id_token_view(idp, _login(idp, http)["id_token"])
    assert nominal[2] is True and nominal[3]["nonce"] == NONCE and nominal[3]["iss"] == idp.issuer
    try:
        idp.configure(id_token=switch)
        changed = _id_token_view(idp, _login(idp, http)["id_token"])
    finally:
        idp.configure()
    assert changed != nominal, f"id_token switch {switch!r} ({ID_TOKEN_BEHAVIOURS[switch].text}) changed nothing"


@pytest.mark.parametrize("userinfo_format", ["json", "jwt"])
@pytest.mark.parametrize("switch", sorted(set(USERINFO_BEHAVIOURS) - {"nominal"}))
def test_each_userinfo_row_changes_the_userinfo_answer(idp: MockPscProvider, http: requests.Session, switch: str,
                                                       userinfo_format: str) -> None:
    idp.configure(userinfo_format=userinfo_format)
    nominal = _userinfo_view(idp, http, _login(idp, http)["access_token"])
    assert nominal[1] in (None, True)
    try:
        idp.configure(userinfo_format=userinfo_format, userinfo=switch)
        changed = _userinfo_view(idp, http, _login(idp, http)["access_token"])
    finally:
        idp.configure()
    assert changed != nominal, f"userinfo switch {switch!r} ({userinfo_format}) changed nothing"


@pytest.mark.parametrize("switch", sorted(set(STATE_BEHAVIOURS) - {"nominal"}))
def test_each_state_row_changes_the_redirect(idp: MockPscProvider, http: requests.Session, switch: str) -> None:
    idp.configure()
    nominal, _ = _authorize(idp, http)
    assert nominal["state"] == STATE
    try:
        idp.configure(state=switch)
        changed, _ = _authorize(idp, http)
    finally:
        idp.configure()
    assert set(changed) == set(nominal) and changed["state"] != STATE, switch


def test_an_unknown_switch_is_refused_with_the_table_names(idp: MockPscProvider) -> None:
    with pytest.raises(ValueError, match="unknown id_token switch 'alg_hs'.*alg_none"):
        idp.configure(id_token="alg_hs")
    assert idp.behaviour.id_token == "nominal"
