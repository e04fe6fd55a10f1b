"""The CIBA flow of the mock PSC provider (OpenID CIBA Core, poll mode): the backchannel authentication
request, then the token polls answered pending, slow_down, denied, expired or with tokens."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from conformance.psc import professionals
from conformance.psc.behaviours import Behaviour
from conformance.psc.grants import CibaRequest, ClientRegistration, Grant
from conformance.psc.oauth_http import HttpAnswer, OAuthError


class CibaFlow:
    """Mixin of ``MockPscProvider``: ``/ext/ciba/auth`` and the CIBA grant at the token endpoint."""

    client: ClientRegistration
    clock: Callable[[], float]
    _behaviour: Behaviour
    _lock: threading.RLock
    _ciba: dict[str, CibaRequest]

    if TYPE_CHECKING:
        def _authenticate_client(self, form: dict[str, str], headers: dict[str, str]) -> str: ...

        def _remember(self, *values: str | None) -> None: ...

        def _issue(self, grant: Grant, *, with_refresh: bool, switch: str | None = None) -> HttpAnswer: ...

    def _ciba_auth(self, form: dict[str, str], headers: dict[str, str]) -> HttpAnswer:
        self._authenticate_client(form, headers)
        behaviour = self._behaviour
        scope = form.get("scope", "")
        if "openid" not in scope.split():
            raise OAuthError(400, "invalid_scope", "le scope doit contenir openid")
        hint = form.get("login_hint", "")
        if not hint:
            raise OAuthError(400, "invalid_request", "login_hint absent (identifiant national du professionnel)")
        pro = professionals.by_subject_name_id(hint)
        if pro is None:
            raise OAuthError(400, "unknown_user_id", "login_hint ne désigne aucun professionnel connu")
        binding = form.get("binding_message", "")
        if len(binding) > 100:
            raise OAuthError(400, "invalid_binding_message", "binding_message trop long")
        now = self.clock()
        grant = Grant(client_id=self.client.client_id, professional=pro.key,
                      sub=behaviour.sub or pro.keycloak_sub, scope=scope, nonce=None,
                      behaviour=behaviour, auth_time=int(now), created=now)
        auth_req_id = "psc-ciba-" + secrets.token_urlsafe(24)
        request = CibaRequest(grant=grant, expires_at=now + behaviour.ciba_expires_in,
                              interval=behaviour.ciba_interval, pending_left=behaviour.ciba_pending_polls,
                              outcome=behaviour.ciba_outcome, login_hint=hint, binding_message=binding)
        with self._lock:
            self._ciba[auth_req_id] = request
        self._remember(auth_req_id)
        return HttpAnswer(200, {"auth_req_id": auth_req_id, "expires_in": behaviour.ciba_expires_in,
                                "interval": behaviour.ciba_interval}, {"Cache-Control": "no-store"})

    def _token_from_ciba(self, form: dict[str, str]) -> HttpAnswer:
        auth_req_id = form.get("auth_req_id", "")
        now = self.clock()
        with self._lock:
            request = self._ciba.get(auth_req_id)
            if request is None or request.done:
                raise OAuthError(400, "invalid_grant", "auth_req_id inconnu ou déjà consommé")
            if now > request.expires_at:
                request.done = True
                raise OAuthError(400, "expired_token", "la demande CIBA a expiré")
            if request.last_poll is not None and now - request.last_poll < request.interval:
                request.last_poll = now
                request.interval += 5  # CIBA Core §11: the client must slow down by 5 s
                raise OAuthError(400, "slow_down", f"interrogation trop rapprochée ; intervalle porté à "
                                                   f"{request.interval} s")
            request.last_poll = now
            if request.pending_left > 0:
                request.pending_left -= 1
                raise OAuthError(400, "authorization_pending", "le professionnel n'a pas encore validé sur e-CPS")
            request.done = True
            outcome = request.outcome
        if outcome == "deny":
            raise OAuthError(400, "access_denied", "le professionnel a refusé la demande sur e-CPS")
        if outcome == "expire":
            raise OAuthError(400, "expired_token", "la demande CIBA a expiré sans réponse")
        return self._issue(request.grant, with_refresh=True)
