"""An independent Pro Santé Connect relying party, written from the specifications, not from the harness.

Why it exists: the harness's own reference relying party (samples/reference_dui/psc_rp.py) verifies JWTs
with joserfc, like the harness itself, so a misreading shared by both could never show. This one is built
on other libraries — Authlib's OAuth 2.0 client (authorization URL, PKCE S256, token request with
client_secret_basic) and PyJWT (id_token and userinfo JWT verification, JWKS) — and on the texts only:
OpenID Connect Core 1.0 §3.1.3.7 (id_token validation), RFC 6749 §10.12 and RFC 9700 §2.1 / §4.7 (state,
CSRF, code injection), RFC 7636 (PKCE), OIDC RP-Initiated Logout 1.0 (end_session), the PSC facts of
protocols.md §4 (wallet discovery path, ``acr_values=eidas1``, ``SubjectNameID``).

It serves the PSC part of sandbox contract v1 (docs/sandbox-api.yaml) on 127.0.0.1: GET /capabilities,
POST /reset, PUT /endpoints, POST /psc/login, GET /psc/callback, GET /psc/session, POST /psc/logout.
``FLAWS`` are one-flaw variants: each makes it wrong in exactly one way, as a real product could be.
"""

from __future__ import annotations

import json
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import jwt  # PyJWT: not the JOSE library the harness uses
import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.requests_client import OAuth2Session

FLAWS = {
    "refusal_as_http_500": "answers a refused login with HTTP 500 (its JSON body still says logged_in=false)",
    "jwks_never_refetched": "keeps the first JWKS it read forever (does not follow a key rotation)",
    "no_signature_check": "reads the id_token claims without verifying the signature",
    "no_state_check": "ignores the state returned to the callback",
    "state_reusable": "checks the state but never forgets it (not single use)",
    "state_not_bound": "checks the state but not that it belongs to this browser session",
    "no_nonce": "sends no nonce (and so checks none)",
    "no_pkce": "sends no PKCE code_challenge (it sends a nonce)",
    "no_pkce_no_nonce": "sends neither PKCE nor a nonce (no protection against code injection)",
    "ignores_acr": "does not check the acr claim",
    "ignores_aud": "does not check the audience",
    "no_id_token_hint": "logs out through end_session without id_token_hint",
    "subject_by_email": "identifies the professional by e-mail address, not by SubjectNameID",
}
WALLET_DISCOVERY = "/.well-known/wallet-openid-configuration"
BASE = "/rp/v1"
COOKIE = "rp_session"
STATE_TTL = 120
TIMEOUT = 10.0
MAX_BODY = 64 * 1024


class Refused(Exception):
    """A login refused, with the reason shown to the user."""


@dataclass
class Pending:
    browser: str
    nonce: str | None
    verifier: str | None
    created: float


@dataclass
class Account:
    logged_in: bool = False
    subject: str | None = None
    exercice: dict[str, Any] | None = None
    error: str | None = None
    id_token: str | None = None

    def public(self) -> dict[str, Any]:
        return {"logged_in": self.logged_in, "subject": self.subject, "exercice": self.exercice,
                "error": self.error}


@dataclass
class IndependentRp:
    """The relying party's logic; ``flaw`` is one of FLAWS or ''."""

    flaw: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    pending: dict[str, Pending] = field(default_factory=dict)
    sessions: dict[str, Account] = field(default_factory=dict)
    emails: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, Any] | None = None
    jwks: dict[str, Any] | None = None
    lock: threading.RLock = field(default_factory=threading.RLock)

    def __post_init__(self) -> None:
        if self.flaw and self.flaw not in FLAWS:
            raise ValueError(f"unknown flaw {self.flaw!r}")
        self.http = requests.Session()
        self.http.trust_env = False  # loopback only, never a proxy

    # -- configuration ------------------------------------------------------------------------------
    def configure(self, psc: dict[str, Any]) -> None:
        with self.lock:
            self.config = dict(psc)
            self.metadata = self.jwks = None
            self.pending.clear()
            self.sessions.clear()
            self.emails.clear()

    def discovery(self) -> dict[str, Any]:
        if self.metadata is None:
            url = self.config.get("discovery_url") or self.config["issuer"].rstrip("/") + WALLET_DISCOVERY
            meta = self.http.get(url, timeout=TIMEOUT).json()
            if meta.get("issuer") != self.config["issuer"]:
                raise Refused("discovery issuer differs from the configured issuer")
            self.metadata = meta
        return self.metadata

    def oauth(self) -> OAuth2Session:
        pkce = self.flaw not in ("no_pkce", "no_pkce_no_nonce")
        session = OAuth2Session(self.config["client_id"], self.config["client_secret"],
                                token_endpoint_auth_method="client_secret_basic", scope="openid scope_all",
                                redirect_uri=self.config["redirect_uri"],
                                code_challenge_method="S256" if pkce else None)
        session.trust_env = False
        return session

    # -- contract routes ----------------------------------------------------------------------------
    def login(self, browser: str) -> dict[str, Any]:
        meta = self.discovery()
        state = secrets.token_urlsafe(32)
        nonce = None if self.flaw in ("no_nonce", "no_pkce_no_nonce") else secrets.token_urlsafe(32)
        verifier = None if self.flaw in ("no_pkce", "no_pkce_no_nonce") else secrets.token_urlsafe(48)
        extra: dict[str, str] = {"acr_values": "eidas1"}
        if nonce:
            extra["nonce"] = nonce
        url, _ = self.oauth().create_authorization_url(meta["authorization_endpoint"], state=state,
                                                       code_verifier=verifier, **extra)
        with self.lock:
            self.pending[state] = Pending(browser, nonce, verifier, time.time())
        return {"authorization_url": url}

    def callback(self, query: dict[str, str], browser: str) -> tuple[int, dict[str, Any]]:
        try:
            account = self.complete(query, browser)
        except Refused as exc:
            account = Account(error=str(exc))
        except (AuthlibBaseError, requests.RequestException, jwt.PyJWTError, KeyError, ValueError) as exc:
            account = Account(error=f"{type(exc).__name__}: {exc}"[:300])
        with self.lock:
            if account.logged_in or not self.sessions.get(browser, Account()).logged_in:
                self.sessions[browser] = account
        status = 500 if (not account.logged_in and self.flaw == "refusal_as_http_500") else 200
        return status, {"logged_in": account.logged_in, "error": account.error}

    def session(self, browser: str) -> dict[str, Any]:
        with self.lock:
            return self.sessions.get(browser, Account()).public()

    def logout(self, browser: str) -> dict[str, Any]:
        with self.lock:
            account = self.sessions.pop(browser, None)
            self.sessions[browser] = Account(error="logged out")
        if account is None or not account.id_token:
            return {"end_session_url": None}
        params = {"post_logout_redirect_uri": self.config["redirect_uri"], "state": secrets.token_urlsafe(16),
                  "client_id": self.config["client_id"]}
        if self.flaw != "no_id_token_hint":
            params["id_token_hint"] = account.id_token
        return {"end_session_url": f"{self.discovery()['end_session_endpoint']}?{urlencode(params)}"}

    # -- the login ----------------------------------------------------------------------------------
    def take_pending(self, state: str | None, browser: str) -> Pending:
        with self.lock:
            if self.flaw == "no_state_check":
                mine = [p for p in self.pending.values() if p.browser == browser] or list(self.pending.values())
                if not mine:
                    raise Refused("no login in progress")
                return mine[-1]
            if not state or state not in self.pending:
                raise Refused("unknown or already used state (CSRF protection)")
            pending = self.pending[state] if self.flaw == "state_reusable" else self.pending.pop(state)
        if self.flaw != "state_not_bound" and pending.browser != browser:
            raise Refused("state issued for another browser session")
        if time.time() - pending.created > STATE_TTL:
            raise Refused("state expired")
        return pending

    def complete(self, query: dict[str, str], browser: str) -> Account:
        if query.get("error"):
            raise Refused(f"provider error: {query['error']}")
        pending = self.take_pending(query.get("state"), browser)
        meta = self.discovery()
        oauth = self.oauth()
        kwargs: dict[str, Any] = {"code": query.get("code", "")}
        if pending.verifier:
            kwargs["code_verifier"] = pending.verifier
        token = oauth.fetch_token(meta["token_endpoint"], **kwargs)
        claims = self.id_token_claims(str(token.get("id_token", "")), pending.nonce)
        userinfo = self.userinfo(oauth, meta, claims["sub"])
        subject = userinfo.get("SubjectNameID")
        if not isinstance(subject, str) or not subject:
            raise Refused("no SubjectNameID in userinfo")
        if self.flaw == "subject_by_email":
            with self.lock:
                subject = self.emails.setdefault(str(userinfo.get("email", "")).lower(), subject)
        return Account(logged_in=True, subject=subject, exercice=exercice(userinfo),
                       id_token=str(token["id_token"]))

    def key_for(self, token: str) -> Any:
        """The JWKS key named by the token's kid; the JWKS is fetched again once for an unknown kid."""
        kid = jwt.get_unverified_header(token).get("kid")

        def find() -> Any:
            for key in jwt.PyJWKSet.from_dict(self.jwks or {"keys": []}).keys:
                if key.key_id == kid:
                    return key.key
            return None

        if self.jwks is not None:
            found = find()
            if found is not None or self.flaw == "jwks_never_refetched":
                if found is None:
                    raise Refused(f"unknown signing key {kid!r}")
                return found
        self.jwks = self.http.get(self.discovery()["jwks_uri"], timeout=TIMEOUT).json()
        found = find()
        if found is None:
            raise Refused(f"unknown signing key {kid!r}")
        return found

    def id_token_claims(self, token: str, nonce: str | None) -> dict[str, Any]:
        """OpenID Connect Core 1.0 §3.1.3.7, with PSC's eidas1 (protocols.md §4.4)."""
        registered = self.config.get("id_token_signed_response_alg", "RS256")
        options = {"require": ["iss", "aud", "sub", "exp", "iat"], "verify_aud": self.flaw != "ignores_aud"}
        if self.flaw == "no_signature_check":
            claims = jwt.decode(token, options={**options, "verify_signature": False, "verify_aud": False})
            if claims.get("iss") != self.config["issuer"]:
                raise Refused("id_token issuer")
            aud = claims.get("aud")
            if self.config["client_id"] not in (aud if isinstance(aud, list) else [aud]):
                raise Refused("id_token audience")
            if claims.get("exp", 0) < time.time() - 60 or claims.get("iat", 0) > time.time() + 60:
                raise Refused("id_token expired or not yet valid")
        else:
            key = self.config["client_secret"] if registered == "HS256" else self.key_for(token)
            claims = jwt.decode(token, key, algorithms=[registered], audience=self.config["client_id"],
                                issuer=self.config["issuer"], leeway=60, options=options)
        aud = claims.get("aud")
        if self.flaw != "ignores_aud" and isinstance(aud, list) and len(aud) > 1 \
                and claims.get("azp") != self.config["client_id"]:
            raise Refused("id_token azp")
        if nonce is not None and claims.get("nonce") != nonce:
            raise Refused("id_token nonce differs from the one sent")
        if self.flaw != "ignores_acr" and claims.get("acr") != "eidas1":
            raise Refused(f"acr {claims.get('acr')!r} is not eidas1")
        return claims

    def userinfo(self, oauth: OAuth2Session, meta: dict[str, Any], sub: str) -> dict[str, Any]:
        resp = oauth.get(meta["userinfo_endpoint"], timeout=TIMEOUT)
        if resp.status_code != 200:
            raise Refused(f"userinfo answered {resp.status_code}")
        if resp.headers.get("Content-Type", "").split(";")[0].strip() == "application/jwt":
            token = resp.text.strip()
            has_aud = "aud" in jwt.decode(token, options={"verify_signature": False})  # OIDC Core §5.3.2: SHOULD
            claims = jwt.decode(token, self.key_for(token), algorithms=["RS256"],
                                audience=self.config["client_id"] if has_aud else None,
                                options={"verify_aud": has_aud})
        else:
            claims = resp.json()
        if claims.get("sub") != sub:
            raise Refused("userinfo sub differs from the id_token sub")
        return claims


def exercice(userinfo: dict[str, Any]) -> dict[str, Any] | None:
    ref = userinfo.get("SubjectRefPro") or {}
    exercices = ref.get("exercices") if isinstance(ref, dict) else None
    if not exercices:
        return None
    first = exercices[0]
    activity = (first.get("activities") or [{}])[0]
    return {"codeProfession": first.get("codeProfession"),
            "identifiantTechniqueDeLaStructure": activity.get("identifiantTechniqueDeLaStructure"),
            "raisonSocialeSite": activity.get("raisonSocialeSite")}


class RunningRp:
    """The relying party served on 127.0.0.1 (ephemeral port); ``url`` is the contract base URL."""

    def __init__(self, flaw: str = "") -> None:
        self.rp = IndependentRp(flaw)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.rp))
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}{BASE}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)

    def __enter__(self) -> RunningRp:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.thread.join(timeout=5)
        self.httpd.server_close()


def _handler(rp: IndependentRp) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def setup(self) -> None:
            super().setup()
            # headers and body leave in separate writes: without NODELAY, Nagle + delayed ACK cost ~40 ms each
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def answer(self, status: int, body: Any = None, cookie: str | None = None) -> None:
            data = b"" if body is None else json.dumps(body).encode("utf-8")
            self.send_response(status)
            if data:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if cookie:
                self.send_header("Set-Cookie", f"{COOKIE}={cookie}; Path=/; HttpOnly; SameSite=Lax")
            self.end_headers()
            self.wfile.write(data)

        def browser(self) -> str:
            for part in self.headers.get("Cookie", "").split(";"):
                name, _, value = part.strip().partition("=")
                if name == COOKIE:
                    return value
            return ""

        def route(self) -> None:
            split = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(min(length, MAX_BODY)) if length else b""
            path = split.path[len(BASE):] if split.path.startswith(BASE) else None
            key = (self.command, path)
            if key == ("GET", "/capabilities"):
                self.answer(200, {"contract": "1", "product": "RP indépendant (Authlib + PyJWT)", "version": "1",
                                  "vendor": "tests", "corridors": ["MS1", "MS2-PDE", "MS2-PDS"],
                                  "document_types": [],
                                  "features": {"ins": False, "dmp": False, "mss": False, "psc": True}})
            elif key == ("POST", "/reset"):
                self.answer(204)
            elif key == ("PUT", "/endpoints"):
                psc = json.loads(body or b"{}").get("psc")
                if not isinstance(psc, dict):
                    self.answer(501, {"error": "only psc is supported", "code": "unsupported"})
                    return
                rp.configure(psc)
                self.answer(204)
            elif key == ("POST", "/psc/login"):
                browser = self.browser() or secrets.token_hex(16)
                self.answer(200, rp.login(browser), cookie=browser)
            elif key == ("GET", "/psc/callback"):
                self.answer(*rp.callback(dict(parse_qsl(split.query)), self.browser()))
            elif key == ("GET", "/psc/session"):
                self.answer(200, rp.session(self.browser()))
            elif key == ("POST", "/psc/logout"):
                self.answer(200, rp.logout(self.browser()))
            elif path is not None and path.startswith(("/residents", "/documents")):
                self.answer(501, {"error": "not supported", "code": "unsupported"})
            else:
                self.answer(404, {"error": "not found", "code": "not_found"})

        do_GET = do_POST = do_PUT = route

    return Handler
