"""Session fixtures of the DMP suite: the DMP simulator and what the candidate submitted to it.

``dmp_simulator`` starts the simulator once (HTTPS, test CA) and, in sandbox mode, tells the candidate
to use it (``PUT /endpoints {"dmp": {"url", "ca_pem", "timeout_s"}}``). ``dmp_submissions`` gives one
``DmpSubmission`` per ITI-41 request to check: in sandbox mode, the candidate's documents
(``cda_documents`` from the CDA suite, for the resident of ``qualified_resident`` from the INS suite)
are sent through ``POST /documents/{id}/dmp`` and the requests the simulator received are collected;
in artefact mode, ``dmp/*.http|*.xml`` are read. A document that produced no request is kept as a
submission without request, so the tests report it instead of silently checking fewer things.

Trust: a candidate signs its VIHF and XAdES with its own (IGC-Santé test) certificates. It declares
their test trust anchors with ``--dmp-trust`` (ini ``dmp_trust``, ``SEGUR_DMP_TRUST``) or
``dmp/trust/*.pem`` in artefact mode; the embedded reference sandbox declares its own test PKI. Without
anchors the chain is not evaluated and the signature proofs are "not evaluated" (conformance.dmp.trust).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from cryptography import x509

from conformance.dmp.checks import CheckContext
from conformance.dmp.iti41 import Iti41Request, load_artefact
from conformance.dmp.simulator import DmpSimulator, SimRequest
from conformance.dmp.trust import TrustConfigError, resolve_anchors
from conformance.findings import NotEvaluated
from conformance.ihe.cda_header import read_header
from conformance.plugin import SegurConfig, skip
from conformance.safexml import XmlRejected, parse_bytes
from conformance.sandbox.client import SandboxError, SandboxUnsupported
from conformance.seams import Candidate, ContractClient, CorridorProfile
from conformance.suites._fixtures_cda import decode_cda

ENV_TRUST = "SEGUR_DMP_TRUST"
SIMULATOR_HOLD_S = 3.0  # "timeout" scenario: the line is held this long, then dropped
CANDIDATE_TIMEOUT_S = 1.5  # asked of the candidate through the optional endpoint key timeout_s
BACKGROUND_WAIT_S = 10.0  # a background sender has this long to emit its ITI-41 after answering "queued"
SETTLE_S = 2.0  # and this long to record "sent" once the DMP said Success
POLL_S = 0.2


@dataclass
class DmpSubmission:
    """One document's trip to the DMP: what was sent, what the candidate said, what the DMP answered."""

    name: str
    request: Iti41Request | None
    context: CheckContext
    raw: bytes = b""
    document_id: str | None = None
    doc_type: str = ""
    result: dict[str, Any] | None = None
    received: SimRequest | None = None
    problem: str = ""
    problem_en: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _trust(segur_config: SegurConfig) -> list[x509.Certificate] | None:
    """The candidate's declared test trust anchors (conformance.dmp.trust.resolve_anchors), None if none."""
    try:
        anchors, _source = resolve_anchors(segur_config)
    except TrustConfigError as exc:
        raise NotEvaluated(f"ancres de confiance DMP inutilisables : {exc}", f"unusable DMP trust anchors: {exc}") \
            from None
    return anchors


@pytest.fixture(scope="session")
def dmp_simulator(candidate: Candidate, segur_config: SegurConfig) -> Iterator[DmpSimulator]:
    """The DMP simulator, started once; in sandbox mode the candidate is told to use it."""
    with DmpSimulator(trust=_trust(segur_config), hold_s=SIMULATOR_HOLD_S) as sim:
        client = candidate.client
        if client is not None:
            try:
                client.set_endpoints({"dmp": {**sim.endpoint(), "timeout_s": CANDIDATE_TIMEOUT_S}})
            except SandboxUnsupported:
                skip("le candidat ne permet pas de configurer le DMP (PUT /endpoints)",
                     "the candidate does not let the DMP be configured (PUT /endpoints)")
            except SandboxError as exc:
                raise NotEvaluated(f"configuration du DMP simulé refusée : {exc.message}",
                                   f"DMP simulator configuration refused: {exc.message_en}") from None
        yield sim


def _meta(artefact: object, *names: str) -> str:
    meta = getattr(artefact, "meta", None) or {}
    for name in names:
        if meta.get(name):
            return str(meta[name])
    return ""


# candidate document id -> XDS uniqueId of its CDA: how a request the DMP simulator receives is attributed to
# the test that asked for that document (a background retry of an earlier test's document is not this test's)
_DOCUMENT_UIDS: dict[str, str] = {}


def remember_document(doc_id: str, cda: bytes) -> str:
    """Record the XDS uniqueId of a candidate document (ClinicalDocument/id); '' when unreadable."""
    try:
        uid = read_header(parse_bytes(cda)).unique_id
    except (XmlRejected, ValueError):
        return ""
    if uid:
        _DOCUMENT_UIDS[doc_id] = uid
    return uid


def document_uid(doc_id: str) -> str:
    """The XDS uniqueId of a document this run asked for ('' when its CDA could not be read)."""
    return _DOCUMENT_UIDS.get(doc_id, "")


def document_for(client: ContractClient, resident_id: str, doc_type: str, options: dict[str, Any] | None = None) -> str:
    """Ask the candidate for a new document of a type for a resident; its id (its uniqueId remembered)."""
    created = client.create_document(resident_id, doc_type, options)
    doc_id = str(created["id"])
    try:
        remember_document(doc_id, decode_cda(created))
    except ValueError:
        pass  # no readable CDA in the answer: the CDA suite reports it; attribution falls back to time
    return doc_id


def split_by_document(requests: list[SimRequest], uid: str) -> tuple[list[SimRequest], list[SimRequest]]:
    """(requests carrying the document ``uid``, requests that belong to other documents).

    With no known uniqueId every request is kept as this test's (attribution by time, the old behaviour).
    A request whose documents cannot be read is kept as this test's too: it cannot be shown to be another's.
    """
    if not uid:
        return list(requests), []
    mine: list[SimRequest] = []
    foreign: list[SimRequest] = []
    for r in requests:
        uids = r.unique_ids
        (foreign if uids and uid not in uids else mine).append(r)
    return mine, foreign


def describe_foreign(requests: list[SimRequest]) -> list[dict[str, Any]]:
    """What an auditor needs to see of requests that belonged to other tests (patient id, documents)."""
    return [{"seq": r.seq, "kind": r.kind, "received_at": r.received_at, "patient_id": r.patient_id,
             "unique_ids": sorted(r.unique_ids), "outcome": r.outcome} for r in requests]


def _dmp_status(client: ContractClient, doc_id: str) -> str:
    try:
        return str(((client.get_document(doc_id) or {}).get("dmp") or {}).get("status") or "")
    except SandboxError:
        return ""


def send(client: ContractClient, sim: DmpSimulator, doc_id: str, name: str, doc_type: str, *,
         replaces: str | None = None) -> DmpSubmission:
    """POST /documents/{id}/dmp and pair the answer with what the simulator received.

    A candidate that sends in the background (SC.DMP/ALI/PROG.01) may answer "queued" before its
    ITI-41 leaves: we then wait (bounded) for the request, and briefly for the status to settle.
    """
    uid = document_uid(doc_id)
    mark = sim.mark()
    result = client.send_dmp(doc_id, replaces=replaces)
    received, foreign = split_by_document(sim.since(mark, "ITI-41"), uid)
    if result.get("status") == "queued":
        deadline = time.monotonic() + BACKGROUND_WAIT_S
        while not received and time.monotonic() < deadline and _dmp_status(client, doc_id) == "queued":
            time.sleep(POLL_S)
            received, foreign = split_by_document(sim.since(mark, "ITI-41"), uid)
        if received and received[-1].outcome == "Success":
            settle = time.monotonic() + SETTLE_S
            while time.monotonic() < settle and _dmp_status(client, doc_id) == "queued":
                time.sleep(POLL_S)
            result = dict(result, status=_dmp_status(client, doc_id) or result.get("status"))
    last = received[-1] if received else None
    sub = DmpSubmission(name=name, request=last.parsed if last else None, context=sim.check_context(),
                        raw=last.as_http() if last else b"", document_id=doc_id, doc_type=doc_type, result=result,
                        received=last)
    if last is not None and last.context is not None:
        sub.context = last.context
    if last is None:
        sub.problem = f"aucune requête ITI-41 reçue par le DMP simulé (réponse du candidat : {result})"
        sub.problem_en = f"no ITI-41 request reached the DMP simulator (candidate answered: {result})"
    sub.extra["all_requests"] = [r for r in sim.since(mark) if r not in foreign]
    sub.extra["foreign"] = describe_foreign(foreign)
    return sub


@pytest.fixture(scope="session")
def dmp_submissions(candidate: Candidate, request: pytest.FixtureRequest) -> list[DmpSubmission]:
    """Every ITI-41 submission of the run (sandbox: the candidate's documents; artefacts: dmp/)."""
    seg = request.getfixturevalue("segur_config")
    kit = seg.cisis_kit
    out = _collect(candidate, request)
    anchors = _trust(seg)
    for sub in out:
        sub.context.kit = kit
        if sub.context.trust is None:
            sub.context.trust = anchors
    return out


def _collect(candidate: Candidate, request: pytest.FixtureRequest) -> list[DmpSubmission]:
    if candidate.mode == "artefacts":
        out = []
        for art in candidate.files("dmp"):
            if art.problem:
                out.append(DmpSubmission(name=art.name, request=None, context=CheckContext(), problem=art.problem,
                                         problem_en=art.problem))
                continue
            out.append(DmpSubmission(name=art.name, request=load_artefact(art.name, art.data),
                                     context=CheckContext(at_capture_time=True),
                                     raw=art.data))
        if not out:
            skip("mode artefacts : aucun fichier dmp/*.http ou dmp/*.xml", "artefact mode: no dmp/*.http nor dmp/*.xml file")
        return out
    client = candidate.require_sandbox()
    if not candidate.supports("dmp"):
        skip("le candidat ne déclare pas l'alimentation du DMP (features.dmp)",
             "the candidate does not declare feeding the DMP (features.dmp)")
    sim: DmpSimulator = request.getfixturevalue("dmp_simulator")
    resident: dict[str, Any] = request.getfixturevalue("qualified_resident")
    documents = request.getfixturevalue("cda_documents")
    out = []
    for art in documents:
        if getattr(art, "problem", ""):
            continue  # not produced: the CDA suite reports it
        doc_type = _meta(art, "type", "doc_type", "document_type")
        doc_id = _meta(art, "id", "document_id")
        owner = _meta(art, "resident_id", "resident")
        try:
            if not doc_id or (owner and owner != str(resident["id"])):
                if not doc_type:
                    continue
                doc_id = document_for(client, str(resident["id"]), doc_type)
            elif getattr(art, "data", None):
                remember_document(doc_id, art.data)
            out.append(send(client, sim, doc_id, f"dmp/{doc_type or 'document'}-{doc_id}.http", doc_type))
        except SandboxUnsupported:
            raise
        except SandboxError as exc:
            out.append(DmpSubmission(name=f"dmp/{doc_type or art.name}", request=None, context=CheckContext(),
                                     document_id=doc_id, doc_type=doc_type,
                                     problem=f"envoi au DMP impossible : {exc.message}",
                                     problem_en=f"could not send to the DMP: {exc.message_en}"))
    if not out:
        hint = candidate.no_document_hint()
        raise NotEvaluated("aucun document du candidat à envoyer au DMP" + hint[0],
                           "no candidate document to send to the DMP" + hint[1])
    return out


@pytest.fixture(scope="session")
def dmp_document_type(candidate: Candidate, segur_profile: CorridorProfile) -> str:
    """A document type the candidate produces, for the behaviour scenarios (the corridor's first)."""
    declared = candidate.document_types()
    wanted = list(getattr(segur_profile, "document_types", ()) or ())
    for code in wanted:
        if code in declared:
            return code
    if declared:
        return declared[0]
    skip("le candidat ne déclare aucun type de document (capabilities.document_types)",
         "the candidate declares no document type (capabilities.document_types)")
    raise AssertionError("unreachable")
