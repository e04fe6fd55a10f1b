"""The reference sandbox's Pro Santé Connect relying party: a correct OIDC client, with defect switches.

Call signature (what ``server.py`` does; the browser session is the ``sid`` cookie)::

    rp = PscRelyingParty(endpoint, defects)      # endpoint = the "psc" object of PUT /endpoints:
                                                 #   {"issuer", "discovery_url", "client_id", "client_secret",
                                                 #    "redirect_uri", "token_endpoint_auth_method"?,
                                                 #    "id_token_signed_response_alg"?,
                                                 #    "post_logout_redirect_uri"?}
    rp.login(sid)            -> {"authorization_url": str}                       # POST /psc/login
    rp.callback(query, sid)  -> {"logged_in": bool, "error": str | None}         # GET  /psc/callback?code&state
    rp.session(sid)          -> {"logged_in", "subject", "exercice", "error"}    # GET  /psc/session
    rp.logout(sid)           -> {"end_session_url": str | None}                  # POST /psc/logout

Every method is thread-safe and never raises for what the provider or the browser sent: a refusal is an
answer (``logged_in: false`` with an ``error``), which is how sandbox contract v1 lets the harness see
it. What it does is what protocols.md §4.4 asks of a relying party: discovery on the PSC *wallet* path,
``response_type=code``, ``scope=openid scope_all``, ``acr_values=eidas1``, single-use ``state`` bound to
the browser session, ``nonce``, PKCE S256, client authentication at the token endpoint, id_token
signature checked against the JWKS (refetched once on an unknown ``kid``, never ``alg: none``), ``iss``,
``aud``/``azp``, ``exp``/``iat``, ``nonce`` and ``acr`` checked, userinfo (JSON or signed JWT) whose
``sub`` must equal the id_token's, the user identified by ``SubjectNameID``, logout through
``end_session`` with ``id_token_hint``. JWT signatures are verified with joserfc.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, OctKey

DEFECTS = {
    "no_nonce_check": "Ne vérifie pas que le nonce de l'id_token est celui envoyé",
    "no_signature_check": "Ne vérifie pas la signature de l'id_token (accepte aussi alg none et un kid inconnu)",
    "accepts_any_aud": "Accepte un id_token dont l'audience n'est pas son client_id",
    "ignores_acr": "Accepte un id_token dont l'acr n'est pas eidas1",
    "state_not_checked": "Ne vérifie pas le state au retour (ni sa valeur, ni son usage unique, ni sa session)",
    "jwks_not_refetched": "Garde en cache le premier JWKS lu et ne le recharge jamais (rotation des clés PSC non suivie)",
    "logout_without_id_token_hint": "Déconnexion par end_session sans id_token_hint (session PSC non désignée)",
    "accounts_matched_by_email": "Rattache la connexion PSC au compte local par l'adresse électronique, "
                                 "non par le SubjectNameID",
}

WALLET_DISCOVERY = "/.well-known/wallet-openid-configuration"
SCOPE = "openid scope_all"
ACR = "eidas1"
ALGORITHMS = ["RS256", "PS256", "ES256"]  # asymmetric only: never "none", never HS* with a public key
SKEW = 60
STATE_TTL = 120  # the ANS PoC allows 120 s between authorize and callback
MAX_DOCUMENT = 1024 * 1024
TIMEOUT = 10.0


class Refused(Exception):
    """A login refused for a reason the user (and the harness) should see."""


@dataclass
class Pending:
    sid: str
    nonce: str
    verifier: str
    created: float


@dataclass
class Session:
    logged_in: bool = False
    subject: str | None = None
    exercice: dict[str, Any] | None = None
    error: str | None = None
    id_token: str | None = None
    access_token: str | None = None
    refresh_token: str | None = None
    expires_at: float = 0.0
    claims: dict[str, Any] = field(default_factory=dict)

    def public(self) -> dict[str, Any]:
        return {"logged_in": self.logged_in, "subject": self.subject, "exercice": self.exercice,
                "error": self.error}


class PscRelyingParty:
    def __init__(self, endpoint: dict[str, Any], defects: frozenset[str] | set[str] = frozenset(), *,
                 http: requests.Session | None = None, clock: Callable[[], float] = time.time) -> None:
        self.issuer = str(endpoint.get("issuer") or "")
        self.discovery_url = str(endpoint.get("discovery_url") or (self.issuer.rstrip("/") + WALLET_DISCOVERY))
        self.client_id = str(endpoint.get("client_id") or "")
        self.client_secret = str(endpoint.get("client_secret") or "")
        self.redirect_uri = str(endpoint.get("redirect_uri") or "")
        self.post_logout_redirect_uri = str(endpoint.get("post_logout_redirect_uri") or self.redirect_uri)
        self.auth_method = str(endpoint.get("token_endpoint_auth_method") or "client_secret_basic")
        self.id_token_alg = str(endpoint.get("id_token_signed_response_alg") or "RS256")
        self.defects = frozenset(defects)
        self.clock = clock
        self.http = http or requests.Session()
        self.http.trust_env = False
        self._lock = threading.RLock()
        self._pending: dict[str, Pending] = {}
        self._sessions: dict[str, Session] = {}
        self._metadata: dict[str, Any] | None = None
        self._jwks: KeySet | None = None
        self._accounts_by_email: dict[str, str] = {}  # only with the accounts_matched_by_email defect

    # -- contract v1 ------------------------------------------------------------------------------
    def login(self, session_id: str) -> dict[str, Any]:
        meta = self._discovery()
        if not (self.client_id and self.redirect_uri):
            raise ValueError("configuration PSC incomplète : client_id et redirect_uri sont requis")
        state = secrets.token_urlsafe(32)
        nonce = secrets.token_hex(32)  # 32 random bytes in hex, as the ANS connector does
        verifier = secrets.token_urlsafe(64)
        with self._lock:
            self._purge()
            self._pending[state] = Pending(session_id, nonce, verifier, self.clock())
        params = {
            "response_type": "code", "client_id": self.client_id, "redirect_uri": self.redirect_uri,
            "scope": SCOPE, "acr_values": ACR, "state": state, "nonce": nonce,
            "code_challenge": _s256(verifier), "code_challenge_method": "S256",
        }
        endpoint = meta["authorization_endpoint"]
        sep = "&" if urlsplit(endpoint).query else "?"
        return {"authorization_url": f"{endpoint}{sep}{urlencode(params)}"}

    def callback(self, query: dict[str, str], session_id: str) -> dict[str, Any]:
        try:
            session = self._complete_login(query, session_id)
        except Refused as exc:
            session = Session(error=str(exc))
        except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
            session = Session(error=f"connexion PSC impossible : {type(exc).__name__}: {exc}")
        with self._lock:
            if session.logged_in or not self._sessions.get(session_id, Session()).logged_in:
                self._sessions[session_id] = session
        return {"logged_in": session.logged_in, "error": session.error}

    def session(self, session_id: str) -> dict[str, Any]:
        with self._lock:
            session = self._sessions.get(session_id)
        if session is None:
            return Session().public()
        if session.logged_in and self.clock() > session.expires_at and not self._refresh(session):
            session.logged_in = False
            session.error = "session PSC expirée : ré-authentification nécessaire"
        return session.public()

    def logout(self, session_id: str) -> dict[str, Any]:
        with self._lock:
            session = self._sessions.pop(session_id, None)
        if session is None or not session.id_token:
            return {"end_session_url": None}
        with self._lock:
            self._sessions[session_id] = Session(error="déconnecté")
        meta = self._discovery()
        params = {"id_token_hint": session.id_token, "post_logout_redirect_uri": self.post_logout_redirect_uri,
                  "state": secrets.token_urlsafe(16), "client_id": self.client_id}
        if "logout_without_id_token_hint" in self.defects:
            del params["id_token_hint"]
        endpoint = meta.get("end_session_endpoint")
        if not endpoint:
            return {"end_session_url": None}
        return {"end_session_url": f"{endpoint}?{urlencode(params)}"}

    # -- the login ----------------------------------------------------------------------------------
    def _complete_login(self, query: dict[str, str], session_id: str) -> Session:
        if query.get("error"):
            raise Refused(f"PSC a refusé l'authentification : {query.get('error')} "
                          f"{query.get('error_description', '')}".strip())
        pending = self._take_pending(query.get("state"), session_id)
        code = query.get("code")
        if not code:
            raise Refused("aucun code d'autorisation reçu")
        meta = self._discovery()
        tokens = self._exchange(meta, code, pending.verifier)
        id_token = tokens.get("id_token")
        access_token = tokens.get("access_token")
        if not isinstance(id_token, str) or not isinstance(access_token, str):
            raise Refused("réponse du point d'accès token sans id_token ou access_token")
        claims = self._validate_id_token(id_token, pending.nonce)
        userinfo = self._userinfo(meta, access_token, claims["sub"])
        subject = userinfo.get("SubjectNameID")
        if not isinstance(subject, str) or not subject:
            raise Refused("SubjectNameID absent de userinfo : professionnel non identifiable")
        email = userinfo.get("email")
        if "accounts_matched_by_email" in self.defects and isinstance(email, str) and email:
            with self._lock:  # the defect: the local account found by e-mail, whoever logged in
                subject = self._accounts_by_email.setdefault(email.lower(), subject)
        lifetime = tokens.get("expires_in")
        return Session(logged_in=True, subject=subject, exercice=_exercice(userinfo), id_token=id_token,
                       access_token=access_token, refresh_token=tokens.get("refresh_token"),
                       expires_at=self.clock() + (lifetime if isinstance(lifetime, int) else 60), claims=claims)

    def _take_pending(self, state: str | None, session_id: str) -> Pending:
        with self._lock:
            if "state_not_checked" in self.defects:
                found = self._pending.get(state or "")
                if found is None:
                    mine = [p for p in self._pending.values() if p.sid == session_id] or list(self._pending.values())
                    found = mine[-1] if mine else None
                if found is None:
                    raise Refused("aucune connexion en cours")
                return found
            pending = self._pending.pop(state, None) if state else None
        if pending is None:
            raise Refused("state inconnu ou déjà utilisé (protection CSRF) : connexion refusée")
        if pending.sid != session_id:
            raise Refused("state émis pour une autre session du navigateur : connexion refusée")
        if self.clock() - pending.created > STATE_TTL:
            raise Refused("state expiré : connexion refusée")
        return pending

    def _exchange(self, meta: dict[str, Any], code: str, verifier: str) -> dict[str, Any]:
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri,
                "code_verifier": verifier}
        return self._token_request(meta, form)

    def _token_request(self, meta: dict[str, Any], form: dict[str, str]) -> dict[str, Any]:
        auth: tuple[str, str] | None = None
        if self.auth_method == "client_secret_post":
            form = {**form, "client_id": self.client_id, "client_secret": self.client_secret}
        else:
            auth = (self.client_id, self.client_secret)
        resp = self.http.post(meta["token_endpoint"], data=form, auth=auth, timeout=TIMEOUT,
                              headers={"Accept": "application/json"})
        data = _bounded_json(resp)
        if resp.status_code != 200 or not isinstance(data, dict):
            error = data.get("error") if isinstance(data, dict) else resp.status_code
            raise Refused(f"le point d'accès token a refusé l'échange : {error}")
        return data

    def _refresh(self, session: Session) -> bool:
        if not session.refresh_token:
            return False
        try:
            tokens = self._token_request(self._discovery(), {"grant_type": "refresh_token",
                                                             "refresh_token": session.refresh_token})
        except (Refused, requests.RequestException, ValueError):
            return False
        session.access_token = tokens.get("access_token")
        session.refresh_token = tokens.get("refresh_token", session.refresh_token)
        lifetime = tokens.get("expires_in")
        session.expires_at = self.clock() + (lifetime if isinstance(lifetime, int) else 60)
        return True

    # -- token validation ---------------------------------------------------------------------------
    def _validate_id_token(self, token: str, nonce: str) -> dict[str, Any]:
        if "no_signature_check" in self.defects:
            claims = _unverified_claims(token)
        else:
            claims = self._verified_claims(token, "id_token", registered=self.id_token_alg)
        now = self.clock()
        if claims.get("iss") != self.issuer:
            raise Refused(f"id_token : émetteur inattendu {claims.get('iss')!r}")
        if "accepts_any_aud" not in self.defects:
            aud = claims.get("aud")
            audiences = aud if isinstance(aud, list) else [aud]
            if self.client_id not in audiences:
                raise Refused(f"id_token : audience {aud!r} ne contient pas le client_id")
            if len(audiences) > 1 and claims.get("azp") != self.client_id:
                raise Refused("id_token : plusieurs audiences et azp différent du client_id")
        exp, iat = claims.get("exp"), claims.get("iat")
        if not isinstance(exp, (int, float)) or exp < now - SKEW:
            raise Refused("id_token expiré (exp dépassé)")
        if not isinstance(iat, (int, float)) or iat > now + SKEW:
            raise Refused("id_token émis dans le futur (iat)")
        if "no_nonce_check" not in self.defects and claims.get("nonce") != nonce:
            raise Refused("id_token : nonce différent de celui envoyé (rejeu possible)")
        if "ignores_acr" not in self.defects and claims.get("acr") != ACR:
            raise Refused(f"id_token : niveau d'authentification {claims.get('acr')!r} au lieu de eidas1")
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise Refused("id_token sans sub")
        return claims

    def _verified_claims(self, token: str, what: str, registered: str | None = None) -> dict[str, Any]:
        """Verify with the registered algorithm only: HS256 with the client secret, else the JWKS."""
        header = _header(token)
        alg = header.get("alg")
        if registered == "HS256":
            if alg != "HS256":
                raise Refused(f"{what} : algorithme {alg!r} au lieu de HS256 enregistré")
            keys: Any = OctKey.import_key(self.client_secret)
        else:
            if alg not in ALGORITHMS or (registered and alg != registered):
                raise Refused(f"{what} : algorithme {alg!r} refusé")
            keys = self._keys(header.get("kid"))
        try:
            return dict(jwt.decode(token, keys, algorithms=[str(alg)]).claims)
        except (JoseError, ValueError) as exc:
            raise Refused(f"{what} : signature invalide ({type(exc).__name__})") from None

    def _keys(self, kid: Any) -> KeySet:
        """The JWKS, refetched once when ``kid`` is unknown (PSC rotates its keys)."""
        with self._lock:
            jwks = self._jwks
        if jwks is None or (not _has_kid(jwks, kid) and "jwks_not_refetched" not in self.defects):
            jwks = KeySet.import_key_set(self._get_json(self._discovery()["jwks_uri"]))
            with self._lock:
                self._jwks = jwks
        if not _has_kid(jwks, kid):
            raise Refused(f"clé de signature inconnue (kid {kid!r} absent du JWKS)")
        return jwks

    def _userinfo(self, meta: dict[str, Any], access_token: str, sub: str) -> dict[str, Any]:
        resp = self.http.get(meta["userinfo_endpoint"], timeout=TIMEOUT,
                             headers={"Authorization": f"Bearer {access_token}"})
        if resp.status_code != 200:
            raise Refused(f"userinfo refusé ({resp.status_code})")
        if len(resp.content) > MAX_DOCUMENT:
            raise Refused("userinfo trop volumineux")
        content_type = resp.headers.get("Content-Type", "").split(";")[0].strip()
        if content_type == "application/jwt":
            claims = self._verified_claims(resp.text.strip(), "userinfo")
            if claims.get("iss") not in (None, self.issuer):
                raise Refused("userinfo : émetteur inattendu")
        else:
            data = _bounded_json(resp)
            if not isinstance(data, dict):
                raise Refused("userinfo illisible")
            claims = data
        if claims.get("sub") != sub:
            raise Refused("userinfo : sub différent de celui de l'id_token (substitution de jeton)")
        return claims

    # -- plumbing -----------------------------------------------------------------------------------
    def _discovery(self) -> dict[str, Any]:
        with self._lock:
            if self._metadata is not None:
                return self._metadata
        meta = self._get_json(self.discovery_url)
        if not isinstance(meta, dict):
            raise ValueError("document de découverte PSC illisible")
        if meta.get("issuer") != self.issuer:
            raise ValueError(f"découverte : issuer {meta.get('issuer')!r} différent de l'émetteur configuré")
        for key in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri"):
            if not str(meta.get(key, "")).startswith(("https://", "http://")):
                raise ValueError(f"découverte : {key} absent ou invalide")
        with self._lock:
            self._metadata = meta
        return meta

    def _get_json(self, url: str) -> Any:
        resp = self.http.get(url, timeout=TIMEOUT, headers={"Accept": "application/json"})
        if resp.status_code != 200:
            raise ValueError(f"{url} a répondu {resp.status_code}")
        data = _bounded_json(resp)
        if data is None:
            raise ValueError(f"{url} : réponse non JSON")
        return data

    def _purge(self) -> None:
        now = self.clock()
        for state in [s for s, p in self._pending.items() if now - p.created > 10 * STATE_TTL]:
            del self._pending[state]


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _b64json(segment: str) -> dict[str, Any]:
    try:
        data = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, TypeError):
        raise Refused("jeton illisible") from None
    if not isinstance(data, dict):
        raise Refused("jeton illisible")
    return data


def _header(token: str) -> dict[str, Any]:
    parts = token.split(".")
    if len(parts) != 3:
        raise Refused("jeton mal formé (JWS compact attendu)")
    return _b64json(parts[0])


def _unverified_claims(token: str) -> dict[str, Any]:
    parts = token.split(".")
    if len(parts) != 3:
        raise Refused("jeton mal formé (JWS compact attendu)")
    return _b64json(parts[1])


def _has_kid(keys: KeySet, kid: Any) -> bool:
    return any(k.kid == kid for k in keys.keys) if kid else len(keys.keys) == 1


def _bounded_json(resp: requests.Response) -> Any:
    if len(resp.content) > MAX_DOCUMENT:
        return None
    try:
        return resp.json()
    except ValueError:
        return None


def _exercice(userinfo: dict[str, Any]) -> dict[str, Any] | None:
    """The practice situation shown to the user: the first exercice and its first activity."""
    ref = userinfo.get("SubjectRefPro")
    exercices = ref.get("exercices") if isinstance(ref, dict) else None
    if not isinstance(exercices, list) or not exercices or not isinstance(exercices[0], dict):
        return None
    exercice = exercices[0]
    activities = exercice.get("activities")
    activity = activities[0] if isinstance(activities, list) and activities and isinstance(activities[0], dict) else {}
    return {
        "codeProfession": exercice.get("codeProfession"),
        "codeSavoirFaire": exercice.get("codeSavoirFaire"),
        "codeSecteurDactivite": activity.get("codeSecteurDactivite"),
        "identifiantTechniqueDeLaStructure": activity.get("identifiantTechniqueDeLaStructure"),
        "raisonSocialeSite": activity.get("raisonSocialeSite"),
    }
