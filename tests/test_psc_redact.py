"""No secret reaches PSC evidence: the redactor alone, then real scenario transcripts."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator

import pytest
from segur_reference_dui.server import serve

from conformance.psc.provider import ClientRegistration, MockPscProvider
from conformance.psc.redact import JWT_RE, Redactor, fingerprint, mask, mask_jwt
from conformance.psc.scenarios import PscHarness, run_scenario
from conformance.sandbox.client import SandboxClient

JWT = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImsxIn0.eyJzdWIiOiJ4IiwiYWNyIjoiZWlkYXMxIn0.c2lnbmF0dXJlLXNlY3JldGUtZGUtdGVzdA"
RAW_PREFIXES = re.compile(r"psc-(code|at|rt|ciba)-[A-Za-z0-9_-]{8,}")


def test_structural_redaction_keeps_evidence_and_hides_secrets() -> None:
    redactor = Redactor()
    out = redactor.redact({
        "request_headers": {"authorization": "Basic ZHVpOnNlY3JldA==", "Cookie": "sid=abcdef123456; theme=x"},
        "response_headers": {"Set-Cookie": "sid=abcdef123456; Path=/; HttpOnly"},
        "form": {"grant_type": "authorization_code", "code": "le-code-1234", "code_verifier": "v" * 43,
                 "client_secret": "secret-post", "client_assertion": JWT},
        "response_body": {"access_token": "jeton-acces", "refresh_token": "jeton-rafraichi", "id_token": JWT,
                          "token_type": "Bearer", "expires_in": 120},
        "note": "state=abc",
    })
    text = json.dumps(out, ensure_ascii=False)
    for secret in ("ZHVpOnNlY3JldA==", "abcdef123456", "le-code-1234", "v" * 43, "secret-post", "jeton-acces",
                   "jeton-rafraichi", "c2lnbmF0dXJlLXNlY3JldGUtZGUtdGVzdA"):
        assert secret not in text, secret
    assert out["request_headers"]["authorization"].startswith("Basic [masqué")
    assert out["response_headers"]["Set-Cookie"].endswith("Path=/; HttpOnly")
    header, payload, signature = out["response_body"]["id_token"].split(".", 2)
    assert (header, payload) == tuple(JWT.split(".")[:2]) and signature.startswith("[masqué")
    assert out["form"]["grant_type"] == "authorization_code" and out["response_body"]["expires_in"] == 120
    assert out["note"] == "state=abc"


def test_urls_and_forms_keep_their_shape() -> None:
    redactor = Redactor()
    url = "http://127.0.0.1:1/cb?code=abc12345678&state=etat&redirect_uri=http%3A%2F%2Fx%2Fy"
    assert redactor.redact({"Location": url})["Location"] == (
        f"http://127.0.0.1:1/cb?code={mask('abc12345678')}&state=etat&redirect_uri=http%3A%2F%2Fx%2Fy")
    hint = redactor.redact({"u": f"http://h/logout?id_token_hint={JWT}&state=1"})["u"]
    assert JWT.split(".")[2] not in hint and JWT.split(".")[1] in hint
    form = redactor.redact({"body": "grant_type=refresh_token&refresh_token=rt-secret-99"})["body"]
    assert form == f"grant_type=refresh_token&refresh_token={mask('rt-secret-99')}"


def test_known_secrets_are_hidden_anywhere_even_url_encoded() -> None:
    secret = "s3cr+t/with=chars"
    redactor = Redactor([secret, "short"])
    text = redactor.dumps({"error": f"invalid secret {secret}", "echo": "x=s3cr%2Bt%2Fwith%3Dchars&y=1 z",
                           "free": "le code psc-code-abcdefgh a été rejoué"})
    assert secret not in text and "s3cr%2Bt%2Fwith%3Dchars" not in text
    assert "short" in Redactor(["short"]).dumps({"a": "short"})  # too short to be a secret: left alone
    assert redactor.leaks(text) == [] and redactor.leaks(f"oops {secret}") == [fingerprint(secret)]


def test_unsigned_tokens_stay_readable() -> None:
    unsigned = JWT.rsplit(".", 1)[0] + "."
    assert mask_jwt(unsigned) == unsigned
    assert not JWT_RE.search(mask_jwt(JWT))


@pytest.fixture(scope="module")
def harness() -> Iterator[PscHarness]:
    with MockPscProvider(ClientRegistration("dui-redact", "secret-" + secrets.token_urlsafe(24))) as provider, \
            serve() as sandbox:
        harness = PscHarness(provider, sandbox.url, sandbox.url + "/psc/callback")
        harness.register()
        SandboxClient(sandbox.url).set_endpoints({"psc": harness.endpoint_config()})
        yield harness


@pytest.mark.parametrize("scenario_id", ["nominal", "userinfo_jwt", "logout", "state_reuse", "state_other_session",
                                         "alg_none", "bad_signature", "userinfo_sub_differs"])
def test_no_issued_secret_appears_in_a_scenario_transcript(harness: PscHarness, scenario_id: str) -> None:
    result = run_scenario(scenario_id, harness)
    text = result.transcript
    known = harness.provider.issued_secrets()
    assert harness.client.client_secret in known
    leaked = [fingerprint(s) for s in known if s in text]
    assert not leaked, f"secrets in transcript: {leaked}"
    assert not RAW_PREFIXES.search(text)
    assert not [m.group(0)[:40] for m in JWT_RE.finditer(text)]  # no JWS keeps its signature
    assert "[masqué sha256:" in text and json.loads(text)["scenario"]["id"] == scenario_id
