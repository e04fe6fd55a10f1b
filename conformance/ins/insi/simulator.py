"""A simulated INSi teleservice: SOAP 1.2 over HTTP on 127.0.0.1, with evidence and request checks.

Why a real server: the DUI under test must make the real call (its own SOAP stack, its own timeouts),
so the simulator is an HTTP endpoint it can reach, not a mock object. It answers the search by traits
(``rechercherInsAvecTraitsIdentite``) and the verification (``verifierInsAvecTraitsIdentite``) from the
invented identities of ``fixtures.py``, records every request byte for byte with the findings of
``soap.check_request`` (protocols.md §3.4 I1), and never crashes on hostile input: a bad request gets
a SOAP Sender fault and the server keeps serving.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from conformance.findings import Finding
from conformance.ins.insi import fixtures as fx
from conformance.ins.insi import soap
from conformance.ins.matricule import corrupt_key, make_matricule

PATH = "/lps"
DEFAULT_TIMEOUT_DELAY = 3.0  # seconds the "timeout" scenario holds a request (bounded; stop() releases it)
MAX_RECORDED = 1000


@dataclass
class RecordedRequest:
    """One request as received, with what the checks found and what the simulator answered."""

    index: int
    path: str
    content_type: str
    headers: dict[str, str]
    body: bytes
    findings: list[Finding]
    operation: str = "unknown"
    outcome: str = ""  # CR code, "fault:<subcode>", "timeout", "rejected:<status>"
    traits: dict[str, Any] = field(default_factory=dict)
    received_at: float = 0.0

    @property
    def artefact(self) -> str:
        return f"insi/request-{self.index:04d}.xml"


class InsiSimulator:
    """``with InsiSimulator() as insi: ... insi.url ... insi.requests ... insi.check_requests()``."""

    def __init__(self, scenario: str | None = None, identities: Iterable[fx.InsiIdentity] = fx.IDENTITIES, *,
                 host: str = "127.0.0.1", port: int = 0, timeout_delay: float = DEFAULT_TIMEOUT_DELAY) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the INSi simulator binds to the loopback interface only")
        self.set_scenario(scenario)
        self.identities = tuple(identities)
        self.timeout_delay = timeout_delay
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._host, self._port = host, port
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.identity_scenarios: dict[str, str] = {}

    def register(self, identity: fx.InsiIdentity) -> fx.InsiIdentity:
        """Add a person to the simulated national base (a test's own identity); returns it."""
        with self._lock:
            if identity not in self.identities:
                self.identities = (*self.identities, identity)
        return identity

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> InsiSimulator:
        if self._httpd is not None:
            return self
        self._stopping.clear()
        self._httpd = ThreadingHTTPServer((self._host, self._port), _handler(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="insi-simulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> InsiSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("INSi simulator not started")
        host, port = self._httpd.server_address[:2]
        host_text = host.decode() if isinstance(host, bytes) else str(host)
        return f"http://{host_text}:{port}{PATH}"

    # -- switches -------------------------------------------------------------------------------
    def set_scenario(self, scenario: str | None) -> None:
        """Global switch (``None`` or ``"normal"`` → each identity's own scenario)."""
        if scenario not in (None, *fx.SCENARIOS):
            raise ValueError(f"unknown INSi scenario {scenario!r}; known: {', '.join(fx.SCENARIOS)}")
        self.scenario = scenario or "normal"

    def set_identity_scenario(self, name: str, scenario: str | None) -> None:
        """Per-identity switch, overriding the identity's own scenario until reset."""
        if scenario not in (None, *fx.SCENARIOS):
            raise ValueError(f"unknown INSi scenario {scenario!r}")
        if scenario is None:
            self.identity_scenarios.pop(name, None)
        else:
            self.identity_scenarios[name] = scenario

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()

    # -- evidence -------------------------------------------------------------------------------
    def check_requests(self) -> list[Finding]:
        """The findings of every request received so far (artefact = its evidence name)."""
        with self._lock:
            return [f for r in self.requests for f in r.findings]

    def requests_since(self, index: int) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.index > index]

    @property
    def last_index(self) -> int:
        with self._lock:
            return self.requests[-1].index if self.requests else 0

    # -- answering ------------------------------------------------------------------------------
    def _record(self, rec: RecordedRequest) -> None:
        with self._lock:
            rec.index = (self.requests[-1].index + 1) if self.requests else 1
            rec.findings = [f.with_artefact(rec.artefact) if not f.artefact else f for f in rec.findings]
            if len(self.requests) >= MAX_RECORDED:
                self.requests.pop(0)
            self.requests.append(rec)

    def answer(self, body: bytes, content_type: str, headers: dict[str, str] | None = None
               ) -> tuple[int, bytes, RecordedRequest]:
        """Status and SOAP answer for one request body (the HTTP layer only moves bytes).

        The request is recorded on arrival, before any delay, so a client that gave up still left its trace.
        """
        rec = RecordedRequest(index=0, path=PATH, content_type=content_type, headers=dict(headers or {}), body=body,
                              findings=soap.check_request(body, content_type), received_at=time.time())
        self._record(rec)
        try:
            req = soap.parse_request(body)
        except soap.SoapError as exc:
            rec.outcome = "fault:client"
            return 400, soap.build_fault("siram_40", "desir_100", f"requête rejetée : {exc.reason}"), rec
        rec.operation = req.operation
        rec.traits = dict(req.traits)
        if req.envelope_ns != soap.SOAP12:
            rec.outcome = "fault:version"
            return 400, soap.build_fault("siram_40", "desir_100", "seul SOAP 1.2 est accepté"), rec
        if req.operation == "unknown" or (req.action in soap.OPERATIONS
                                          and soap.OPERATIONS[req.action] != req.operation):
            rec.outcome = "fault:operation"
            return 400, soap.build_fault("siram_40", "desir_100", "opération inconnue ou incohérente avec wsa:Action"), rec
        if req.ctx_lps is None:
            spec = fx.FAULTS["lps_unknown"]
            rec.outcome = f"fault:{spec.subcode}"
            return 500, soap.build_fault(spec.subcode, spec.desir_code, spec.text), rec
        if any(f.is_error and f.rule.startswith("INSI.REQ.trait.") and "absent" in f.found for f in rec.findings) \
                or not str(req.traits.get("birth_name") or "").strip():
            spec = fx.FAULTS["bad_request"]
            rec.outcome = f"fault:{spec.subcode}"
            return 500, soap.build_fault(spec.subcode, spec.desir_code, spec.text + " : trait obligatoire absent"), rec
        if req.operation == "verify":
            return self._verify(req, rec)
        if req.operation == "search_vitale":
            spec = fx.FAULTS["service_down"]
            rec.outcome = f"fault:{spec.subcode}"
            return 500, soap.build_fault(spec.subcode, spec.desir_code, "recherche par carte Vitale non simulée"), rec
        return self._search(req, rec)

    def _scenario_for(self, ident: fx.InsiIdentity | None) -> str:
        if self.scenario != "normal":
            return self.scenario
        if ident is None:
            return "normal"
        return self.identity_scenarios.get(ident.name, ident.scenario)

    def _search(self, req: soap.InsiRequest, rec: RecordedRequest) -> tuple[int, bytes, RecordedRequest]:
        found = fx.search(req.traits, self.identities)
        ident = found[0] if len(found) == 1 else None
        scenario = self._scenario_for(ident if ident else (found[0] if found else None))
        if scenario == "timeout":
            rec.outcome = "timeout"
            self._stopping.wait(self.timeout_delay)
            spec = fx.FAULTS["service_down"]
            return 504, soap.build_fault(spec.subcode, spec.desir_code, spec.text, sender=False), rec
        if scenario == "fault":
            spec = fx.FAULTS["lps_unknown"]
            rec.outcome = f"fault:{spec.subcode}"
            return 500, soap.build_fault(spec.subcode, spec.desir_code, spec.text), rec
        if scenario == "not_found" or not found:
            rec.outcome = "01"
            return 200, soap.build_result("01", fx.CR_LABELS["01"], relates_to=req.message_id), rec
        if scenario == "ambiguous" or len(found) > 1:
            rec.outcome = "02"
            return 200, soap.build_result("02", fx.CR_LABELS["02"], relates_to=req.message_id), rec
        assert ident is not None
        rec.outcome = "00"
        return 200, self._found(ident, scenario, req.message_id), rec

    def _found(self, ident: fx.InsiIdentity, scenario: str, relates_to: str) -> bytes:
        matricule = ident.matricule
        if scenario == "corrupted_key":
            matricule = corrupt_key(matricule)
        actif = soap.InsiIdentityAnswer(number=matricule[:13], key=matricule[13:], oid=ident.oid)
        histo = [soap.InsiIdentityAnswer(h.number, h.matricule[13:], h.oid, h.type, h.date_start, h.date_end)
                 for h in ident.histo]
        if scenario == "historical" and not histo:
            number = "7" + ident.number[1:12] + "9"
            histo = [soap.InsiIdentityAnswer(number, make_matricule(number)[13:], ident.oid, "NIA", "1990-01-01",
                                             "2005-06-30")]
        tiq = ident.tiq()
        if scenario == "partial_date" and not tiq["DateNaissance"].endswith("00"):
            tiq["DateNaissance"] = tiq["DateNaissance"][:8] + "00"
        if scenario == "empty_fields":
            tiq["NomNaissance"] = ""
        return soap.build_result("00", fx.CR_LABELS["00"], actif=actif, histo=histo, tiq=tiq, relates_to=relates_to)

    def _verify(self, req: soap.InsiRequest, rec: RecordedRequest) -> tuple[int, bytes, RecordedRequest]:
        given = req.ins_fourni
        supplied = given.get("number", "") + given.get("key", "")
        match = next((i for i in self.identities if i.matricule == supplied and i.oid == given.get("oid")), None)
        ok = match is not None and match in fx.search(req.traits, self.identities)
        code = "00" if ok else "01"  # verification result codes are unconfirmed (soap.FACTS)
        rec.outcome = code
        label = "Identité conforme" if ok else "Identité non conforme"
        return 200, soap.build_result(code, label, relates_to=req.message_id), rec


def _handler(sim: InsiSimulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "insi-simulator/1"
        protocol_version = "HTTP/1.1"
        timeout = 30  # a client stuck in its request line or headers cannot hold a thread forever
        disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall per answer

        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_POST(self) -> None:  # noqa: N802 (http.server naming)
            content_type = self.headers.get("Content-Type", "")
            headers = {k: v for k, v in self.headers.items()}
            try:
                length = int(self.headers.get("Content-Length") or "-1")
            except ValueError:
                length = -1
            if self.path.split("?")[0] != PATH:
                self._reply(404, soap.build_fault("siram_40", "desir_100", f"chemin inconnu : {self.path[:80]}"))
                return
            if length < 0 or length > soap.MAX_REQUEST_BYTES:
                rec = RecordedRequest(0, PATH, content_type, headers, b"", [], outcome=f"rejected:{length}",
                                      received_at=time.time())
                status = 411 if length < 0 else 413
                rec.findings = [_size_finding(length)]
                sim._record(rec)
                self.close_connection = True
                self._reply(status, soap.build_fault("siram_40", "desir_100",
                                                     "longueur de requête absente ou supérieure à la limite"))
                return
            body = self._read(length)
            if body is None:
                return
            try:
                status, answer, _rec = sim.answer(body, content_type, headers)
            except Exception as exc:  # the simulator must keep serving whatever it receives
                status, answer = 500, soap.build_fault("siram_200", "desir_900", f"erreur interne : {exc.__class__.__name__}",
                                                       sender=False)
            self._reply(status, answer)

        def do_GET(self) -> None:  # noqa: N802
            self._reply(405, soap.build_fault("siram_40", "desir_100", "seule la méthode POST est acceptée"))

        def _read(self, length: int) -> bytes | None:
            chunks, remaining = [], length
            self.connection.settimeout(10)
            try:
                while remaining:
                    chunk = self.rfile.read(min(remaining, 65536))
                    if not chunk:
                        break
                    chunks.append(chunk)
                    remaining -= len(chunk)
            except OSError:
                self.close_connection = True
                return None
            return b"".join(chunks)

        def _reply(self, status: int, body: bytes) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", f'{soap.SOAP12_MEDIA}; charset=utf-8')
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:  # the client gave up (its own timeout): nothing to answer
                self.close_connection = True

    return Handler


def _size_finding(length: int) -> Finding:
    from conformance.findings import error

    if length < 0:
        return error("requête sans Content-Length valide", "request without a valid Content-Length",
                     rule="INSI.REQ.length", expected="Content-Length", found="absent ou invalide")
    return error("requête INSi trop volumineuse", "INSi request too large", rule="INSI.REQ.size",
                 expected=f"≤ {soap.MAX_REQUEST_BYTES} octets", found=f"{length} octets")
