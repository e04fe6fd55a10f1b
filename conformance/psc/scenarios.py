"""Relying-party scenarios: set a provider switch, drive a login as the browser, judge the candidate.

Why this shape: it mirrors the OpenID Foundation RP tests (anchors.md §2) with one difference that
matters to an auditor: *silence is not a refusal*. A negative scenario passes only when the candidate
positively answers ``logged_in: false`` with an ``error`` (sandbox contract v1), and only when the
trap was actually sprung (the candidate reached the token or userinfo step where the forged value was
served); otherwise the scenario is reported as not evaluated, never as passed. Each run returns its
findings and a redacted transcript (the "Transcription OIDC" proof).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from conformance.findings import Finding, error, info, warning
from conformance.psc import checks, professionals
from conformance.psc.browser import Browser, Landing, LeftLoopback, is_loopback_url
from conformance.psc.provider import MockPscProvider
from conformance.psc.redact import Redactor
from conformance.psc.transcript import Step, ordered

REQ_AUTH = "SC.PSC.01"
REQ_LINK = "SC.PSC.02"
REQ_ACR = "SC.PSC.08"
TRANSCRIPT_FORMAT = "segur-conformance-psc-transcript"


@dataclass(frozen=True)
class RpScenario:
    """One relying-party scenario (protocols.md §4.5 numbering in ``ref``)."""

    id: str
    ref: str
    title: str
    title_en: str
    kind: str  # "positive", "negative" (must refuse) or "advisory" (refusal preferred, acceptance = warning)
    runner: str = "login"  # login | rotation | state_reuse | state_other_session | logout | identity
    switches: Mapping[str, Any] = field(default_factory=dict)
    stage: str = "token"  # negatives: where the trap is served (token | userinfo | callback)
    requirements: tuple[str, ...] = (REQ_AUTH,)
    accepted: str = ""  # French: what the candidate accepted that it should have refused
    accepted_en: str = ""


SCENARIOS: tuple[RpScenario, ...] = (
    RpScenario("nominal", "P1-P4", "Connexion nominale (découverte, autorisation, code, userinfo JSON)",
               "Nominal login (discovery, authorization, code exchange, JSON userinfo)", "positive",
               requirements=(REQ_AUTH, REQ_ACR)),
    RpScenario("userinfo_jwt", "P4", "userinfo signé (application/jwt)", "Signed userinfo (application/jwt)",
               "positive", switches={"userinfo_format": "jwt"}),
    RpScenario("key_rotation", "P13", "Rotation des clés du fournisseur", "Provider key rotation", "positive",
               runner="rotation"),
    RpScenario("logout", "P15", "Déconnexion par end_session", "Logout through end_session", "positive",
               runner="logout"),
    RpScenario("identity_by_rpps", "P4", "Identification par SubjectNameID (sub et e-mail trompeurs)",
               "Identification by SubjectNameID (misleading sub and e-mail)", "positive", runner="identity",
               requirements=(REQ_LINK,)),
    RpScenario("bad_signature", "P5", "id_token à la signature invalide", "id_token with a bad signature",
               "negative", switches={"id_token": "bad_signature"},
               accepted="un id_token signé par une clé non publiée (signature invalide sous le kid du fournisseur)",
               accepted_en="an id_token signed by an unpublished key (bad signature under the provider's kid)"),
    RpScenario("alg_none", "P6", "id_token non signé (alg none)", "Unsigned id_token (alg none)", "negative",
               switches={"id_token": "alg_none"},
               accepted="un id_token non signé (alg: none)", accepted_en="an unsigned id_token (alg: none)"),
    RpScenario("wrong_iss", "P7", "id_token d'un autre émetteur", "id_token from another issuer", "negative",
               switches={"id_token": "wrong_iss"},
               accepted="un id_token dont l'iss n'est pas l'émetteur PSC configuré",
               accepted_en="an id_token whose iss is not the configured PSC issuer"),
    RpScenario("wrong_aud", "P8", "id_token destiné à un autre client", "id_token for another client", "negative",
               switches={"id_token": "wrong_aud"},
               accepted="un id_token dont l'audience n'est pas son client_id",
               accepted_en="an id_token whose audience is not its client_id"),
    RpScenario("expired", "P9", "id_token expiré", "Expired id_token", "negative", switches={"id_token": "expired"},
               accepted="un id_token expiré depuis 10 minutes", accepted_en="an id_token expired 10 minutes ago"),
    RpScenario("iat_future", "P9", "id_token émis dans le futur", "id_token issued in the future", "negative",
               switches={"id_token": "iat_future"},
               accepted="un id_token émis une heure dans le futur (iat)",
               accepted_en="an id_token issued one hour in the future (iat)"),
    RpScenario("wrong_nonce", "P10", "id_token au nonce différent", "id_token with another nonce", "negative",
               switches={"id_token": "wrong_nonce"},
               accepted="un id_token dont le nonce n'est pas celui envoyé (rejeu possible)",
               accepted_en="an id_token whose nonce is not the one sent (replay possible)"),
    RpScenario("acr_eidas2", "P11", "id_token avec acr différent de eidas1", "id_token with acr other than eidas1",
               "negative", switches={"id_token": "acr_eidas2"}, requirements=(REQ_AUTH, REQ_ACR),
               accepted="un id_token dont l'acr vaut eidas2 au lieu de eidas1",
               accepted_en="an id_token whose acr is eidas2 instead of eidas1"),
    RpScenario("acr_missing", "P11", "id_token sans acr", "id_token without acr", "advisory",
               switches={"id_token": "acr_missing"}, requirements=(REQ_AUTH, REQ_ACR),
               accepted="un id_token sans acr (le connecteur ANS le traite comme eidas1 : avertissement)",
               accepted_en="an id_token without acr (the ANS connector treats it as eidas1: warning)"),
    RpScenario("state_tampered", "P12", "state modifié au retour", "Tampered state on return", "negative",
               switches={"state": "tampered"}, stage="callback",
               accepted="un retour dont le state n'est pas celui envoyé (CSRF)",
               accepted_en="a callback whose state is not the one sent (CSRF)"),
    RpScenario("state_reuse", "P12", "state déjà consommé, rejoué dans la même session",
               "Already used state replayed in the same browser session", "negative", runner="state_reuse",
               stage="callback",
               accepted="un state déjà consommé par une connexion réussie, rejoué dans la même session du navigateur "
                        "avec un nouveau code (usage unique non garanti)",
               accepted_en="a state already consumed by a successful login, replayed in the same browser session "
                           "with a new code (single use not enforced)"),
    RpScenario("state_other_session", "P12", "state d'une autre session du navigateur (CSRF de connexion)",
               "State of another browser session (login CSRF)", "negative", runner="state_other_session",
               stage="callback",
               accepted="un retour (code et state valides, jamais utilisés) émis pour une autre session du navigateur "
                        "(state non lié à la session : CSRF de connexion)",
               accepted_en="a callback (valid, unused code and state) issued for another browser session (state "
                           "not bound to the session: login CSRF)"),
    RpScenario("unknown_kid", "P13", "id_token signé par une clé inconnue (kid absent du JWKS)",
               "id_token signed with an unknown key (kid not in the JWKS)", "negative",
               switches={"id_token": "unknown_kid"},
               accepted="un id_token signé par une clé dont le kid n'est dans aucun JWKS publié",
               accepted_en="an id_token signed by a key whose kid is in no published JWKS"),
    RpScenario("userinfo_sub_differs", "P14", "userinfo JWT d'un autre sujet", "userinfo JWT about another subject",
               "negative", switches={"userinfo": "sub_differs", "userinfo_format": "jwt"}, stage="userinfo",
               accepted="une réponse userinfo dont le sub diffère de celui de l'id_token (substitution)",
               accepted_en="a userinfo answer whose sub differs from the id_token's (substitution)"),
    RpScenario("userinfo_bad_signature", "P14", "userinfo JWT mal signé", "Badly signed userinfo JWT", "negative",
               switches={"userinfo": "bad_signature", "userinfo_format": "jwt"}, stage="userinfo",
               accepted="une réponse userinfo JWT signée par une clé non publiée",
               accepted_en="a userinfo JWT signed by an unpublished key"),
)
BY_ID: dict[str, RpScenario] = {s.id: s for s in SCENARIOS}


@dataclass
class PscHarness:
    """The mock provider and the candidate under test, wired together for the scenarios."""

    provider: MockPscProvider
    sandbox_url: str
    redirect_uri: str

    @property
    def client(self) -> Any:
        return self.provider.client

    def register(self) -> None:
        """Register the candidate's callback with the provider (as the ANS portal would)."""
        self.provider.register(replace(self.provider.client, redirect_uris=(self.redirect_uri,),
                                       post_logout_redirect_uris=(self.redirect_uri,)))

    def endpoint_config(self) -> dict[str, str]:
        """The ``psc`` object of PUT /endpoints: what the candidate needs to use the mock provider."""
        config = {
            "issuer": self.provider.issuer,
            "discovery_url": self.provider.discovery_url,
            "client_id": self.client.client_id,
            "client_secret": self.client.client_secret,
            "redirect_uri": self.redirect_uri,
        }
        if self.client.id_token_alg != "RS256":  # an extension: only sent when it differs from the default
            config["id_token_signed_response_alg"] = self.client.id_token_alg
        return config

    def browser(self) -> Browser:
        p = self.provider
        return Browser(self.sandbox_url, labels={
            p.endpoint("authorize"): "authorize", self.redirect_uri.split("?")[0]: "callback",
            p.endpoint("end_session"): "end_session", p.base_url: "idp",
        })


@dataclass
class Login:
    """What one driven login produced."""

    browser: Browser
    callback: dict[str, Any] | None = None
    session: dict[str, Any] | None = None
    reached_callback: bool = False
    callback_status: int | None = None  # the HTTP status of the candidate's callback answer
    landing_status: int | None = None
    landing_text: str = ""
    left_loopback: str | None = None

    @property
    def callback_http_error(self) -> bool:
        """The callback answered outside 2xx: an HTTP error, never a refusal (docs/psc.md)."""
        return self.callback_status is not None and not 200 <= self.callback_status < 300

    @property
    def logged_in(self) -> bool:
        return bool((self.callback or {}).get("logged_in") is True and (self.session or {}).get("logged_in") is True)

    def land(self, landing: Landing) -> None:
        """Record the candidate's callback answer (its JSON only counts when the status is 2xx)."""
        self.reached_callback = True
        self.callback_status = landing.status
        self.callback = None if self.callback_http_error else landing.json_object


@dataclass
class ScenarioResult:
    scenario: RpScenario
    findings: list[Finding] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    answers: dict[str, Any] = field(default_factory=dict)
    not_evaluated: tuple[str, str] | None = None
    transcript: str = ""

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.is_error]

    @property
    def evidence_name(self) -> str:
        return f"psc-{self.scenario.id}.json"


class _Run:
    """The state of one scenario run (kept out of the public API)."""

    def __init__(self, scenario: RpScenario, harness: PscHarness) -> None:
        self.s = scenario
        self.h = harness
        self.p = harness.provider
        self.mark = self.p.mark()
        self.browsers: list[Browser] = []
        self.result = ScenarioResult(scenario)
        self.artefact = self.result.evidence_name

    # -- helpers --------------------------------------------------------------------------------
    def add(self, finding: Finding) -> None:
        self.result.findings.append(finding)

    def kw(self, rule: str, requirements: tuple[str, ...] | None = None) -> dict[str, Any]:
        return {"rule": f"PSC.{self.s.id}.{rule}", "artefact": self.artefact,
                "requirements": requirements or self.s.requirements}

    def idp(self, kind: str) -> list[Step]:
        return checks.idp_steps(self.p.exchanges(self.mark), kind)

    def not_evaluated(self, fr: str, en: str) -> None:
        if self.result.not_evaluated is None:
            self.result.not_evaluated = (fr, en)

    def start(self, browser: Browser) -> str | None:
        """POST /psc/login in ``browser``: the authorization URL to follow, or None (an ERROR recorded)."""
        start = browser.start_login()
        self.result.answers.setdefault("login", []).append(start)
        url = start.get("authorization_url")
        if isinstance(url, str) and url:
            return url
        self.add(error("POST /psc/login n'a pas renvoyé d'authorization_url",
                       "POST /psc/login returned no authorization_url", expected="authorization_url",
                       found=str(start)[:200], **self.kw("contract")))
        return None

    def login(self, *, browser: Browser | None = None) -> Login:
        browser = browser or self.h.browser()
        self.browsers.append(browser)
        outcome = Login(browser)
        url = self.start(browser)
        if url is None:
            return outcome
        try:
            landing = browser.navigate(url)
        except LeftLoopback as exc:
            outcome.left_loopback = exc.url
            self.add(error("le candidat envoie le navigateur hors du fournisseur configuré (URL PSC codée en dur ?)",
                           "the candidate sends the browser away from the configured provider (hard-coded PSC URL?)",
                           expected=self.p.endpoint("authorize"), found=urlsplit(exc.url).netloc,
                           **self.kw("discovery")))
            return outcome
        outcome.landing_status = landing.status
        outcome.landing_text = landing.text[:300]
        if self.is_callback(landing.url):
            outcome.land(landing)
        outcome.session = browser.session()
        self.record_answers(outcome, landing)
        return outcome

    def is_callback(self, url: str) -> bool:
        return url.split("?")[0] == self.h.redirect_uri.split("?")[0]

    def record_answers(self, outcome: Login, landing: Landing) -> None:
        answer: Any = outcome.callback
        if outcome.reached_callback and outcome.callback_http_error:
            answer = {"statut_http": outcome.callback_status, "corps": landing.json if landing.json is not None
                      else landing.text[:300]}
        self.result.answers.setdefault("callback", []).append(answer)
        self.result.answers.setdefault("session", []).append(outcome.session)

    def need_nominal(self, outcome: Login, why_fr: str, why_en: str) -> bool:
        if outcome.logged_in:
            return True
        self.not_evaluated(f"connexion nominale impossible, {why_fr} (voir le scénario nominal)",
                           f"nominal login failed, {why_en} (see the nominal scenario)")
        return False

    # -- verdicts -------------------------------------------------------------------------------
    def positive(self, outcome: Login, pro: professionals.Professional, sub: str | None = None) -> None:
        if outcome.left_loopback:
            return
        if not outcome.reached_callback:
            self.add(error("le navigateur n'est pas revenu sur le redirect_uri du candidat : demande refusée par "
                           "le fournisseur", "the browser did not come back to the candidate's redirect_uri: "
                           "request refused by the provider", expected=self.h.redirect_uri,
                           found=f"HTTP {outcome.landing_status} {outcome.landing_text[:120]}",
                           **self.kw("authorize")))
            return
        callback, session = outcome.callback or {}, outcome.session or {}
        if callback.get("logged_in") is True and session.get("logged_in") is True:
            self.add(info("connexion acceptée", "login accepted", expected="logged_in=true", found="logged_in=true",
                          **self.kw("login")))
            self.result.findings.extend(checks.check_identity(
                session, pro.subject_name_id, pro.exercice_summary(), sub=sub or pro.keycloak_sub,
                email=pro.email, artefact=self.artefact, requirements=self.s.requirements))
        else:
            shown = f"HTTP {outcome.callback_status}" if outcome.callback_http_error else _short(callback)
            self.add(error("connexion nominale refusée à tort par le candidat",
                           "nominal login wrongly refused by the candidate", expected="logged_in=true",
                           found=f"callback={shown} session={_short(session)}", **self.kw("login")))

    def issued_redirect(self) -> tuple[Step | None, dict[str, str]]:
        """The last authorization request of this run and the parameters of the provider's redirect."""
        authorizes = self.idp("authorize")
        if not authorizes:
            return None, {}
        step = authorizes[-1]
        location = step.response_headers.get("Location", "")
        return step, dict(parse_qsl(urlsplit(location).query)) if step.status == 302 else {}

    def trap_set(self, outcome: Login) -> bool:
        """Was the forged value of this scenario really served to the candidate?"""
        if self.s.stage == "token":
            return any(s.status == 200 for s in self.idp("token"))
        if self.s.stage == "userinfo":
            return any(s.status == 200 for s in self.idp("userinfo"))
        # callback (state_tampered): the provider issued a code with a state that is not the one sent; an error
        # redirect (authorization refused) echoes the original state and sets no trap.
        step, returned = self.issued_redirect()
        sent = step.query.get("state") if step is not None else None
        return bool(outcome.reached_callback and returned.get("code") and sent
                    and returned.get("state") not in (None, sent))

    def require_sent(self, param: str, what_fr: str, what_en: str) -> bool:
        """A protection the scenario tests must have been used: no ``state``/``nonce`` sent is a failure."""
        step, _ = self.issued_redirect()
        if step is None or step.query.get(param):
            return True
        self.add(error(f"le candidat n'envoie pas de {param} dans sa demande d'autorisation : {what_fr} absente",
                       f"the candidate sends no {param} in its authorization request: no {what_en}",
                       expected=f"{param} aléatoire", found="(absent)", **self.kw(f"{param}_sent")))
        return False

    def negative(self, outcome: Login, *, trap: bool | None = None, redeemed: bool = False,
                 judge_session: bool = True) -> None:
        """Judge a negative scenario: only a positive refusal, after the trap was really set, passes.

        ``trap``: whether the forged value was really served (computed from the stage when None);
        ``redeemed``: the provider saw the candidate redeem the code of a refused-looking callback (acceptance);
        ``judge_session``: False when the browser session was already logged in before the trap.
        """
        if outcome.left_loopback:
            return
        if trap is None:
            trap = self.trap_set(outcome)
        callback, session = outcome.callback or {}, outcome.session or {}
        accepted = (callback.get("logged_in") is True or redeemed
                    or (judge_session and session.get("logged_in") is True))
        found = (f"callback={_short(callback) if not outcome.callback_http_error else f'HTTP {outcome.callback_status}'}"
                 f" session={_short(session)}" + (" ; code échangé au point d'accès token" if redeemed else ""))
        if not trap and not accepted:
            if self.s.stage == "callback":
                self.not_evaluated(
                    "piège non tendu à l'étape « callback » : le fournisseur n'a délivré aucun code avec un state "
                    "modifié (demande d'autorisation refusée ? voir le scénario nominal)",
                    "trap not set at the 'callback' step: the provider issued no code with a tampered state "
                    "(authorization request refused? see the nominal scenario)")
                return
            self.not_evaluated(
                f"le candidat n'a pas atteint l'étape « {self.s.stage} » où le piège est tendu : "
                f"scénario non évaluable (voir le scénario nominal)",
                f"the candidate did not reach the '{self.s.stage}' step where the trap is set: "
                f"scenario not evaluable (see the nominal scenario)")
            return
        shown_in_callback = callback.get("logged_in") is False and bool(callback.get("error"))
        shown_in_session = judge_session and session.get("logged_in") is False and bool(session.get("error"))
        if accepted:
            if self.s.kind == "advisory":
                self.add(warning(f"le candidat a accepté {self.s.accepted}", f"the candidate accepted "
                                 f"{self.s.accepted_en}", expected="refus (recommandé)", found=found,
                                 **self.kw("accepted")))
            else:
                self.add(error(f"le candidat a accepté {self.s.accepted} : il devait refuser la connexion",
                               f"the candidate accepted {self.s.accepted_en}: it had to refuse the login",
                               expected="logged_in=false avec un motif (error)", found=found, **self.kw("accepted")))
        elif outcome.callback_http_error:
            severity = warning if self.s.kind == "advisory" else error
            self.add(severity(f"le retour du candidat a répondu HTTP {outcome.callback_status} : une erreur HTTP "
                              "n'est pas un refus (réponse attendue : 200 avec logged_in=false et un motif)",
                              f"the candidate's callback answered HTTP {outcome.callback_status}: an HTTP error is "
                              "not a refusal (expected: 200 with logged_in=false and a reason)",
                              expected="200 {logged_in: false, error}", found=found, **self.kw("http_error")))
        elif shown_in_callback or shown_in_session:
            reason = callback.get("error") or session.get("error")
            self.add(info(f"refus constaté : {reason}", f"refusal observed: {reason}",
                          expected="logged_in=false avec un motif", found=found, **self.kw("refused")))
            if not shown_in_callback:
                self.add(warning("le refus n'apparaît que dans /psc/session, pas dans la réponse du retour",
                                 "the refusal shows only in /psc/session, not in the callback answer",
                                 expected="callback logged_in=false + error", found=found, **self.kw("refused")))
        else:
            severity = warning if self.s.kind == "advisory" else error
            self.add(severity("le candidat n'a pas montré explicitement son refus (silence, erreur HTTP ou motif "
                              "absent) : un silence n'est pas un refus",
                              "the candidate did not positively show a refusal (silence, HTTP error or no reason): "
                              "silence is not a refusal",
                              expected="logged_in=false avec un motif (error)", found=found, **self.kw("silence")))
        if self.s.stage == "token" and not accepted and self.idp("userinfo"):
            self.add(warning("userinfo appelé avant d'avoir rejeté l'id_token invalide : l'id_token doit être "
                             "validé en premier", "userinfo called before rejecting the invalid id_token: the "
                             "id_token must be validated first", expected="aucun appel userinfo",
                             found=f"{len(self.idp('userinfo'))} appel(s)", **self.kw("userinfo_order")))

    # -- runners --------------------------------------------------------------------------------
    def run(self) -> ScenarioResult:
        try:
            self.p.configure(**dict(self.s.switches))
            getattr(self, f"run_{self.s.runner}")()
        finally:
            self.p.configure()
            self.finish()
        return self.result

    def run_login(self) -> None:
        outcome = self.login()
        pro = professionals.by_key(self.p.behaviour.professional)
        if self.s.kind == "positive":
            self.positive(outcome, pro)
            if self.s.id == "nominal":
                self.protocol_checks()
        else:
            if self.s.id == "wrong_nonce":
                self.require_sent("nonce", "protection contre le rejeu de l'id_token", "id_token replay protection")
            if self.s.id == "state_tampered":
                self.require_sent("state", "protection CSRF", "CSRF protection")
            self.negative(outcome)
            if self.s.id == "unknown_kid":
                fetches = len(self.idp("jwks"))
                if fetches > 3:
                    self.add(warning("JWKS rechargé de nombreuses fois pour un seul kid inconnu (risque de déni "
                                     "de service)", "JWKS refetched many times for one unknown kid (denial-of-service "
                                     "risk)", expected="<= 1 rechargement", found=str(fetches), **self.kw("jwks")))

    def protocol_checks(self) -> None:
        """P1–P3 and the userinfo call, on what the provider recorded (whole log for discovery)."""
        kw: dict[str, Any] = {"artefact": self.artefact, "requirements": (REQ_AUTH,)}
        self.result.findings.extend(checks.check_discovery(self.p.exchanges(0), **kw))
        authorizes = self.idp("authorize")
        if authorizes:
            self.result.findings.extend(checks.check_authorize(
                authorizes[-1], self.h.client, acr_requirements=(REQ_ACR,), **kw))
        tokens = [s for s in self.idp("token") if s.form.get("grant_type") == "authorization_code"]
        if tokens:
            self.result.findings.extend(checks.check_token_request(
                tokens[-1], authorizes[-1] if authorizes else None, **kw))
        userinfos = self.idp("userinfo")
        if userinfos:
            self.result.findings.extend(checks.check_userinfo_request(userinfos[-1], **kw))

    def run_rotation(self) -> None:
        """P13: after a first login, the provider publishes a new key and signs with it.

        The login after the rotation passes only when the candidate fetched the JWKS again (a token signed by a
        key it never fetched cannot have been verified). With an HS256 registration the id_token does not use
        the provider's keys, so the second login's userinfo is a signed JWT: the rotated key is still exercised.
        The provider's keys are restored afterwards, so the rotation never leaks into another scenario.
        """
        first = self.login()
        if not self.need_nominal(first, "la rotation ne peut pas être éprouvée", "rotation cannot be exercised"):
            return
        saved = self.p.keys.snapshot()
        try:
            before = self.p.mark()
            kid = self.p.rotate_keys()
            self.result.answers["rotated_to_kid"] = kid
            if self.h.client.id_token_alg != "RS256":
                self.p.configure(**{**dict(self.s.switches), "userinfo_format": "jwt"})
            second = self.login()
            pro = professionals.by_key(self.p.behaviour.professional)
            self.positive(second, pro)
            refetched = [s for s in self.p.exchanges(before) if s.actor == "idp" and s.kind == "jwks"]
            if not second.logged_in:
                return
            if refetched:
                self.add(info("JWKS rechargé après la rotation : nouvelle clé acceptée",
                              "JWKS refetched after rotation: new key accepted", expected=kid,
                              found=f"{len(refetched)} rechargement(s)", **self.kw("rotation")))
            else:
                self.add(error("connexion acceptée avec un jeton signé par une clé que le candidat n'a jamais "
                               "chargée (aucune lecture du JWKS après la rotation) : signature non vérifiée",
                               "login accepted with a token signed by a key the candidate never fetched (no JWKS "
                               "read after the rotation): signature not verified", expected=f"lecture du JWKS ({kid})",
                               found="0 rechargement", **self.kw("rotation")))
        finally:
            self.p.keys.restore(saved)
            self.result.answers["keys_restored"] = True

    def callback_url(self, code: str, state: str) -> str:
        redirect_uri = self.h.redirect_uri
        sep = "&" if "?" in redirect_uri else "?"
        return f"{redirect_uri}{sep}{urlencode({'code': code, 'state': state})}"

    def redeemed(self, code: str) -> bool:
        """The provider saw the candidate exchange ``code`` successfully (the candidate accepted its state)."""
        return any(s.form.get("code") == code and s.status == 200 for s in self.idp("token"))

    def replay(self, browser: Browser, url: str) -> Login:
        outcome = Login(browser)
        landing = browser.navigate(url)
        if self.is_callback(landing.url):
            outcome.land(landing)
        outcome.session = browser.session()
        self.record_answers(outcome, landing)
        return outcome

    def run_state_reuse(self) -> None:
        """Single use: the state of a successful login, replayed in the same browser session with a fresh code.

        The session is already logged in (first login), so only the callback answer and the token endpoint
        speak: an RP that redeems the fresh code accepted the used state.
        """
        first = self.login()
        if not self.need_nominal(first, "le rejeu du state ne peut pas être tenté", "state replay cannot be tried"):
            return
        if not self.require_sent("state", "protection CSRF", "CSRF protection"):
            return
        _, returned = self.issued_redirect()
        code, state = returned.get("code"), returned.get("state")
        if not code or not state:
            self.not_evaluated("aucun state à rejouer", "no state to replay")
            return
        fresh = self.p.mint_code_like(code)
        url = self.callback_url(fresh, state)
        if not is_loopback_url(url):
            self.not_evaluated("redirect_uri hors 127.0.0.1 : rejeu impossible", "redirect_uri not on loopback")
            return
        outcome = self.replay(first.browser, url)
        self.negative(outcome, trap=True, redeemed=self.redeemed(fresh), judge_session=False)

    def run_state_other_session(self) -> None:
        """Binding: a valid, unused code and state issued for browser A delivered to browser B (login CSRF)."""
        attacker = self.h.browser()
        self.browsers.append(attacker)
        url = self.start(attacker)
        if url is None:
            return
        try:
            landing = attacker.navigate(url, stop_at=self.h.redirect_uri.split("?")[0])
        except LeftLoopback:
            self.not_evaluated("le candidat envoie le navigateur hors de 127.0.0.1 (voir le scénario nominal)",
                               "the candidate sends the browser off loopback (see the nominal scenario)")
            return
        if not self.require_sent("state", "protection CSRF", "CSRF protection"):
            return
        _, returned = self.issued_redirect()
        code = returned.get("code")
        if not self.is_callback(landing.url) or not code or not returned.get("state"):
            self.not_evaluated("le fournisseur n'a pas délivré de code pour la demande d'autorisation du candidat "
                               "(voir le scénario nominal)", "the provider issued no code for the candidate's "
                               "authorization request (see the nominal scenario)")
            return
        victim = self.h.browser()  # another browser session, with its own pending login
        self.browsers.append(victim)
        self.result.answers.setdefault("login", []).append(victim.start_login())
        outcome = self.replay(victim, landing.url)
        self.negative(outcome, trap=True, redeemed=self.redeemed(code))

    def run_logout(self) -> None:
        outcome = self.login()
        if not self.need_nominal(outcome, "la déconnexion ne peut pas être éprouvée", "logout cannot be exercised"):
            return
        answer = outcome.browser.logout()
        self.result.answers["logout"] = answer
        issued = [str((s.json_body() or {}).get("id_token")) for s in self.idp("token") if s.status == 200]
        self.result.findings.extend(checks.check_logout(
            answer, str(answer.get("end_session_url") or ""), self.p.endpoint("end_session"), issued,
            self.h.client, artefact=self.artefact, requirements=self.s.requirements))
        url = answer.get("end_session_url")
        if isinstance(url, str) and url and is_loopback_url(url):
            resp = outcome.browser.get_once(url)
            if resp.status_code not in (200, 302, 303):
                self.add(error("le fournisseur a refusé la demande de déconnexion",
                               "the provider refused the logout request", expected="302 ou 200",
                               found=f"HTTP {resp.status_code}", **self.kw("end_session")))
        after = outcome.browser.session()
        self.result.answers["session_after_logout"] = after
        if after.get("logged_in") is False:
            self.add(info("session close après la déconnexion", "session closed after logout",
                          expected="logged_in=false", found="logged_in=false", **self.kw("session_closed")))
        else:
            self.add(error("la session du candidat reste ouverte après la déconnexion",
                           "the candidate's session stays open after logout", expected="logged_in=false",
                           found=_short(after), **self.kw("session_closed")))

    def run_identity(self) -> None:
        first_pro = professionals.by_key("ide-ehpad")
        linked_sub = "f:psc-mock:compte-rattache"
        self.p.configure(professional=first_pro.key, sub=linked_sub)
        first = self.login()
        self.positive(first, first_pro, sub=linked_sub)
        second_pro = professionals.by_key("ide-ehpad-nuit")  # same e-mail, another professional
        self.p.configure(professional=second_pro.key)
        second = self.login()
        self.positive(second, second_pro)
        subjects = [(o.session or {}).get("subject") for o in (first, second)]
        if first.logged_in and second.logged_in:
            if subjects[0] == subjects[1]:
                self.add(error("deux professionnels partageant une adresse électronique sont confondus",
                               "two professionals sharing an e-mail address are merged",
                               expected="deux sujets distincts", found=str(subjects[0]), **self.kw("distinct")))
            else:
                self.add(info("comptes distincts malgré une adresse électronique commune",
                              "distinct accounts despite a shared e-mail address",
                              expected="deux sujets distincts", found=" / ".join(map(str, subjects)),
                              **self.kw("distinct")))

    # -- transcript -----------------------------------------------------------------------------
    def finish(self) -> None:
        steps = ordered(self.p.exchanges(self.mark), *[b.steps for b in self.browsers])
        self.result.steps = steps
        known = set(self.p.issued_secrets())
        for b in self.browsers:
            known.update(c.value for c in b.http.cookies if c.value)
            b.close()
        redactor = Redactor(known)
        s = self.s
        document = {
            "format": TRANSCRIPT_FORMAT,
            "version": "1",
            "scenario": {"id": s.id, "reference": f"protocols.md §4.5 {s.ref}", "titre": s.title, "title": s.title_en,
                         "nature": s.kind, "switches": dict(s.switches), "requirements": list(s.requirements)},
            "fournisseur": {"issuer": self.p.issuer, "discovery_url": self.p.discovery_url,
                            "client_id": self.h.client.client_id},
            "candidat": {"sandbox_url": self.h.sandbox_url, "redirect_uri": self.h.redirect_uri},
            "non_evalue": list(self.result.not_evaluated) if self.result.not_evaluated else None,
            "reponses": self.result.answers,
            "constats": [f.to_dict() for f in self.result.findings],
            "etapes": [st.to_dict() for st in steps],
        }
        self.result.transcript = redactor.dumps(document)


def run_scenario(scenario: RpScenario | str, harness: PscHarness) -> ScenarioResult:
    """Run one scenario end to end and return its findings and redacted transcript."""
    spec = BY_ID[scenario] if isinstance(scenario, str) else scenario
    return _Run(spec, harness).run()


def _short(answer: Any) -> str:
    if not isinstance(answer, dict):
        return str(answer)[:120]
    keep = {k: answer.get(k) for k in ("logged_in", "subject", "error") if k in answer}
    return str(keep)[:200]
