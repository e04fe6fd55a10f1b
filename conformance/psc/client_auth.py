"""Client authentication at the mock PSC provider's token, introspection and CIBA endpoints (RFC 6749
§2.3, OIDC Core §9): client_secret_basic, client_secret_post and private_key_jwt, one method a request."""

from __future__ import annotations

import base64
import hmac
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import unquote_plus

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from conformance.psc.grants import ClientRegistration
from conformance.psc.oauth_http import OAuthError

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
SKEW = 30


class ClientAuthentication:
    """Mixin of ``MockPscProvider``: who the client is, proven by one of its registered methods."""

    client: ClientRegistration
    clock: Callable[[], float]
    issuer: str
    _lock: threading.RLock
    _assertion_jtis: set[str]

    if TYPE_CHECKING:
        def _remember(self, *values: str | None) -> None: ...

        def endpoint(self, name: str) -> str: ...

    def _authenticate_client(self, form: dict[str, str], headers: dict[str, str]) -> str:
        """Return the method used; raise invalid_client otherwise (RFC 6749 §2.3, OIDC Core §9)."""
        auth = headers.get("authorization", "")
        used: list[str] = []
        if auth.lower().startswith("basic "):
            used.append("client_secret_basic")
        if "client_secret" in form:
            used.append("client_secret_post")
        if "client_assertion" in form:
            used.append("private_key_jwt")
        if len(used) > 1:
            raise OAuthError(400, "invalid_request", "plusieurs méthodes d'authentification client à la fois")
        if not used:
            raise OAuthError(401, "invalid_client", "authentification du client absente",
                             {"WWW-Authenticate": 'Basic realm="esante-wallet"'})
        method = used[0]
        if method not in self.client.auth_methods:
            raise OAuthError(401, "invalid_client", f"méthode {method} non autorisée pour ce client")
        if method == "client_secret_basic":
            try:
                raw = base64.b64decode(auth.split(None, 1)[1], validate=True).decode("utf-8")
                cid, _, secret = raw.partition(":")
                cid, secret = unquote_plus(cid), unquote_plus(secret)
            except (ValueError, IndexError):
                raise OAuthError(401, "invalid_client", "en-tête Basic illisible") from None
            self._check_secret(cid, secret, form)
        elif method == "client_secret_post":
            self._check_secret(form.get("client_id", ""), form.get("client_secret", ""), form)
        else:
            self._check_assertion(form)
        return method

    def _check_secret(self, cid: str, secret: str, form: dict[str, str]) -> None:
        if "client_id" in form and form["client_id"] != cid:
            raise OAuthError(401, "invalid_client", "client_id du formulaire différent de celui authentifié")
        ok_id = hmac.compare_digest(cid.encode(), self.client.client_id.encode())
        ok_secret = hmac.compare_digest(secret.encode(), self.client.client_secret.encode())
        if not (ok_id and ok_secret):
            raise OAuthError(401, "invalid_client", "identifiant ou secret client invalide")

    def _check_assertion(self, form: dict[str, str]) -> None:
        if form.get("client_assertion_type") != JWT_BEARER:
            raise OAuthError(401, "invalid_client", "client_assertion_type invalide")
        if not self.client.jwks:
            raise OAuthError(401, "invalid_client", "aucune clé publique enregistrée pour private_key_jwt")
        assertion = form["client_assertion"]
        self._remember(assertion)
        try:
            token = jwt.decode(assertion, KeySet.import_key_set(self.client.jwks),  # type: ignore[arg-type]
                               algorithms=["RS256", "ES256", "PS256"])
        except (JoseError, ValueError) as exc:
            raise OAuthError(401, "invalid_client", f"client_assertion non vérifiable : {exc}") from None
        claims = token.claims
        cid = self.client.client_id
        now = int(self.clock())
        aud = claims.get("aud")
        auds = aud if isinstance(aud, list) else [aud]
        problems = []
        if claims.get("iss") != cid or claims.get("sub") != cid:
            problems.append("iss et sub doivent valoir le client_id")
        if self.endpoint("token") not in auds and self.issuer not in auds:
            problems.append("aud doit désigner le point d'accès token ou l'émetteur")
        if not isinstance(claims.get("exp"), int) or claims["exp"] < now - SKEW:
            problems.append("exp absent ou dépassé")
        jti = claims.get("jti")
        if not jti:
            problems.append("jti absent")
        if "client_id" in form and form["client_id"] != cid:
            problems.append("client_id du formulaire différent")
        with self._lock:
            if jti and jti in self._assertion_jtis:
                problems.append("jti déjà utilisé (rejeu d'assertion)")
            elif jti:
                self._assertion_jtis.add(str(jti))
        if problems:
            raise OAuthError(401, "invalid_client", "; ".join(problems))
