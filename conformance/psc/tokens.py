"""The token endpoint of the mock PSC provider: the authorization_code (with PKCE) and refresh_token
grants, token issuance, and the id_token minted through its behaviour row (``ID_TOKEN_BEHAVIOURS``)."""

from __future__ import annotations

import hmac
import secrets
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from conformance.psc import professionals
from conformance.psc.behaviours import ID_TOKEN_BEHAVIOURS, Mint
from conformance.psc.grants import ClientRegistration, Grant
from conformance.psc.oauth_http import HttpAnswer, OAuthError
from conformance.psc.signing import KeyRing, half_hash, pkce_s256

CIBA_GRANT = "urn:openid:params:grant-type:ciba"
ACR = "eidas1"
CODE_TTL = 60


def now_int(clock: Callable[[], float]) -> int:
    return int(clock())


class TokenEndpoint:
    """Mixin of ``MockPscProvider``: ``/token`` (and the minting of every token it hands out)."""

    client: ClientRegistration
    clock: Callable[[], float]
    keys: KeyRing
    base_url: str
    issuer: str
    _lock: threading.RLock
    _codes: dict[str, Grant]
    _access: dict[str, tuple[Grant, float]]
    _refresh: dict[str, Grant]

    if TYPE_CHECKING:
        def _authenticate_client(self, form: dict[str, str], headers: dict[str, str]) -> str: ...

        def _token_from_ciba(self, form: dict[str, str]) -> HttpAnswer: ...

        def _remember(self, *values: str | None) -> None: ...

    def _token(self, form: dict[str, str], headers: dict[str, str]) -> HttpAnswer:
        self._authenticate_client(form, headers)
        grant_type = form.get("grant_type", "")
        if grant_type == "authorization_code":
            return self._token_from_code(form)
        if grant_type == "refresh_token":
            return self._token_from_refresh(form)
        if grant_type == CIBA_GRANT:
            return self._token_from_ciba(form)
        raise OAuthError(400, "unsupported_grant_type", f"grant_type non pris en charge : {grant_type!r}")

    def _token_from_code(self, form: dict[str, str]) -> HttpAnswer:
        code = form.get("code", "")
        self._remember(code, form.get("code_verifier"))
        with self._lock:
            grant = self._codes.get(code)
            if grant is None:
                raise OAuthError(400, "invalid_grant", "code inconnu")
            if grant.code_used:
                # RFC 6749 §4.1.2: a second use revokes what the first one issued
                for token in grant.access_tokens:
                    self._access.pop(token, None)
                raise OAuthError(400, "invalid_grant", "code déjà utilisé")
            grant.code_used = True
        if self.clock() - grant.created > CODE_TTL:
            raise OAuthError(400, "invalid_grant", "code expiré")
        if grant.client_id != self.client.client_id:
            raise OAuthError(400, "invalid_grant", "code émis pour un autre client")
        if form.get("redirect_uri", "") != grant.redirect_uri:
            raise OAuthError(400, "invalid_grant", "redirect_uri différent de celui de la demande d'autorisation")
        if grant.code_challenge:
            verifier = form.get("code_verifier", "")
            if not verifier:
                raise OAuthError(400, "invalid_grant", "code_verifier absent (PKCE)")
            if not (43 <= len(verifier) <= 128):
                raise OAuthError(400, "invalid_grant", "code_verifier de longueur invalide (43 à 128)")
            expected = pkce_s256(verifier) if grant.code_challenge_method == "S256" else verifier
            if not hmac.compare_digest(expected.encode(), grant.code_challenge.encode()):
                raise OAuthError(400, "invalid_grant", "code_verifier ne correspond pas au code_challenge (PKCE)")
        return self._issue(grant, with_refresh=True)

    def _token_from_refresh(self, form: dict[str, str]) -> HttpAnswer:
        token = form.get("refresh_token", "")
        with self._lock:
            grant = self._refresh.pop(token, None)
        if grant is None or grant.logged_out:
            raise OAuthError(400, "invalid_grant", "refresh_token inconnu, déjà utilisé ou session terminée")
        return self._issue(grant, with_refresh=True, switch="nominal")

    def _issue(self, grant: Grant, *, with_refresh: bool, switch: str | None = None) -> HttpAnswer:
        lifetime = grant.behaviour.token_lifetime
        access = "psc-at-" + secrets.token_urlsafe(32)
        refresh = "psc-rt-" + secrets.token_urlsafe(32) if with_refresh else None
        id_token = self._id_token(grant, access, switch or grant.behaviour.id_token)
        with self._lock:
            self._access[access] = (grant, self.clock() + lifetime)
            if refresh:
                self._refresh[refresh] = grant
            grant.access_tokens.append(access)
            grant.id_tokens.append(id_token)
        self._remember(access, refresh, id_token)
        body: dict[str, Any] = {
            "access_token": access, "expires_in": lifetime, "token_type": "Bearer", "id_token": id_token,
            "not-before-policy": 0, "session_state": grant.session_id, "scope": grant.scope,
        }
        if refresh:
            body.update(refresh_token=refresh, refresh_expires_in=lifetime * 3)
        return HttpAnswer(200, body, {"Cache-Control": "no-store", "Pragma": "no-cache"})

    def _hs256_secret(self) -> str | None:
        return self.client.client_secret if self.client.id_token_alg == "HS256" else None

    def _id_token(self, grant: Grant, access_token: str, switch: str) -> str:
        pro = professionals.by_key(grant.professional)
        now = now_int(self.clock)
        lifetime = grant.behaviour.token_lifetime
        claims: dict[str, Any] = {
            "exp": now + lifetime, "iat": now, "auth_time": grant.auth_time or now,
            "jti": secrets.token_hex(16), "iss": self.issuer, "aud": grant.client_id, "sub": grant.sub,
            "typ": "ID", "azp": grant.client_id, "session_state": grant.session_id, "sid": grant.session_id,
            "at_hash": half_hash(access_token), "acr": ACR,
            "preferred_username": pro.subject_name_id, "given_name": pro.given_name,
            "family_name": pro.family_name,
        }
        if grant.nonce is not None:
            claims["nonce"] = grant.nonce
        mutator = ID_TOKEN_BEHAVIOURS[switch]
        mint = Mint(now, lifetime, self.base_url, self.keys, self._hs256_secret())
        if mutator.claims is not None:
            mutator.claims(claims, mint)
        return (mutator.sign or Mint.sign)(mint, claims)
