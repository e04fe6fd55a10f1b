"""``segur-conformance check-contract``: does a candidate's sandbox answer as docs/sandbox-api.yaml says?

Before any REM test, a vendor wants to know whether its contract v1 adapter is right: status codes,
content types, JSON schemas, required fields. This module drives the candidate through every route once,
in a meaningful order (capabilities, endpoints pointed at the harness's own INSi, DMP, MSSanté and PSC
simulators on 127.0.0.1, a resident, its qualification, a document, its DMP and MSSanté sends, a PSC login
followed as a browser would, two error answers, the optional reset), and validates each answer against the
OpenAPI description with **openapi-core** (a maintained OpenAPI 3 validator built on jsonschema: it resolves
the ``$ref``s, matches the path template and the status code, checks the media type and the schema, and
reports each schema error with its JSON path), never with hand-written validation.

What it prints is per route: ``OK``, ``À CORRIGER``/``FIX`` with one line per problem (what was answered, what
the contract asks), ``501`` (not supported: its proofs will be "not run"), or ``non exercée``/``not exercised``
(a prerequisite failed, named). Exit 0 when nothing is to fix, 1 otherwise, 2 when the sandbox is unreachable.
Every call is bounded by the harness's deadlines (conformance.sandbox.client).

``run`` (and the pytest plugin) calls it as its preflight in fast mode (``preflight``): GET /capabilities and
the resident routes only (create, refuse an incomplete resident, read, unknown id), no send and no login, so
that nothing the campaign's own tests will judge is done twice; the first call left without an answer stops
it. The outcome is the campaign check HARNESS.SANDBOX_API: *passed* when the routes it exercised conform,
*reserved* (a warning: the run's exit status is unchanged) when some answer deviates from the contract, and
*failed* (counted in the exit status; the run still goes on, its tests say the rest) only when the contract is
badly broken: no resident can be created (POST /residents does not answer a valid call with a resident
carrying an ``id``), since every behaviour scenario starts from one.

The contract description is package data (``conformance/sandbox/sandbox-api.yaml``, a copy of
docs/sandbox-api.yaml that tests/test_vendor_kit_contract.py keeps identical), so that it also works from a
non-editable install.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urljoin, urlsplit

import requests
import yaml

from conformance.sandbox.client import (
    Deadlines,
    SandboxError,
    bounded_request,
    bounded_session,
    default_deadlines,
)

SPEC_PATH = Path(__file__).resolve().parent / "sandbox-api.yaml"  # = docs/sandbox-api.yaml (package data)
MAX_ERRORS_PER_ROUTE = 12
MAX_REDIRECTS = 10


class ContractSpecMissing(RuntimeError):
    """The contract description is not in the package (a broken install)."""


class _Silent(Exception):
    """The candidate left a call without an answer and the checker was told to stop then (preflight)."""


@dataclass
class RouteResult:
    method: str
    template: str
    statuses: list[int] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (fr, en)
    unsupported: bool = False
    skipped: tuple[str, str] | None = None  # why not exercised (fr, en)

    @property
    def status(self) -> int | None:
        return self.statuses[0] if self.statuses else None

    @property
    def route(self) -> str:
        return f"{self.method} {self.template}"

    @property
    def ok(self) -> bool:
        return not self.problems and self.skipped is None and not self.unsupported and self.status is not None


@dataclass
class ContractReport:
    base_url: str
    routes: dict[str, RouteResult] = field(default_factory=dict)
    fatal: tuple[str, str] | None = None
    resident_id: str = ""  # the resident POST /residents created ('' when none could be)

    @property
    def to_fix(self) -> list[RouteResult]:
        return [r for r in self.routes.values() if r.problems]

    def exit_code(self) -> int:
        if self.fatal is not None:
            return 2
        return 1 if self.to_fix else 0

    def counts(self) -> dict[str, int]:
        values = list(self.routes.values())
        return {"routes": len(values), "ok": sum(r.ok for r in values), "to_fix": len(self.to_fix),
                "unsupported": sum(r.unsupported and not r.problems for r in values),
                "not_exercised": sum(r.skipped is not None and not r.problems for r in values)}

    def print(self, out: TextIO, lang: str = "fr") -> None:
        en = lang == "en"
        out.write(("contract check of " if en else "vérification du contrat de ") + self.base_url
                  + " (docs/sandbox-api.yaml)\n")
        if self.fatal is not None:
            out.write(("ERROR: " if en else "ERREUR : ") + self.fatal[1 if en else 0] + "\n")
            return
        for r in self.routes.values():
            code = (" " + ", ".join(str(s) for s in dict.fromkeys(r.statuses))) if r.statuses else ""
            if r.problems:
                out.write(f"{'FIX' if en else 'À CORRIGER'}  {r.route}{code}\n")
                for fr, english in r.problems[:MAX_ERRORS_PER_ROUTE]:
                    out.write(f"    - {english if en else fr}\n")
                if len(r.problems) > MAX_ERRORS_PER_ROUTE:
                    more = len(r.problems) - MAX_ERRORS_PER_ROUTE
                    out.write(f"    … {more} {'more' if en else 'de plus'}\n")
            elif r.unsupported:
                out.write(f"501  {r.route}: " + ("not supported: the proofs that need it will be not run\n" if en else
                          "non pris en charge : les preuves qui en dépendent seront « non exécutées »\n"))
            elif r.skipped is not None:
                out.write(f"{'NOT EXERCISED' if en else 'NON EXERCÉE'}  {r.route}: {r.skipped[1 if en else 0]}\n")
            else:
                out.write(f"OK   {r.route}{code}\n")
        c = self.counts()
        if en:
            out.write(f"{c['routes']} routes: {c['ok']} conform, {c['to_fix']} to fix, {c['unsupported']} not "
                      f"supported (501), {c['not_exercised']} not exercised\n")
        else:
            out.write(f"{c['routes']} routes : {c['ok']} conformes, {c['to_fix']} à corriger, {c['unsupported']} non "
                      f"prises en charge (501), {c['not_exercised']} non exercées\n")


def load_spec(path: Path | None = None) -> dict[str, Any]:
    p = path or SPEC_PATH
    if not p.is_file():
        raise ContractSpecMissing(f"contract description not found: {p}")
    return yaml.safe_load(p.read_text(encoding="utf-8"))


def spec_routes(spec: dict[str, Any]) -> list[tuple[str, str]]:
    return [(m.upper(), path) for path, item in spec["paths"].items() for m in item
            if m in ("get", "post", "put", "delete", "patch")]


class ContractChecker:
    """Validates answers against the spec (openapi-core) and records them per route template."""

    def __init__(self, base_url: str, spec: dict[str, Any] | None = None, deadlines: Deadlines | None = None,
                 stop_on_silence: bool = False) -> None:
        from openapi_core import OpenAPI

        self.stop_on_silence = stop_on_silence
        self.base_url = base_url.rstrip("/")
        spec = dict(spec or load_spec())
        spec["servers"] = [{"url": self.base_url}]
        self.spec = spec
        self.api = OpenAPI.from_dict(spec)
        self.deadlines = deadlines or default_deadlines()
        self.http = bounded_session()
        self.report = ContractReport(self.base_url)
        for method, template in spec_routes(spec):
            self.report.routes[f"{method} {template}"] = RouteResult(method, template)

    def _documented_statuses(self, method: str, template: str) -> list[str]:
        return list(self.spec["paths"][template][method.lower()].get("responses", {}))

    def _documented_media(self, method: str, template: str, status: int) -> str:
        """The media types the contract gives this answer (application/json unless the route says else)."""
        answer = self.spec["paths"][template][method.lower()].get("responses", {}).get(str(status)) or {}
        media = list((answer.get("content") or {}) if isinstance(answer, dict) else {})
        return ", ".join(media) if media else "application/json"

    # -- one call ------------------------------------------------------------------------------
    def call(self, method: str, template: str, path: str, *, json_body: Any = None, expect_error: bool = False,
             session: requests.Session | None = None, url: str | None = None) -> requests.Response | None:
        """Call the candidate and validate its answer; None when no answer came (recorded as a problem)."""
        result = self.report.routes[f"{method} {template}"]
        http = session or self.http
        target = url or f"{self.base_url}{path}"
        try:
            resp = bounded_request(http, method, target, self.deadlines, what=f"{method} {path}", json=json_body)
        except SandboxError as exc:
            result.problems.append((exc.message, exc.message_en))
            if self.stop_on_silence:
                raise _Silent(f"{method} {template}") from None
            return None
        result.statuses.append(resp.status_code)
        result.skipped = None
        self.validate(result, resp)
        if resp.status_code == 501 and "501" in self._documented_statuses(method, template):
            result.unsupported = True
        elif expect_error is False and resp.status_code >= 400 and not result.problems:
            detail = _error_text(resp)
            result.problems.append((f"réponse {resp.status_code} à un appel valide : {detail}",
                                    f"{resp.status_code} answer to a valid call: {detail}"))
        return resp

    def validate(self, result: RouteResult, resp: requests.Response) -> None:
        from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse

        request = RequestsOpenAPIRequest(resp.request)
        response = RequestsOpenAPIResponse(resp)
        for err in self.api.iter_response_errors(request, response):
            for line in _describe(err, resp, self._documented_statuses(result.method, result.template),
                                  self._documented_media(result.method, result.template, resp.status_code)):
                if line not in result.problems:
                    result.problems.append(line)

    def skip(self, method: str, template: str, fr: str, en: str) -> None:
        result = self.report.routes[f"{method} {template}"]
        if result.status is None and not result.problems:
            result.skipped = (fr, en)

    def problem(self, method: str, template: str, fr: str, en: str) -> None:
        self.report.routes[f"{method} {template}"].problems.append((fr, en))


def _error_text(resp: requests.Response) -> str:
    try:
        data = resp.json()
        if isinstance(data, dict) and "error" in data:
            return str(data["error"])[:200]
    except ValueError:
        pass
    return repr(resp.text[:120])


def _describe(err: Exception, resp: requests.Response, documented: list[str],
              media: str = "application/json") -> list[tuple[str, str]]:
    """One (fr, en) line per problem openapi-core found, saying what to fix."""
    from openapi_core.templating.media_types.exceptions import MediaTypeNotFound
    from openapi_core.templating.responses.exceptions import ResponseNotFound

    cause = err.__cause__
    ctype = resp.headers.get("Content-Type", "") or "absent"
    if isinstance(err, ResponseNotFound) or isinstance(cause, ResponseNotFound):
        return [(f"statut HTTP {resp.status_code} non prévu par le contrat (prévus : {', '.join(documented)})",
                 f"HTTP status {resp.status_code} not in the contract (expected: {', '.join(documented)})")]
    if isinstance(cause, MediaTypeNotFound):
        return [(f"Content-Type {ctype[:60]} : le contrat attend {media}",
                 f"Content-Type {ctype[:60]}: the contract expects {media}")]
    schema_errors = getattr(cause, "schema_errors", None) or getattr(err, "schema_errors", None)
    if schema_errors:
        out = []
        for se in schema_errors:
            where = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in se.absolute_path)
            out.append((f"{where} : {se.message}", f"{where}: {se.message}"))
        return out
    text = str(cause or err)
    if "empty" in text.lower() or not resp.content:
        return [(f"corps vide : le contrat attend un objet JSON ({text[:120]})",
                 f"empty body: the contract expects a JSON object ({text[:120]})")]
    return [(f"réponse non conforme : {text[:200]}", f"answer does not conform: {text[:200]}")]


# ---------------------------------------------------------------------------------------------
# the walk over the contract
# ---------------------------------------------------------------------------------------------
@contextmanager
def _simulators() -> Iterator[dict[str, Any]]:
    """The national-service simulators the candidate is pointed at (127.0.0.1, ephemeral ports)."""
    import secrets

    from conformance.dmp.simulator import DmpSimulator
    from conformance.ins.insi.simulator import InsiSimulator
    from conformance.mss.simulator import MssSimulator
    from conformance.psc.provider import ClientRegistration, MockPscProvider

    with ExitStack() as stack:
        insi = stack.enter_context(InsiSimulator(timeout_delay=1.0))
        dmp = stack.enter_context(DmpSimulator(hold_s=1.0))
        mss = stack.enter_context(MssSimulator())
        psc = stack.enter_context(MockPscProvider(ClientRegistration(
            client_id="segur-conformance-dui", client_secret=secrets.token_urlsafe(24), id_token_alg="RS256")))
        yield {"insi": insi, "dmp": dmp, "mss": mss, "psc": psc}


MSS_SENDER = "bal-applicative-candidat@dui.test-ci-sis.mssante.fr"
MSS_RECIPIENT = "dr.destinataire@test-ci-sis.mssante.fr"


FAST_SKIP = ("non exercée par la pré-vérification de run : `segur-conformance check-contract` exerce chaque route",
             "not exercised by run's preflight: `segur-conformance check-contract` exercises every route")


def check_contract(base_url: str, *, deadlines: Deadlines | None = None, spec_path: Path | None = None,
                   with_simulators: bool = True, fast: bool = False) -> ContractReport:
    """Drive the candidate through every route once and validate each answer (see the module text).

    ``fast``: the preflight of ``run``: capabilities and resident routes only, stopping at the first call
    left without an answer."""
    checker = ContractChecker(base_url, load_spec(spec_path), deadlines, stop_on_silence=fast)
    try:
        caps = checker.call("GET", "/capabilities", "/capabilities")
    except _Silent:
        caps = None
    if caps is None:
        checker.report.fatal = next(iter(checker.report.routes["GET /capabilities"].problems))
        return checker.report
    try:
        if fast:
            _walk_residents(checker, caps)
        elif with_simulators:
            with _simulators() as sims:
                _walk(checker, caps, sims)
        else:
            _walk(checker, caps, None)
    except _Silent as silent:
        why = (f"non exercée : le candidat a laissé {silent} sans réponse, la vérification s'est arrêtée",
               f"not exercised: the candidate left {silent} without an answer, the check stopped")
        for r in checker.report.routes.values():
            checker.skip(r.method, r.template, *why)
    if fast:
        for r in checker.report.routes.values():
            checker.skip(r.method, r.template, *FAST_SKIP)
    return checker.report


def _walk_residents(checker: ContractChecker, caps_resp: requests.Response) -> str:
    """The resident routes (fast preflight): a valid creation, a refused one, the created and an unknown id."""
    from conformance.ins.insi import fixtures as fx

    _capabilities_problems(checker, _json(caps_resp))
    created = _json(checker.call("POST", "/residents", "/residents",
                                 json_body=fx.identity("qualifiable").resident_body(identity_document="passeport")))
    checker.call("POST", "/residents", "/residents", json_body={"traits": {"birth_name": "SANSPRENOM"}},
                 expect_error=True)
    checker.call("GET", "/residents/{residentId}", "/residents/segur-contract-check-unknown", expect_error=True)
    rid = str(created.get("id") or "")
    checker.report.resident_id = rid
    if rid:
        checker.call("GET", "/residents/{residentId}", f"/residents/{rid}")
    return rid


def _capabilities_problems(checker: ContractChecker, caps: dict[str, Any]) -> None:
    if not [t for t in caps.get("document_types") or [] if isinstance(t, str)]:
        checker.problem("GET", "/capabilities", "document_types est vide : déclarez dans GET /capabilities les types "
                        "de documents que le DUI produit (sans eux, ni document, ni envoi DMP ou MSSanté n'est testé)",
                        "document_types is empty: declare in GET /capabilities the document types the DUI produces "
                        "(without them no document, DMP or MSSanté send is tested)")


def preflight(base_url: str, deadlines: Deadlines | None = None) -> tuple[str, str, str]:
    """The fast contract check ``run`` makes before any test: (verdict, French reason, English reason), the
    verdict being passed, reserved (answers to fix: a warning) or failed (no resident can be created)."""
    try:
        report = check_contract(base_url, deadlines=deadlines, fast=True)
    except ContractSpecMissing as exc:
        return "reserved", f"vérification du contrat impossible : {exc}", f"contract check impossible: {exc}"
    if report.fatal is not None:
        return "reserved", report.fatal[0], report.fatal[1]
    exercised = [r for r in report.routes.values() if r.statuses or r.problems]
    to_fix = report.to_fix
    detail_fr = " ; ".join(f"{r.route} : " + " / ".join(fr for fr, _ in r.problems[:3]) for r in to_fix)
    detail_en = " ; ".join(f"{r.route}: " + " / ".join(en for _, en in r.problems[:3]) for r in to_fix)
    hint = f"segur-conformance check-contract --sandbox-url {base_url}"
    if not report.resident_id:
        return ("failed",
                f"contrat gravement non respecté : aucun résident ne peut être créé (POST /residents), or chaque "
                f"scénario part d'un résident ; {detail_fr} — détail par route : {hint}"[:1500],
                f"contract badly broken: no resident can be created (POST /residents), and every scenario starts "
                f"from one; {detail_en} — details per route: {hint}"[:1500])
    if to_fix:
        return ("reserved",
                f"{len(to_fix)} route(s) sur {len(exercised)} exercées à corriger (avertissement, sans effet sur le "
                f"code de sortie) : {detail_fr} — détail : {hint}"[:1500],
                f"{len(to_fix)} of {len(exercised)} exercised route(s) to fix (a warning, the exit status is "
                f"unchanged): {detail_en} — details: {hint}"[:1500])
    return ("passed",
            f"{len(exercised)} routes exercées conformes (capacités, résidents) ; les autres sont vérifiées par "
            f"{hint}",
            f"{len(exercised)} exercised routes conform (capabilities, residents); the others are checked by {hint}")


def _json(resp: requests.Response | None) -> dict[str, Any]:
    if resp is None or resp.status_code >= 300:
        return {}
    try:
        data = resp.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _walk(checker: ContractChecker, caps_resp: requests.Response, sims: dict[str, Any] | None) -> None:
    caps = _json(caps_resp)
    features = caps.get("features") if isinstance(caps.get("features"), dict) else {}
    doc_types = [t for t in caps.get("document_types") or [] if isinstance(t, str)]
    endpoints: dict[str, Any] = {}
    psc_harness = None
    if sims is not None:
        from conformance.psc.scenarios import PscHarness

        mss = sims["mss"].endpoint(MSS_SENDER)
        mss["mdn_wait_s"] = 4.0
        endpoints = {"insi": {"url": sims["insi"].url, "timeout_s": 1.0},
                     "dmp": {**sims["dmp"].endpoint(), "timeout_s": 1.5}, "mss": mss}
        if features.get("psc", True):
            psc_harness = PscHarness(sims["psc"], checker.base_url, f"{checker.base_url}/psc/callback")
            psc_harness.register()
            endpoints["psc"] = psc_harness.endpoint_config()
    checker.call("PUT", "/endpoints", "/endpoints", json_body=endpoints)

    # residents: one valid creation, one refused (Error shape), one unknown id (Error shape), the created one
    rid = _walk_residents(checker, caps_resp)
    why_r = ("aucun résident créé (POST /residents)", "no resident created (POST /residents)")
    doc_id = ""
    if rid:
        checker.call("POST", "/residents/{residentId}/qualify", f"/residents/{rid}/qualify", json_body={})
        if features.get("ui_snapshot"):  # optional (contract 1.1): the identity screen after the qualification
            checker.call("GET", "/ui/snapshot", f"/ui/snapshot?step=resident_identity&resident={rid}")
        else:
            checker.skip("GET", "/ui/snapshot", "route facultative : features.ui_snapshot n'est pas déclaré",
                         "optional route: features.ui_snapshot is not declared")
        if doc_types:
            doc = _json(checker.call("POST", "/residents/{residentId}/documents", f"/residents/{rid}/documents",
                                     json_body={"type": doc_types[0]}))
            doc_id = str(doc.get("id") or "")
        else:
            checker.skip("POST", "/residents/{residentId}/documents", "aucun type de document déclaré",
                         "no document type declared")
    else:
        for template in ("/residents/{residentId}/qualify", "/residents/{residentId}/documents"):
            checker.skip("POST", template, *why_r)
        checker.skip("GET", "/ui/snapshot", *why_r)
    if doc_id:
        checker.call("GET", "/documents/{documentId}", f"/documents/{doc_id}")
        checker.call("POST", "/documents/{documentId}/dmp", f"/documents/{doc_id}/dmp", json_body={})
        checker.call("POST", "/documents/{documentId}/mss", f"/documents/{doc_id}/mss",
                     json_body={"recipients": [MSS_RECIPIENT], "to_patient": False, "read_receipt": False,
                                "no_reply": False})
    else:
        why = ("aucun document produit (POST /residents/{id}/documents)",
               "no document produced (POST /residents/{id}/documents)")
        for method, template in (("GET", "/documents/{documentId}"), ("POST", "/documents/{documentId}/dmp"),
                                 ("POST", "/documents/{documentId}/mss")):
            checker.skip(method, template, *why)
    _psc(checker, features, psc_harness is not None)
    checker.call("POST", "/reset", "/reset")


def _psc(checker: ContractChecker, features: dict[str, Any], configured: bool) -> None:
    routes = (("POST", "/psc/login"), ("GET", "/psc/callback"), ("GET", "/psc/session"), ("POST", "/psc/logout"))
    if not configured:
        for method, template in routes:
            checker.skip(method, template, "features.psc = false ou simulateurs absents",
                         "features.psc = false or no simulators")
        return
    browser = bounded_session()
    login = checker.call("POST", "/psc/login", "/psc/login", json_body={}, session=browser)
    url = str(_json(login).get("authorization_url") or "")
    landed = None
    hops = 0
    while url and hops < MAX_REDIRECTS:  # the harness as the browser: follow the provider back to the callback
        host = urlsplit(url).hostname or ""
        if host not in ("127.0.0.1", "localhost", "::1"):
            checker.problem("POST", "/psc/login", f"redirection hors de la boucle locale : {url[:80]}",
                            f"redirect off the loopback interface: {url[:80]}")
            break
        if urlsplit(url).path.rstrip("/").endswith("/psc/callback") and url.startswith(checker.base_url):
            landed = checker.call("GET", "/psc/callback", "", session=browser, url=url)
            break
        try:
            resp = bounded_request(browser, "GET", url, checker.deadlines, what="PSC authorize")
        except SandboxError as exc:
            checker.problem("POST", "/psc/login", exc.message, exc.message_en)
            break
        if resp.status_code not in (301, 302, 303, 307, 308) or "Location" not in resp.headers:
            break
        url = urljoin(url, resp.headers["Location"])
        hops += 1
    if landed is None:
        checker.skip("GET", "/psc/callback", "le parcours de connexion n'est pas revenu au callback du candidat",
                     "the login journey did not come back to the candidate's callback")
    checker.call("GET", "/psc/session", "/psc/session", session=browser)
    checker.call("POST", "/psc/logout", "/psc/logout", json_body={}, session=browser)


def run_check(base_url: str, out: TextIO, lang: str = "fr", *, json_out: Path | None = None,
              deadlines: Deadlines | None = None) -> int:
    report = check_contract(base_url, deadlines=deadlines)
    report.print(out, lang)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps({
            "base_url": report.base_url, "counts": report.counts(),
            "fatal": report.fatal[1] if report.fatal else None,
            "routes": [{"route": r.route, "statuses": r.statuses, "ok": r.ok, "unsupported": r.unsupported,
                        "not_exercised": r.skipped[1] if r.skipped else None,
                        "problems": [en for _, en in r.problems]} for r in report.routes.values()],
        }, indent=1, ensure_ascii=False), encoding="utf-8")
    return report.exit_code()


