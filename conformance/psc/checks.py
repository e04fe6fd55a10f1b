"""Checks of what a relying party sent to the mock PSC provider (pure functions over recorded steps).

Why separate from the scenarios: these points of verification (protocols.md §4.4–4.5, P1–P3, P15, P17)
read the provider's log only, so they work the same on a live scenario, on a replayed log and in the
harness's own tests. Each returns findings; none decides a verdict.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from conformance.findings import Finding, error, info, warning
from conformance.psc.provider import ACR, AUTHORIZE_PATH, CIBA_GRANT, WALLET_DISCOVERY, ClientRegistration
from conformance.psc.transcript import Step

STANDARD_PATH = "/.well-known/openid-configuration"
MIN_RANDOM_CHARS = 16  # ~96 bits in base64url; shorter state/nonce values are guessable


def idp_steps(steps: Iterable[Step], kind: str) -> list[Step]:
    return [s for s in steps if s.actor == "idp" and s.kind == kind]


def _where(step: Step, param: str = "") -> str:
    path = urlsplit(step.url).path
    return f"{step.method} {path}" + (f" ? {param}" if param else "")


def check_discovery(log: Sequence[Step], *, artefact: str = "", requirements: tuple[str, ...] = ()
                    ) -> list[Finding]:
    """P1: the candidate read the PSC *wallet* discovery document (not a hard-coded configuration)."""
    kw: dict[str, Any] = {"artefact": artefact, "requirements": requirements, "rule": "PSC.P1.discovery"}
    wallet = idp_steps(log, "discovery")
    standard = idp_steps(log, "discovery_standard")
    if wallet:
        return [info("document de découverte lu sur le chemin PSC « wallet »",
                     "discovery document read on the PSC 'wallet' path",
                     xpath=_where(wallet[0]), expected=WALLET_DISCOVERY, found=urlsplit(wallet[0].url).path, **kw)]
    if standard:
        return [warning(
            "découverte lue sur /.well-known/openid-configuration : PSC publie sa configuration sur "
            "/.well-known/wallet-openid-configuration (chemin non standard) ; vérifier la configuration",
            "discovery read on /.well-known/openid-configuration: PSC publishes it on "
            "/.well-known/wallet-openid-configuration (non-standard path); check the configuration",
            xpath=_where(standard[0]), expected=WALLET_DISCOVERY, found=STANDARD_PATH, **kw)]
    return [error(
        "le candidat n'a jamais lu le document de découverte PSC : points d'accès codés en dur ?",
        "the candidate never read the PSC discovery document: hard-coded endpoints?",
        expected=WALLET_DISCOVERY, found="aucune lecture", **kw)]


def check_authorize(step: Step, client: ClientRegistration, *, artefact: str = "",
                    requirements: tuple[str, ...] = (), acr_requirements: tuple[str, ...] = ()
                    ) -> list[Finding]:
    """P2: the authorization request a PSC relying party must send (protocols.md §4.2)."""
    q = step.query
    out: list[Finding] = []

    def add(severity: Any, param: str, fr: str, en: str, expected: str, found: str | None,
            reqs: tuple[str, ...] = requirements) -> None:
        out.append(severity(fr, en, rule=f"PSC.P2.{param}", artefact=artefact, xpath=_where(step, param),
                            expected=expected, found="(absent)" if found is None else found, requirements=reqs))

    def check(ok: bool, param: str, fr: str, en: str, expected: str, *,
              reqs: tuple[str, ...] = requirements) -> None:
        found = q.get(param)
        if ok:
            add(info, param, f"{param} conforme", f"{param} as expected", expected, found, reqs)
        else:
            add(error, param, fr, en, expected, found, reqs)

    if urlsplit(step.url).path != AUTHORIZE_PATH:
        add(error, "endpoint", "demande d'autorisation envoyée ailleurs que sur le point d'accès annoncé",
            "authorization request sent elsewhere than the advertised endpoint", AUTHORIZE_PATH,
            urlsplit(step.url).path)
    check(q.get("response_type") == "code", "response_type", "response_type doit valoir code (flux code)",
          "response_type must be code (authorization code flow)", "code")
    scopes = (q.get("scope") or "").split()
    check("openid" in scopes, "scope", "le scope doit contenir openid", "scope must contain openid",
          "openid scope_all")
    if "openid" in scopes and "scope_all" not in scopes:
        add(warning, "scope", "scope_all absent : userinfo ne contiendra pas les situations d'exercice (le PoC "
            "ANS demande « openid scope_all » ; aucune exigence PSC publiée ne l'impose)",
            "scope_all missing: userinfo will not carry the practice situations (the ANS PoC asks for "
            "'openid scope_all'; no published PSC requirement makes it mandatory)", "openid scope_all",
            q.get("scope"))
    check((q.get("acr_values") or "").split() == [ACR], "acr_values",
          "acr_values doit valoir eidas1, seul niveau accepté par PSC (EX PSC 16)",
          "acr_values must be eidas1, the only level PSC accepts (EX PSC 16)", ACR,
          reqs=acr_requirements or requirements)
    for param, what_fr, what_en in (("state", "protection CSRF", "CSRF protection"),
                                    ("nonce", "protection contre le rejeu de l'id_token", "id_token replay protection")):
        value = q.get(param)
        if not value:
            add(error, param, f"{param} absent ({what_fr})", f"{param} missing ({what_en})", "valeur aléatoire", None)
        elif len(value) < MIN_RANDOM_CHARS:
            add(warning, param, f"{param} trop court pour être imprévisible", f"{param} too short to be unguessable",
                f">= {MIN_RANDOM_CHARS} caractères", f"{len(value)} caractères")
        else:
            add(info, param, f"{param} présent", f"{param} present", "valeur aléatoire", f"{len(value)} caractères")
    # PKCE (decision and sources: docs/psc.md "PKCE and the practice situation"). PSC supports it (discovery:
    # S256, plain) without requiring it; the ANS PoC sends S256. RFC 9700 §2.1.1: a confidential client SHOULD
    # use PKCE and MAY rely on the OIDC nonce instead, but it MUST prevent code injection: no PKCE and no nonce
    # is an error; no PKCE with a nonce, or PKCE plain (RFC 9700 §2.1.1, RFC 7636 §4.2), a warning.
    method = q.get("code_challenge_method") or ("plain" if q.get("code_challenge") else None)
    if not q.get("code_challenge"):
        if q.get("nonce"):
            add(warning, "code_challenge", "PKCE absent : recommandé pour un client confidentiel (RFC 9700 §2.1.1) "
                "et utilisé par le PoC ANS (S256) ; le nonce protège ici contre l'injection de code",
                "PKCE missing: recommended for a confidential client (RFC 9700 §2.1.1) and used by the ANS PoC "
                "(S256); the nonce protects against code injection here", "S256", None)
        else:
            add(error, "code_challenge", "ni PKCE ni nonce : aucune protection contre l'injection de code "
                "d'autorisation (RFC 9700 §2.1.1)", "neither PKCE nor a nonce: no protection against "
                "authorization code injection (RFC 9700 §2.1.1)", "S256 (ou un nonce)", None)
    elif method != "S256":
        add(warning, "code_challenge_method", "PKCE en mode plain : S256 attendu (RFC 7636 §4.2, RFC 9700 §2.1.1)",
            "PKCE with the plain method: S256 expected (RFC 7636 §4.2, RFC 9700 §2.1.1)", "S256", method)
    else:
        add(info, "code_challenge_method", "PKCE S256", "PKCE S256", "S256", method)
    redirect = q.get("redirect_uri")
    if client.redirect_uris and not client.allow_any_redirect_uri:
        check(redirect in client.redirect_uris, "redirect_uri", "redirect_uri non enregistré auprès de PSC",
              "redirect_uri not registered with PSC", " | ".join(client.redirect_uris))
    elif not redirect:
        add(error, "redirect_uri", "redirect_uri absent", "redirect_uri missing", "URI de retour", None)
    check(q.get("client_id") == client.client_id, "client_id", "client_id différent de celui configuré",
          "client_id differs from the configured one", client.client_id)
    if step.status != 302:
        out.append(error("le fournisseur a refusé la demande d'autorisation",
                         "the provider refused the authorization request", rule="PSC.P2.accepted",
                         artefact=artefact, xpath=_where(step), expected="302 vers redirect_uri",
                         found=str(step.status), requirements=requirements))
    return out


def check_token_request(step: Step, authorize: Step | None, *, artefact: str = "",
                        requirements: tuple[str, ...] = ()) -> list[Finding]:
    """P3: the code exchange carries client authentication and the PKCE verifier."""
    kw: dict[str, Any] = {"artefact": artefact, "requirements": requirements}
    out: list[Finding] = []
    form = step.form
    auth = step.request_headers.get("authorization", "")
    methods = []
    if auth.lower().startswith("basic "):
        methods.append("client_secret_basic")
    if "client_secret" in form:
        methods.append("client_secret_post")
    if "client_assertion" in form:
        methods.append("private_key_jwt")
    if len(methods) == 1:
        out.append(info(f"authentification du client : {methods[0]}", f"client authentication: {methods[0]}",
                        rule="PSC.P3.client_auth", xpath=_where(step), expected="une méthode", found=methods[0], **kw))
    else:
        out.append(error("authentification du client absente ou multiple à l'échange du code",
                         "client authentication missing or repeated at code exchange", rule="PSC.P3.client_auth",
                         xpath=_where(step), expected="exactement une méthode", found=", ".join(methods) or "aucune",
                         **kw))
    if form.get("grant_type") != "authorization_code":
        out.append(error("grant_type inattendu", "unexpected grant_type", rule="PSC.P3.grant_type",
                         xpath=_where(step, "grant_type"), expected="authorization_code",
                         found=form.get("grant_type", "(absent)"), **kw))
    if authorize is not None and authorize.query.get("code_challenge"):
        if form.get("code_verifier"):
            ok = step.status == 200
            out.append((info if ok else error)(
                "code_verifier envoyé" + ("" if ok else " mais refusé par le fournisseur"),
                "code_verifier sent" + ("" if ok else " but refused by the provider"),
                rule="PSC.P3.code_verifier", xpath=_where(step, "code_verifier"), expected="vérificateur PKCE",
                found="présent" if ok else f"HTTP {step.status}", **kw))
        else:
            out.append(error("code_verifier absent alors qu'un code_challenge a été envoyé",
                             "code_verifier missing although a code_challenge was sent",
                             rule="PSC.P3.code_verifier", xpath=_where(step, "code_verifier"),
                             expected="vérificateur PKCE", found="(absent)", **kw))
    if authorize is not None and form.get("redirect_uri") != authorize.query.get("redirect_uri"):
        out.append(error("redirect_uri de l'échange différent de celui de la demande d'autorisation",
                         "redirect_uri at exchange differs from the authorization request",
                         rule="PSC.P3.redirect_uri", xpath=_where(step, "redirect_uri"),
                         expected=str(authorize.query.get("redirect_uri")), found=str(form.get("redirect_uri")), **kw))
    if step.status != 200:
        body = step.json_body() or {}
        out.append(error("l'échange du code a été refusé par le fournisseur",
                         "the code exchange was refused by the provider", rule="PSC.P3.accepted",
                         xpath=_where(step), expected="200", found=f"{step.status} {body.get('error', '')}".strip(), **kw))
    return out


def check_userinfo_request(step: Step, *, artefact: str = "", requirements: tuple[str, ...] = ()
                           ) -> list[Finding]:
    auth = step.request_headers.get("authorization", "")
    kw: dict[str, Any] = {"artefact": artefact, "requirements": requirements, "rule": "PSC.P4.userinfo_bearer",
                          "xpath": _where(step)}
    if auth.lower().startswith("bearer "):
        return [info("userinfo appelé avec le jeton dans l'en-tête Authorization: Bearer",
                     "userinfo called with the token in the Authorization: Bearer header",
                     expected="Bearer", found="Bearer", **kw)]
    return [warning("userinfo appelé sans en-tête Authorization: Bearer (jeton dans l'URL ou le corps)",
                    "userinfo called without an Authorization: Bearer header",
                    expected="Bearer", found="autre", **kw)]


def check_identity(answer: dict[str, Any], expected_subject: str, expected_exercice: dict[str, str], *,
                   sub: str = "", email: str = "", artefact: str = "",
                   requirements: tuple[str, ...] = ()) -> list[Finding]:
    """P4: the candidate identifies the professional by SubjectNameID and shows a practice situation."""
    kw: dict[str, Any] = {"artefact": artefact, "requirements": requirements}
    out: list[Finding] = []
    subject = answer.get("subject")
    if subject == expected_subject:
        out.append(info("professionnel identifié par son SubjectNameID", "professional identified by SubjectNameID",
                        rule="PSC.P4.subject", xpath="GET /psc/session . subject", expected=expected_subject,
                        found=str(subject), **kw))
    else:
        why = ""
        if subject and subject == sub:
            why = " (c'est le sub technique Keycloak, pas l'identifiant national)"
        elif subject and subject == email:
            why = " (c'est l'adresse électronique, pas l'identifiant national)"
        out.append(error(f"le sujet de la session n'est pas le SubjectNameID du professionnel{why}",
                         "the session subject is not the professional's SubjectNameID",
                         rule="PSC.P4.subject", xpath="GET /psc/session . subject", expected=expected_subject,
                         found=str(subject), **kw))
    exercice = answer.get("exercice")
    text = str(exercice) if exercice else ""
    markers = [v for k, v in expected_exercice.items() if k in ("codeProfession", "identifiantTechniqueDeLaStructure") and v]
    if exercice and all(m in text for m in markers):
        out.append(info("situation d'exercice issue de SubjectRefPro", "practice situation taken from SubjectRefPro",
                        rule="PSC.P4.exercice", xpath="GET /psc/session . exercice",
                        expected=" ".join(markers), found=text[:200], **kw))
    else:
        out.append(warning("situation d'exercice absente ou ne reprenant pas SubjectRefPro.exercices",
                           "practice situation missing or not taken from SubjectRefPro.exercices",
                           rule="PSC.P4.exercice", xpath="GET /psc/session . exercice",
                           expected=" ".join(markers), found=text[:200] or "(absent)", **kw))
    return out


def check_logout(answer: dict[str, Any], end_session_url: str, end_session_endpoint: str,
                 issued_id_tokens: Sequence[str], client: ClientRegistration, *, artefact: str = "",
                 requirements: tuple[str, ...] = ()) -> list[Finding]:
    """P15: logout goes through end_session with this session's id_token_hint."""
    kw: dict[str, Any] = {"artefact": artefact, "requirements": requirements}
    out: list[Finding] = []
    url = answer.get("end_session_url")
    if not isinstance(url, str) or not url:
        return [error("aucune URL end_session renvoyée : la session PSC n'est pas close chez le fournisseur",
                      "no end_session URL returned: the PSC session is not closed at the provider",
                      rule="PSC.P15.end_session", xpath="POST /psc/logout . end_session_url",
                      expected=end_session_endpoint, found="(absent)", **kw)]
    base = url.split("?", 1)[0]
    params = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
    if base != end_session_endpoint:
        out.append(error("la déconnexion n'utilise pas le end_session_endpoint annoncé par la découverte",
                         "logout does not use the end_session_endpoint from discovery", rule="PSC.P15.end_session",
                         xpath="end_session_url", expected=end_session_endpoint, found=base, **kw))
    hint = params.get("id_token_hint")
    if hint and hint in issued_id_tokens:
        out.append(info("id_token_hint = id_token de la session", "id_token_hint is the session's id_token",
                        rule="PSC.P15.id_token_hint", xpath="end_session_url ? id_token_hint",
                        expected="id_token émis", found="id_token émis", **kw))
    else:
        out.append(error("id_token_hint absent ou différent de l'id_token de la session",
                         "id_token_hint missing or not the session's id_token", rule="PSC.P15.id_token_hint",
                         xpath="end_session_url ? id_token_hint", expected="id_token émis",
                         found="(absent)" if not hint else "autre valeur", **kw))
    target = params.get("post_logout_redirect_uri")
    if not target:
        out.append(warning("post_logout_redirect_uri absent : l'utilisateur reste sur la page PSC",
                           "post_logout_redirect_uri missing: the user stays on the PSC page",
                           rule="PSC.P15.post_logout_redirect_uri", xpath="end_session_url ? post_logout_redirect_uri",
                           expected="URI enregistrée", found="(absent)", **kw))
    else:
        registered = set(client.post_logout_redirect_uris) | set(client.redirect_uris)
        origins = {f"{urlsplit(u).scheme}://{urlsplit(u).netloc}" for u in registered}
        parts = urlsplit(target)
        ok = target in registered or f"{parts.scheme}://{parts.netloc}" in origins or client.allow_any_redirect_uri
        out.append((info if ok else error)(
            "post_logout_redirect_uri " + ("enregistré" if ok else "non enregistré"),
            "post_logout_redirect_uri " + ("registered" if ok else "not registered"),
            rule="PSC.P15.post_logout_redirect_uri", xpath="end_session_url ? post_logout_redirect_uri",
            expected=" | ".join(sorted(registered)) or "URI enregistrée", found=target, **kw))
    return out


def check_ciba_client(log: Sequence[Step], *, artefact: str = "", requirements: tuple[str, ...] = ()
                      ) -> list[Finding]:
    """P17: a CIBA client sends login_hint + binding_message and polls no faster than ``interval``."""
    kw: dict[str, Any] = {"artefact": artefact, "requirements": requirements}
    out: list[Finding] = []
    auths = idp_steps(log, "ciba_auth")
    if not auths:
        return [error("aucune demande CIBA reçue", "no CIBA request received", rule="PSC.P17.auth",
                      expected="POST …/ext/ciba/auth", found="aucune", **kw)]
    for auth in auths:
        where = _where(auth)
        for param in ("login_hint", "binding_message"):
            present = bool(auth.form.get(param))
            sev = info if present else (error if param == "login_hint" else warning)
            out.append(sev(f"{param} {'présent' if present else 'absent'} dans la demande CIBA",
                           f"{param} {'present' if present else 'missing'} in the CIBA request",
                           rule=f"PSC.P17.{param}", xpath=f"{where} ? {param}", expected="présent",
                           found="présent" if present else "(absent)", **kw))
        body = auth.json_body() or {}
        auth_req_id = body.get("auth_req_id")
        if auth.status != 200 or not auth_req_id:
            continue
        interval = int(body.get("interval") or 5)
        polls = [s for s in idp_steps(log, "token")
                 if s.form.get("grant_type") == CIBA_GRANT and s.form.get("auth_req_id") == auth_req_id]
        last_at: float | None = None
        terminal: str | None = None
        for poll in polls:
            answer = poll.json_body() or {}
            err = answer.get("error")
            if terminal is not None:
                out.append(error(f"interrogation poursuivie après la réponse terminale {terminal}",
                                 f"polling continued after the terminal answer {terminal}",
                                 rule="PSC.P17.terminal", xpath=_where(poll), expected="arrêt",
                                 found="nouvelle interrogation", **kw))
                break
            if last_at is not None and poll.at - last_at < interval - 0.001:
                out.append(error("interrogation plus rapide que l'intervalle imposé",
                                 "polled faster than the required interval", rule="PSC.P17.interval",
                                 xpath=_where(poll), expected=f">= {interval} s",
                                 found=f"{poll.at - last_at:.1f} s", **kw))
            if err == "slow_down":
                interval += 5
            last_at = poll.at
            if err in ("access_denied", "expired_token", "invalid_grant") or poll.status == 200:
                terminal = err or "jetons émis"
        if polls and terminal is not None:
            out.append(info(f"attente CIBA menée jusqu'à la réponse terminale ({terminal})",
                            f"CIBA polling carried to the terminal answer ({terminal})",
                            rule="PSC.P17.polling", expected="réponse terminale", found=terminal, **kw))
        elif polls:
            out.append(warning("attente CIBA interrompue avant une réponse terminale",
                               "CIBA polling stopped before a terminal answer", rule="PSC.P17.polling",
                               expected="réponse terminale", found="authorization_pending", **kw))
    return out
