"""A DMP simulator on 127.0.0.1: XDS.b registry and repository with VIHF, over HTTP or HTTPS (test CA).

Routes under ``<url>`` (the base a candidate receives through ``PUT /endpoints {"dmp": {"url", "ca_pem"}}``):

- ``POST <url>/repository`` — ITI-41 Provide and Register (SOAP 1.2 + MTOM);
- ``POST <url>/registry``   — ITI-18 Registry Stored Query (FindDocuments, GetDocuments) and ITI-57 Update
  Document Set (availability status: hide/delete/archive through UpdateAvailabilityStatus; metadata update
  with a new version, e.g. MASQUE_PS);
- ``POST <url>/td02`` — stand-in for TD0.2 "does a DMP exist for this INS" (the DMP guide's real message is
  not public: we accept any SOAP 1.2 request whose VIHF resource-id names the patient);
- ``POST <url>/td03`` — stand-in for TD0.3 (access authorisation); only recorded, since feeding must not
  ask for it (SC.DMP/CONF.05).

Every request is recorded with the findings of ``checks.check_submission`` (for ITI-41), so a suite can
both judge what the candidate sent and see what it was answered. In ``strict`` mode (default) the answer
follows the findings like a real DMP would: a SOAP Fault for an invalid VIHF, a RegistryResponse
Failure with the IHE code for a metadata or content problem. Scenario switches force an answer:
``unknown_patient``, ``metadata_error`` (XDSRegistryMetadataError with a codeContext), ``soap_fault``,
``partial_success``, ``http_500``, ``timeout`` (the connection is held, then closed without answer) and
``no_dmp`` (TD0.2 answers INEXISTANT and ITI-41 XDSUnknownPatientId). TD0.2 follows only ``no_dmp``, so
the ITI-41 error scenarios are really played.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import socket
import ssl
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography import x509
from lxml import etree

from conformance.dmp import ns, soap
from conformance.dmp.checks import CheckContext, check_submission, registry_error_for
from conformance.dmp.iti41 import Iti41Request, parse_request
from conformance.dmp.mtom import MtomRejected, parse_content_type, parse_mtom
from conformance.dmp.pki import TestPki, default_pki
from conformance.dmp.vihf import A_RESOURCE, check_vihf, read_vihf
from conformance.findings import Finding
from conformance.ihe import ebrim
from conformance.ihe.xds import parse_cx, parse_submit_objects
from conformance.safexml import XmlRejected, parse_bytes

MAX_BODY = 20 * 1024 * 1024
MAX_RECORDED = 1000
MAX_RECORDED_BYTES = 256 * 1024 * 1024  # oldest requests are forgotten beyond this (a long run stays bounded)
SCENARIOS = ("normal", "unknown_patient", "metadata_error", "soap_fault", "partial_success", "http_500", "timeout",
             "no_dmp")
REPOSITORY_UID = "1.2.250.1.213.1.1.9.99.1"  # our simulated repository's uniqueId (test arc)


@dataclass
class SimRequest:
    """One request as the simulator saw and answered it (evidence for the suites)."""

    seq: int
    received_at: str
    kind: str  # ITI-41 | ITI-18 | ITI-57 | TD0.2 | TD0.3 | unknown
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int = 0
    response: bytes = b""
    scenario: str = "normal"
    patient_id: str = ""
    findings: list[Finding] = field(default_factory=list)
    parsed: Iti41Request | None = field(default=None, repr=False)
    context: CheckContext | None = field(default=None, repr=False)  # registry state the checks saw
    outcome: str = ""  # Success | Failure | PartialSuccess | Fault | HTTP 500 | timeout | ...

    @property
    def unique_ids(self) -> set[str]:
        """The XDS uniqueIds of the documents this ITI-41 request carries (empty when unreadable)."""
        sub = self.parsed.submission if self.parsed is not None else None
        return {e.unique_id for e in (sub.entries if sub is not None else []) if e.unique_id}

    def as_http(self) -> bytes:
        """The request as a raw HTTP capture (the artefact-mode ``dmp/*.http`` format)."""
        head = f"{self.method} {self.path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in self.headers.items())
        return head.encode("latin-1", "replace") + b"\r\n" + self.body


@dataclass
class StoredEntry:
    entry_uuid: str
    unique_id: str
    patient_id: str
    lid: str
    metadata: dict[str, Any]
    content: bytes | None
    status: str = ns.STATUS_APPROVED
    version: int = 1
    submission: int = 0

    def summary(self) -> dict[str, str]:
        return {"uniqueId": self.unique_id, "status": self.status, "patientId": self.patient_id}


class DmpSimulator:
    """The simulated DMP; ``with DmpSimulator() as dmp: dmp.url, dmp.ca_pem, dmp.requests``."""

    def __init__(self, *, tls: bool = True, pki: TestPki | None = None, strict: bool = True,
                 trust: Sequence[x509.Certificate] | None = None, hold_s: float = 3.0,
                 host: str = "127.0.0.1") -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the DMP simulator binds to the loopback interface only")
        self.tls = tls
        self.pki = pki or default_pki()
        self.strict = strict
        self.trust = list(trust) if trust else None
        self.hold_s = hold_s
        self.host = host
        self._lock = threading.RLock()
        self._seq = itertools.count(1)
        self.requests: deque[SimRequest] = deque(maxlen=MAX_RECORDED)
        self.entries: dict[str, StoredEntry] = {}
        self._scenario = "normal"
        self._scenario_left: int | None = None
        self._scenario_uid: str | None = None
        self._stop = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> DmpSimulator:
        if self._httpd is not None:
            return self
        httpd = ThreadingHTTPServer((self.host, 0), _handler(self))
        httpd.daemon_threads = True
        if self.tls:
            server = self.pki.server("127.0.0.1", "localhost")
            self._tmp = tempfile.TemporaryDirectory(prefix="segur-dmp-")
            cert = Path(self._tmp.name) / "server.pem"
            key = Path(self._tmp.name) / "server.key"
            cert.write_bytes(server.cert_pem)
            key.write_bytes(server.key_pem)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            ctx.load_cert_chain(str(cert), str(key))
            # handshake in the worker thread, so a silent client cannot block accept()
            httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True, do_handshake_on_connect=False)
        self._httpd = httpd
        self._stop.clear()
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="dmp-simulator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> DmpSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._httpd is not None, "simulator not started"
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}/dmp"

    @property
    def ca_pem(self) -> str:
        return self.pki.ca_pem.decode("ascii")

    def endpoint(self) -> dict[str, str]:
        """The ``dmp`` entry of ``PUT /endpoints``."""
        return {"url": self.url, "ca_pem": self.ca_pem}

    # -- scenario and state ------------------------------------------------------------------------
    @property
    def scenario(self) -> str:
        return self._scenario

    def set_scenario(self, name: str, times: int | None = None, *, unique_id: str | None = None) -> None:
        """Force an answer for the next ``times`` ITI-41 requests (all of them when None).

        With ``unique_id``, only requests carrying that document (XDS uniqueId) get the scenario: a
        candidate's background retry of an earlier test's document cannot take the trap set for this one.
        """
        if name not in SCENARIOS:
            raise ValueError(f"unknown DMP scenario {name!r}; known: {', '.join(SCENARIOS)}")
        with self._lock:
            self._scenario = name
            self._scenario_left = times
            self._scenario_uid = unique_id if name != "normal" else None

    def _take_scenario(self, unique_ids: set[str] | None = None) -> str:
        with self._lock:
            current = self._scenario
            if self._scenario_uid is not None and self._scenario_uid not in (unique_ids or set()):
                return "normal"  # not the document the trap was set for
            if self._scenario_left is not None:
                self._scenario_left -= 1
                if self._scenario_left <= 0:
                    self._scenario, self._scenario_left, self._scenario_uid = "normal", None, None
            return current

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.entries.clear()
            self._scenario, self._scenario_left, self._scenario_uid = "normal", None, None

    def mark(self) -> int:
        """The sequence number of the last recorded request: pass it to ``since()`` later."""
        with self._lock:
            return self.requests[-1].seq if self.requests else 0

    def since(self, mark: int, kind: str | None = None) -> list[SimRequest]:
        with self._lock:
            return [r for r in self.requests if r.seq > mark and (kind is None or r.kind == kind)]

    def submissions(self, patient_id: str | None = None) -> list[SimRequest]:
        with self._lock:
            return [r for r in self.requests if r.kind == "ITI-41"
                    and (patient_id is None or _pid_key(r.patient_id) == _pid_key(patient_id))]

    def entries_of(self, patient_id: str) -> list[StoredEntry]:
        with self._lock:
            return [e for e in self.entries.values() if _pid_key(e.patient_id) == _pid_key(patient_id)]

    def check_context(self) -> CheckContext:
        with self._lock:
            known = {k: v.summary() for k, v in self.entries.items()}
        return CheckContext(trust=self.trust, known_entries=known, registry_known=True)

    # -- request handling ----------------------------------------------------------------------
    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        """Route one request; returns (status, headers, body). Never raises (a bug answers 500)."""
        rec = SimRequest(seq=next(self._seq), received_at=dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
                         kind="unknown", method=method, path=path, headers=headers, body=body)
        with self._lock:
            self.requests.append(rec)
            total = sum(len(r.body) for r in self.requests)
            while total > MAX_RECORDED_BYTES and len(self.requests) > 1:
                total -= len(self.requests.popleft().body)
        try:
            status, out_headers, payload = self._route(rec)
        except Exception as exc:  # keep serving whatever the input
            status, out_headers, payload = 500, _soap_headers(), soap.fault(
                "Receiver", "", f"erreur interne du simulateur DMP : {type(exc).__name__}")
            rec.outcome = f"internal error {type(exc).__name__}: {exc}"
        rec.status, rec.response = status, payload
        return status, out_headers, payload

    def _route(self, rec: SimRequest) -> tuple[int, dict[str, str], bytes]:
        if rec.method != "POST":
            rec.outcome = "405"
            return 405, {"Content-Type": "text/plain"}, b"POST only"
        tail = rec.path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        if tail == "repository":
            rec.kind = "ITI-41"
            return self._iti41(rec)
        if tail == "registry":
            return self._registry(rec)
        if tail == "td02":
            rec.kind = "TD0.2"
            return self._td02(rec)
        if tail == "td03":
            rec.kind = "TD0.3"
            rec.outcome = "recorded"
            return 200, _soap_headers(), _answer(etree.Element(f"{{{ns.DMP_SIM}}}TD03Response", authorised="true"),
                                                 "urn:segur-conformance:dmp:TD0.3Response")
        rec.outcome = "404"
        return 404, _soap_headers(), soap.fault("Sender", "", f"service inconnu : {rec.path}")

    # ITI-41 ------------------------------------------------------------------------------------
    def _iti41(self, rec: SimRequest) -> tuple[int, dict[str, str], bytes]:
        parsed = parse_request(rec.body, rec.headers.get("content-type", ""), artefact=f"dmp/{rec.seq:04d}-iti41.http",
                               http_headers=rec.headers)
        rec.parsed = parsed
        scenario = self._take_scenario(rec.unique_ids)
        rec.scenario = scenario
        ctx = self.check_context()
        rec.context = ctx
        rec.findings = check_submission(parsed, ctx)
        sub = parsed.submission
        if sub is not None and sub.submission_set is not None:
            rec.patient_id = sub.submission_set.patient_id
        relates = parsed.header.message_id if parsed.header else None
        if scenario == "http_500":
            rec.outcome = "HTTP 500"
            return 500, {"Content-Type": "text/plain; charset=utf-8"}, "Erreur interne (simulée)".encode()
        if scenario == "timeout":
            rec.outcome = "timeout"
            return -1, {}, b""
        if scenario == "soap_fault":
            rec.outcome = "Fault"
            return 500, _soap_headers(), soap.fault("Sender", "wsse:InvalidSecurityToken",
                                                     "VIHF invalide (scénario simulé)", relates_to=relates)
        if scenario in ("unknown_patient", "no_dmp"):
            return self._failure(rec, "XDSUnknownPatientId", f"patient inconnu du DMP : {rec.patient_id}", relates)
        if scenario == "metadata_error":
            return self._failure(rec, "XDSRegistryMetadataError",
                                 "métadonnée typeCode refusée par le DMP (scénario simulé)", relates)
        if self.strict:
            vihf_errors = [f for f in rec.findings if f.is_error and f.rule.startswith("DMP.VIHF.")]
            if vihf_errors:
                rec.outcome = "Fault"
                return 500, _soap_headers(), soap.fault("Sender", "wsse:InvalidSecurity",
                                                         f"VIHF invalide : {vihf_errors[0].message}",
                                                         relates_to=relates)
            problem = registry_error_for(rec.findings)
            if problem is not None:
                return self._failure(rec, problem[0], problem[1], relates)
        if sub is None or not sub.entries:
            return self._failure(rec, "XDSRegistryMetadataError", "soumission illisible", relates)
        self._store(rec, parsed)
        if scenario == "partial_success":
            rec.outcome = "PartialSuccess"
            errs = [soap.RegistryError("XDSExtraMetadataNotSaved", "métadonnées supplémentaires non enregistrées "
                                       "(scénario simulé)", ns.SEVERITY_WARNING)]
            return 200, _soap_headers(ns.ACTION_ITI41_RESPONSE), _answer(
                soap.registry_response(ns.RESPONSE_PARTIAL, errs), ns.ACTION_ITI41_RESPONSE, relates)
        rec.outcome = "Success"
        return 200, _soap_headers(ns.ACTION_ITI41_RESPONSE), _answer(
            soap.registry_response(ns.RESPONSE_SUCCESS), ns.ACTION_ITI41_RESPONSE, relates)

    def _failure(self, rec: SimRequest, code: str, context: str, relates: str | None
                 ) -> tuple[int, dict[str, str], bytes]:
        rec.outcome = f"Failure {code}"
        resp = soap.registry_response(ns.RESPONSE_FAILURE, [soap.RegistryError(code, context[:500])])
        return 200, _soap_headers(ns.ACTION_ITI41_RESPONSE), _answer(resp, ns.ACTION_ITI41_RESPONSE, relates)

    def _store(self, rec: SimRequest, parsed: Iti41Request) -> None:
        sub = parsed.submission
        assert sub is not None
        with self._lock:
            rplc = {a.source: a.target for a in sub.associations if a.type == ns.ASSOC_RPLC}
            for entry in sub.entries:
                entry_uuid = entry.id if entry.id.startswith("urn:uuid:") else f"urn:uuid:{uuid.uuid4()}"
                md = entry.metadata()
                md["entryUUID"] = entry_uuid
                md["repositoryUniqueId"] = REPOSITORY_UID
                content = parsed.documents.get(entry.id)
                if content is not None:
                    md["hash"] = hashlib.sha1(content).hexdigest()
                    md["size"] = str(len(content))
                self.entries[entry_uuid] = StoredEntry(entry_uuid, entry.unique_id, entry.patient_id,
                                                       f"urn:uuid:{uuid.uuid4()}", md, content, submission=rec.seq)
                old = self.entries.get(rplc.get(entry.id, ""))
                if old is not None:
                    old.status = ns.STATUS_DEPRECATED

    # registry: ITI-18 and ITI-57 -------------------------------------------------------------------
    def _registry(self, rec: SimRequest) -> tuple[int, dict[str, str], bytes]:
        root = _soap_root(rec)
        if root is None:
            rec.outcome = "Fault"
            return 400, _soap_headers(), soap.fault("Sender", "", "requête SOAP illisible")
        head = soap.read_envelope(root)
        rec.patient_id = read_vihf(head.assertion).value(A_RESOURCE) if head.assertion is not None else ""
        vihf_findings = check_vihf(head.assertion, trust=self.trust, artefact=f"dmp/{rec.seq:04d}-registry.http")
        rec.findings = vihf_findings
        if self.strict and any(f.is_error for f in vihf_findings):
            rec.kind = "ITI-18" if head.action == ns.ACTION_ITI18 else "ITI-57"
            rec.outcome = "Fault"
            first = next(f for f in vihf_findings if f.is_error)
            return 500, _soap_headers(), soap.fault("Sender", "wsse:InvalidSecurity", f"VIHF invalide : {first.message}",
                                                     relates_to=head.message_id)
        if head.action == ns.ACTION_ITI18:
            rec.kind = "ITI-18"
            return self._iti18(rec, head)
        if head.action == ns.ACTION_ITI57:
            rec.kind = "ITI-57"
            return self._iti57(rec, head)
        rec.outcome = "Fault"
        return 400, _soap_headers(), soap.fault("Sender", "wsa:ActionNotSupported",
                                                f"action non prise en charge : {head.action}")

    def _iti18(self, rec: SimRequest, head: soap.SoapHeader) -> tuple[int, dict[str, str], bytes]:
        query = head.body_child.find(f"{{{ns.RIM}}}AdhocQuery") if head.body_child is not None else None
        params: dict[str, list[str]] = {}
        if query is not None:
            for slot in query.findall(f"{{{ns.RIM}}}Slot"):
                values = [v.text or "" for v in slot.iter(f"{{{ns.RIM}}}Value")]
                params[slot.get("name") or ""] = [x.strip() for v in values for x in _ebrs_list(v)]
        qid = query.get("id") if query is not None else ""
        with self._lock:
            entries = list(self.entries.values())
        if qid == ns.QUERY_FIND_DOCUMENTS:
            pid = (params.get("$XDSDocumentEntryPatientId") or [""])[0]
            statuses = params.get("$XDSDocumentEntryStatus") or [ns.STATUS_APPROVED]
            found = [e for e in entries if _pid_key(e.patient_id) == _pid_key(pid) and e.status in statuses]
        elif qid == ns.QUERY_GET_DOCUMENTS:
            uids = set(params.get("$XDSDocumentEntryUniqueId") or [])
            uuids = set(params.get("$XDSDocumentEntryEntryUUID") or [])
            found = [e for e in entries if e.unique_id in uids or e.entry_uuid in uuids]
        else:
            rec.outcome = "Failure XDSUnknownStoredQuery"
            resp = etree.Element(f"{{{ns.QUERY}}}AdhocQueryResponse", nsmap={"query": ns.QUERY, "rs": ns.RS},
                                 status=ns.RESPONSE_FAILURE)
            lst = etree.SubElement(resp, f"{{{ns.RS}}}RegistryErrorList")
            etree.SubElement(lst, f"{{{ns.RS}}}RegistryError", errorCode="XDSUnknownStoredQuery",
                             codeContext=f"requête inconnue : {qid}", severity=ns.SEVERITY_ERROR)
            return 200, _soap_headers(ns.ACTION_ITI18_RESPONSE), _answer(resp, ns.ACTION_ITI18_RESPONSE,
                                                                          head.message_id)
        resp = etree.Element(f"{{{ns.QUERY}}}AdhocQueryResponse", nsmap={"query": ns.QUERY, "rim": ns.RIM},
                             status=ns.RESPONSE_SUCCESS)
        rol = etree.SubElement(resp, f"{{{ns.RIM}}}RegistryObjectList")
        for e in found:
            rol.append(ebrim.extrinsic_object(e.entry_uuid, e.metadata, status=e.status, lid=e.lid))
        rec.outcome = f"Success ({len(found)})"
        return 200, _soap_headers(ns.ACTION_ITI18_RESPONSE), _answer(resp, ns.ACTION_ITI18_RESPONSE, head.message_id)

    def _iti57(self, rec: SimRequest, head: soap.SoapHeader) -> tuple[int, dict[str, str], bytes]:
        sor = head.body_child
        sub = parse_submit_objects(sor) if sor is not None else None
        errors: list[soap.RegistryError] = []
        if sub is None:
            errors.append(soap.RegistryError("XDSMetadataUpdateError", "SubmitObjectsRequest absent"))
        else:
            with self._lock:
                for assoc in sub.associations:
                    if assoc.type == ns.ASSOC_UPDATE_STATUS:
                        errors.extend(self._update_status(assoc))
                for entry in sub.entries:
                    errors.extend(self._update_metadata(entry, sub))
        status = ns.RESPONSE_FAILURE if errors else ns.RESPONSE_SUCCESS
        rec.outcome = "Failure " + errors[0].code if errors else "Success"
        return 200, _soap_headers(ns.ACTION_ITI57_RESPONSE), _answer(soap.registry_response(status, errors),
                                                                     ns.ACTION_ITI57_RESPONSE, head.message_id)

    def _update_status(self, assoc: Any) -> list[soap.RegistryError]:
        entry = self.entries.get(assoc.target)
        original, new = assoc.slot("OriginalStatus"), assoc.slot("NewStatus")
        if entry is None:
            return [soap.RegistryError("XDSMetadataUpdateError", f"fiche inconnue : {assoc.target}")]
        if original != entry.status:
            return [soap.RegistryError("XDSMetadataUpdateError", f"statut d'origine {original} ≠ {entry.status}")]
        if new not in ns.AVAILABILITY_STATUSES:
            return [soap.RegistryError("XDSMetadataUpdateError", f"nouveau statut inconnu : {new}")]
        entry.status = new
        return []

    def _update_metadata(self, new: Any, sub: Any) -> list[soap.RegistryError]:
        old = next((e for e in self.entries.values() if e.lid == new.lid and e.status == ns.STATUS_APPROVED), None)
        if old is None:
            return [soap.RegistryError("XDSMetadataUpdateError", f"aucune fiche active de lid {new.lid}")]
        member = next((a for a in sub.associations if a.type == ns.ASSOC_HAS_MEMBER and a.target == new.id), None)
        previous = member.slot("PreviousVersion") if member is not None else ""
        if previous != str(old.version):
            return [soap.RegistryError("XDSMetadataVersionError", f"PreviousVersion {previous or 'absent'} ≠ "
                                       f"{old.version}")]
        md = dict(old.metadata)
        md.update({k: v for k, v in new.metadata().items() if v not in ("", [], None)})
        entry_uuid = new.id if new.id.startswith("urn:uuid:") else f"urn:uuid:{uuid.uuid4()}"
        md["entryUUID"] = entry_uuid
        old.status = ns.STATUS_DEPRECATED
        self.entries[entry_uuid] = StoredEntry(entry_uuid, old.unique_id, old.patient_id, old.lid, md, old.content,
                                               version=old.version + 1, submission=old.submission)
        return []

    # TD0.2 -------------------------------------------------------------------------------------
    def _td02(self, rec: SimRequest) -> tuple[int, dict[str, str], bytes]:
        root = _soap_root(rec)
        if root is None:
            rec.outcome = "Fault"
            return 400, _soap_headers(), soap.fault("Sender", "", "requête SOAP illisible")
        head = soap.read_envelope(root)
        rec.findings = check_vihf(head.assertion, trust=self.trust, artefact=f"dmp/{rec.seq:04d}-td02.http")
        ins = read_vihf(head.assertion).value(A_RESOURCE) if head.assertion is not None else ""
        rec.patient_id = ins
        status = "INEXISTANT" if self._scenario == "no_dmp" else "ACTIF"
        rec.outcome = status
        resp = etree.Element(f"{{{ns.DMP_SIM}}}TD02Response", nsmap={"td0": ns.DMP_SIM}, status=status, ins=ins)
        return 200, _soap_headers(), _answer(resp, "urn:segur-conformance:dmp:TD0.2Response", head.message_id)


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
def _pid_key(value: str) -> tuple[str, str]:
    cx = parse_cx(value or "")
    return cx.id, cx.authority_oid


def _ebrs_list(value: str) -> list[str]:
    """ebRS slot values like ``('a','b')`` or ``'a'`` → ["a", "b"]."""
    value = value.strip()
    if value.startswith("(") and value.endswith(")"):
        value = value[1:-1]
    return [v.strip().strip("'") for v in value.split(",") if v.strip()]


def _soap_headers(action: str = "") -> dict[str, str]:
    ctype = "application/soap+xml; charset=UTF-8"
    if action:
        ctype += f'; action="{action}"'
    return {"Content-Type": ctype}


def _answer(payload: etree._Element, action: str, relates_to: str | None = None) -> bytes:
    env = soap.envelope(action, "", payload, relates_to=relates_to, must_understand=False)
    return etree.tostring(env, xml_declaration=True, encoding="UTF-8")


def _soap_root(rec: SimRequest) -> etree._Element | None:
    body = rec.body
    ctype = rec.headers.get("content-type", "")
    try:
        if parse_content_type(ctype)[0].startswith("multipart/"):
            body = parse_mtom(ctype, body).root.body
        return parse_bytes(body).getroot()
    except (MtomRejected, XmlRejected):
        return None


def _handler(sim: DmpSimulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "segur-dmp-simulator/1"
        protocol_version = "HTTP/1.1"
        timeout = 30  # a silent client cannot hold a worker thread forever

        def log_message(self, format: str, *args: Any) -> None:
            return

        def setup(self) -> None:
            super().setup()
            try:  # headers and body leave in two writes: without this, Nagle + delayed ACK add ~40 ms
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass

        def _handle(self) -> None:
            length_text = self.headers.get("Content-Length")
            if length_text is None and self.command != "POST":
                length_text = "0"
            if length_text is None or not (length_text.strip().isascii() and length_text.strip().isdecimal()):
                self._send(411, {"Content-Type": "text/plain"}, b"Content-Length required")
                return
            length = int(length_text)
            if length > MAX_BODY:
                self._send(413, {"Content-Type": "text/plain"}, b"body too large")
                self.close_connection = True
                return
            body = self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, out_headers, payload = sim.handle(self.command, self.path, headers, body)
            if status == -1:  # timeout scenario: hold the line, then drop it without an answer
                deadline = time.monotonic() + sim.hold_s
                while time.monotonic() < deadline and not sim._stop.is_set():
                    time.sleep(0.05)
                self.close_connection = True
                return
            self._send(status, out_headers, payload)

        def _send(self, status: int, headers: dict[str, str], payload: bytes) -> None:
            try:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                self.close_connection = True

        def handle_one_request(self) -> None:
            try:
                super().handle_one_request()
            except (ssl.SSLError, ConnectionResetError, TimeoutError, OSError):
                self.close_connection = True

        do_POST = do_GET = do_PUT = do_DELETE = _handle

    return Handler
