"""A mock Pro Santé Connect OpenID provider: a real HTTP server on 127.0.0.1 for relying-party tests.

Why a real server: the candidate's relying party must run its own discovery, token exchange, JWKS fetch
and userinfo call exactly as it would against PSC, so the mock speaks HTTP on an ephemeral loopback
port, in a daemon thread. It mirrors the PSC layout (Keycloak realm ``esante-wallet``, the non-standard
``/.well-known/wallet-openid-configuration``, authorize on a separate "wallet" path; protocols.md §4.1),
auto-authenticates a chosen invented professional, and records every exchange for the transcript.

Negative tests flip a behaviour switch (``configure(id_token="alg_none")`` …): the provider then signs or
fills the next tokens wrongly on purpose, and the scenario checks that the candidate refused them. Each
switch is one row of ``ID_TOKEN_BEHAVIOURS`` / ``USERINFO_BEHAVIOURS`` / ``STATE_BEHAVIOURS``: its
description and the claim, signature or redirect mutator that implements it (nothing else names it).

The provider is split by job: ``behaviours`` (the switches), ``grants`` (registration, authorizations),
``oauth_http`` (answers, errors, the HTTP handler), ``client_auth``, ``tokens`` and ``ciba`` (mixins for
client authentication, the token endpoint with id_token minting, and the CIBA flow); this module holds
the server, discovery, authorize, userinfo, introspection and logout.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from conformance.psc import professionals
from conformance.psc.behaviours import (
    CIBA_OUTCOMES,
    STATE_BEHAVIOURS,
    USERINFO_BEHAVIOURS,
    Behaviour,
    Mint,
)
from conformance.psc.ciba import CibaFlow
from conformance.psc.client_auth import JWT_BEARER, SKEW, ClientAuthentication
from conformance.psc.grants import CibaRequest, ClientRegistration, Grant
from conformance.psc.oauth_http import (
    MAX_BODY,
    RECORDED_HEADERS,
    HttpAnswer,
    OAuthError,
    handler_for,
    html_page,
    origin_of,
    parse_form,
    redirect_answer,
)
from conformance.psc.signing import KeyRing, signature_part
from conformance.psc.tokens import ACR, CIBA_GRANT, TokenEndpoint, now_int
from conformance.psc.transcript import Step, bounded, next_seq

REALM_PATH = "/auth/realms/esante-wallet"
WALLET_DISCOVERY = "/.well-known/wallet-openid-configuration"
STANDARD_DISCOVERY = "/.well-known/openid-configuration"
AUTHORIZE_PATH = "/wallet/auth"  # PSC serves authorize on another host (wallet.*): not derivable from the issuer
OIDC = REALM_PATH + "/protocol/openid-connect"
PATHS = {
    "token": OIDC + "/token",
    "userinfo": OIDC + "/userinfo",
    "jwks": OIDC + "/certs",
    "end_session": OIDC + "/logout",
    "introspect": OIDC + "/token/introspect",
    "ciba_auth": OIDC + "/ext/ciba/auth",
}
MAX_EXCHANGES = 5000


class MockPscProvider(ClientAuthentication, TokenEndpoint, CibaFlow):
    """The mock IdP. ``start()``/``stop()`` or ``with MockPscProvider(...) as idp:``.

    Everything it hands out (codes, tokens, signatures) is remembered in ``issued_secrets()`` so the
    redactor can prove no secret reaches the evidence.
    """

    def __init__(self, client: ClientRegistration, *, host: str = "127.0.0.1", port: int = 0,
                 clock: Callable[[], float] = time.time, behaviour: Behaviour | None = None) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the mock PSC provider binds to the loopback interface only")
        self.client = client
        self.clock = clock
        self.keys = KeyRing()
        self._behaviour = (behaviour or Behaviour()).validate()
        self._lock = threading.RLock()
        self._exchanges: list[Step] = []
        self._dropped = 0
        self._codes: dict[str, Grant] = {}
        self._access: dict[str, tuple[Grant, float]] = {}
        self._refresh: dict[str, Grant] = {}
        self._ciba: dict[str, CibaRequest] = {}
        self._assertion_jtis: set[str] = set()
        self._secrets: set[str] = {client.client_secret}
        self._httpd = ThreadingHTTPServer((host, port), handler_for(self.handle))
        self._httpd.daemon_threads = True
        bound_host, bound_port = self._httpd.server_address[:2]
        host_text = bound_host.decode() if isinstance(bound_host, bytes) else str(bound_host)
        self.base_url = f"http://{host_text}:{bound_port}"
        self.issuer = self.base_url + REALM_PATH
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self) -> MockPscProvider:
        if self._thread is None:
            self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                            name="mock-psc-idp", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> MockPscProvider:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- configuration ----------------------------------------------------------------------------
    @property
    def discovery_url(self) -> str:
        return self.issuer + WALLET_DISCOVERY

    @property
    def behaviour(self) -> Behaviour:
        return self._behaviour

    def configure(self, **changes: Any) -> Behaviour:
        """Start from the nominal behaviour and apply ``changes`` (a scenario's switches)."""
        new = replace(Behaviour(), **changes).validate()
        with self._lock:
            self._behaviour = new
        return new

    def register(self, client: ClientRegistration) -> None:
        with self._lock:
            self.client = client
            self._secrets.add(client.client_secret)

    def rotate_keys(self) -> str:
        return self.keys.rotate()

    def endpoint(self, name: str) -> str:
        if name == "authorize":
            return self.base_url + AUTHORIZE_PATH
        return self.base_url + PATHS[name]

    def discovery_document(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": self.endpoint("authorize"),
            "token_endpoint": self.endpoint("token"),
            "introspection_endpoint": self.endpoint("introspect"),
            "userinfo_endpoint": self.endpoint("userinfo"),
            "end_session_endpoint": self.endpoint("end_session"),
            "jwks_uri": self.endpoint("jwks"),
            "backchannel_authentication_endpoint": self.endpoint("ciba_auth"),
            "backchannel_token_delivery_modes_supported": ["poll", "ping"],
            "backchannel_user_code_parameter_supported": False,
            "grant_types_supported": ["authorization_code", "refresh_token", CIBA_GRANT],
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256", "HS256"],
            "userinfo_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": list(self.client.auth_methods),
            "token_endpoint_auth_signing_alg_values_supported": ["RS256", "ES256", "PS256"],
            "code_challenge_methods_supported": ["plain", "S256"],
            "scopes_supported": ["openid", "scope_all", "rpps", "identity", "email", "profile", "eidas1", "ciba"],
            "acr_values_supported": [ACR],
            "claims_supported": ["aud", "sub", "iss", "auth_time", "name", "given_name", "family_name",
                                 "preferred_username", "email", "acr"],
            "claims_parameter_supported": True,
            "request_parameter_supported": True,
            "frontchannel_logout_supported": True,
        }

    # -- records ----------------------------------------------------------------------------------
    def mark(self) -> int:
        """An index into the exchange log; ``exchanges(since=mark)`` is what happened after."""
        with self._lock:
            return self._dropped + len(self._exchanges)

    def exchanges(self, since: int = 0) -> list[Step]:
        with self._lock:
            start = max(0, since - self._dropped)
            return list(self._exchanges[start:])

    def issued_secrets(self) -> set[str]:
        with self._lock:
            return {s for s in self._secrets if s}

    def _remember(self, *values: str | None) -> None:
        with self._lock:
            for value in values:
                if not value:
                    continue
                if value.count(".") == 2:  # a JWS: only its signature is secret; its claims are evidence
                    sig = signature_part(value)
                    if sig:
                        self._secrets.add(sig)
                else:
                    self._secrets.add(value)

    def _record(self, step: Step) -> None:
        with self._lock:
            self._exchanges.append(step)
            if len(self._exchanges) > MAX_EXCHANGES:
                del self._exchanges[0]
                self._dropped += 1

    # -- request handling (called by the HTTP handler) --------------------------------------------
    def handle(self, method: str, path: str, query: dict[str, str], headers: dict[str, str],
               body: bytes) -> HttpAnswer:
        seq = next_seq()
        received = self.clock()  # the provider's clock: CIBA polling checks compare these instants
        form: dict[str, str] = {}
        kind = self._kind(path)
        try:
            if method == "POST" and "application/x-www-form-urlencoded" in headers.get("content-type", ""):
                form = parse_form(body)
            answer = self._dispatch(kind, method, query, form, headers)
        except OAuthError as exc:
            answer = exc.answer
        except Exception as exc:  # a bug in the mock must answer 500 and be recorded, not kill the thread
            answer = HttpAnswer(500, {"error": "server_error", "error_description": f"{type(exc).__name__}: {exc}"})
        response_body: Any = answer.body
        if isinstance(response_body, bytes):
            response_body = bounded(response_body.decode("utf-8", "replace"))
        elif isinstance(response_body, str):
            response_body = bounded(response_body)
        self._record(Step(
            seq=seq, actor="idp", kind=kind, method=method, url=self.base_url + path, at=received,
            query=dict(query),
            request_headers={k: v for k, v in headers.items() if k in RECORDED_HEADERS}, form=form,
            request_body="" if form else bounded(body.decode("utf-8", "replace")),
            status=answer.status, response_headers=dict(answer.headers), response_body=response_body,
            note=self._note(kind),
        ))
        return answer

    def _note(self, kind: str) -> str:
        b = self._behaviour
        if kind == "token":
            return f"id_token: {b.id_token}"
        if kind == "userinfo":
            return f"userinfo: {b.userinfo} ({b.userinfo_format})"
        if kind == "authorize":
            return f"state: {b.state}; professionnel: {b.professional}"
        return ""

    @staticmethod
    def _kind(path: str) -> str:
        if path == REALM_PATH + WALLET_DISCOVERY:
            return "discovery"
        if path == REALM_PATH + STANDARD_DISCOVERY:
            return "discovery_standard"
        if path == AUTHORIZE_PATH:
            return "authorize"
        for name, p in PATHS.items():
            if path == p:
                return name
        return "unknown"

    def _dispatch(self, kind: str, method: str, query: dict[str, str], form: dict[str, str],
                  headers: dict[str, str]) -> HttpAnswer:
        if kind in ("discovery", "discovery_standard", "jwks"):
            if method != "GET":
                raise OAuthError(405, "invalid_request", "méthode non autorisée")
            body = self.keys.jwks() if kind == "jwks" else self.discovery_document()
            return HttpAnswer(200, body, {"Cache-Control": "no-cache"})
        if kind == "authorize":
            return self._authorize(query if method == "GET" else form)
        if kind == "token":
            self._require_post(method)
            return self._token(form, headers)
        if kind == "userinfo":
            return self._userinfo(headers, form)
        if kind == "end_session":
            return self._end_session(query if method == "GET" else form)
        if kind == "introspect":
            self._require_post(method)
            return self._introspect(form, headers)
        if kind == "ciba_auth":
            self._require_post(method)
            return self._ciba_auth(form, headers)
        return HttpAnswer(404, {"error": "not_found", "error_description": "chemin inconnu"})

    @staticmethod
    def _require_post(method: str) -> None:
        if method != "POST":
            raise OAuthError(405, "invalid_request", "POST attendu")

    # -- authorize --------------------------------------------------------------------------------
    def _redirect_uri_allowed(self, uri: str) -> bool:
        if self.client.allow_any_redirect_uri:
            parts = urlsplit(uri)
            return parts.scheme in ("http", "https") and bool(parts.netloc)
        return uri in self.client.redirect_uris

    def _authorize(self, params: dict[str, str]) -> HttpAnswer:
        behaviour = self._behaviour
        client_id = params.get("client_id", "")
        redirect_uri = params.get("redirect_uri", "")
        if client_id != self.client.client_id:
            return html_page(400, "Client inconnu", f"client_id inconnu : {client_id!r}")
        if not redirect_uri or not self._redirect_uri_allowed(redirect_uri):
            return html_page(400, "redirect_uri invalide",
                         f"redirect_uri non enregistré pour ce client : {redirect_uri!r}")
        state = params.get("state")

        def fail(error: str, description: str) -> HttpAnswer:
            out = {"error": error, "error_description": description}
            if state is not None:
                out["state"] = state
            return redirect_answer(redirect_uri, out)

        if params.get("response_type") != "code":
            return fail("unsupported_response_type", "seul response_type=code est accepté")
        scope = params.get("scope", "")
        if "openid" not in scope.split():
            return fail("invalid_scope", "le scope doit contenir openid")
        acr_values = params.get("acr_values", "").split()
        if acr_values != [ACR]:
            return fail("invalid_request", "acr_values doit valoir eidas1 (seul niveau accepté par PSC)")
        challenge = params.get("code_challenge")
        method = params.get("code_challenge_method") or ("plain" if challenge else None)
        if challenge and method not in ("S256", "plain"):
            return fail("invalid_request", "code_challenge_method non pris en charge")
        pro = professionals.by_key(behaviour.professional)
        now = self.clock()
        grant = Grant(client_id=client_id, professional=pro.key, sub=behaviour.sub or pro.keycloak_sub,
                      scope=scope, nonce=params.get("nonce"), behaviour=behaviour, redirect_uri=redirect_uri,
                      code_challenge=challenge, code_challenge_method=method, auth_time=int(now), created=now)
        code = "psc-code-" + secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = grant
        self._remember(code)
        answer: dict[str, str] = {"code": code, "session_state": grant.session_id}
        if state is not None:
            answer["state"] = state
        edit = STATE_BEHAVIOURS[behaviour.state].redirect
        if edit is not None:
            edit(answer)
        return redirect_answer(redirect_uri, answer)

    def mint_code_like(self, code: str) -> str:
        """A fresh code bound to the same authorization as ``code`` (for the state-replay scenario)."""
        with self._lock:
            grant = self._codes.get(code)
            if grant is None:
                raise KeyError("unknown code")
            fresh = replace(grant, code_used=False, access_tokens=[], id_tokens=[],
                            session_id=secrets.token_hex(16), created=self.clock())
            new_code = "psc-code-" + secrets.token_urlsafe(24)
            self._codes[new_code] = fresh
        self._remember(new_code)
        return new_code

    # -- userinfo ---------------------------------------------------------------------------------
    def _bearer(self, headers: dict[str, str], form: dict[str, str]) -> Grant:
        auth = headers.get("authorization", "")
        parts = auth.split(None, 1)  # "Bearer" alone or "Bearer " with nothing after: no token, not a crash
        token = parts[1].strip() if len(parts) == 2 and parts[0].lower() == "bearer" else form.get("access_token", "")
        challenge = {"WWW-Authenticate": 'Bearer realm="esante-wallet", error="invalid_token"'}
        with self._lock:
            entry = self._access.get(token)
        if entry is None:
            raise OAuthError(401, "invalid_token", "jeton d'accès absent ou inconnu", challenge)
        grant, expires_at = entry
        if self.clock() > expires_at or grant.logged_out:
            raise OAuthError(401, "invalid_token", "jeton d'accès expiré ou session terminée", challenge)
        return grant

    def _userinfo(self, headers: dict[str, str], form: dict[str, str]) -> HttpAnswer:
        grant = self._bearer(headers, form)
        behaviour = grant.behaviour
        pro = professionals.by_key(grant.professional)
        mutator = USERINFO_BEHAVIOURS[behaviour.userinfo]
        claims = pro.userinfo(scope=grant.scope, sub=grant.sub)
        mint = Mint(now_int(self.clock), behaviour.token_lifetime, self.base_url, self.keys, self._hs256_secret())
        if mutator.claims is not None:
            mutator.claims(claims, mint)
        if behaviour.userinfo_format == "json" and mutator.sign is None:
            return HttpAnswer(200, claims, {"Cache-Control": "no-store"})
        claims.update(iss=self.issuer, aud=grant.client_id)
        token = mutator.sign(mint, claims) if mutator.sign is not None else self.keys.sign(claims)
        self._remember(token)
        return HttpAnswer(200, token, {"Cache-Control": "no-store"}, content_type="application/jwt")

    def _introspect(self, form: dict[str, str], headers: dict[str, str]) -> HttpAnswer:
        self._authenticate_client(form, headers)
        with self._lock:
            entry = self._access.get(form.get("token", ""))
        if entry is None or self.clock() > entry[1] or entry[0].logged_out:
            return HttpAnswer(200, {"active": False})
        grant, expires_at = entry
        return HttpAnswer(200, {"active": True, "sub": grant.sub, "client_id": grant.client_id,
                                "scope": grant.scope, "exp": int(expires_at), "iss": self.issuer})

    # -- logout -----------------------------------------------------------------------------------
    def _end_session(self, params: dict[str, str]) -> HttpAnswer:
        hint = params.get("id_token_hint", "")
        target = params.get("post_logout_redirect_uri", "")
        grant = self._grant_for_id_token(hint) if hint else None
        if hint and grant is None:
            return html_page(400, "id_token_hint invalide", "id_token_hint inconnu ou non émis par ce fournisseur")
        if target:
            allowed = set(self.client.post_logout_redirect_uris) | set(self.client.redirect_uris)
            origins = {origin_of(u) for u in allowed}
            if not (target in allowed or origin_of(target) in origins or self.client.allow_any_redirect_uri):
                return html_page(400, "post_logout_redirect_uri invalide",
                             f"post_logout_redirect_uri non enregistré : {target!r}")
            if not hint and not params.get("client_id"):
                return html_page(400, "Requête invalide", "post_logout_redirect_uri sans id_token_hint ni client_id")
        if grant is not None:
            with self._lock:
                grant.logged_out = True
                for token in grant.access_tokens:
                    self._access.pop(token, None)
        if target:
            out = {"state": params["state"]} if "state" in params else {}
            return redirect_answer(target, out)
        return html_page(200, "Déconnexion", "Vous êtes déconnecté de Pro Santé Connect (fournisseur simulé).")

    def _grant_for_id_token(self, token: str) -> Grant | None:
        with self._lock:
            grants = list(self._codes.values()) + [r.grant for r in self._ciba.values()]
        for grant in grants:
            if token in grant.id_tokens:
                return grant
        return None


__all__ = [
    "ACR", "AUTHORIZE_PATH", "CIBA_GRANT", "CIBA_OUTCOMES", "JWT_BEARER", "MAX_BODY", "PATHS", "REALM_PATH", "SKEW",
    "STANDARD_DISCOVERY", "WALLET_DISCOVERY", "Behaviour", "CibaRequest", "ClientRegistration", "Grant", "HttpAnswer",
    "MockPscProvider", "OAuthError",
]
