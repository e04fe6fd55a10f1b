"""Session fixtures of the MSSanté suite: the operator simulator and the messages the candidate sent.

``mss_simulator`` starts the simulator once and, in sandbox mode, gives the candidate its endpoint
(PUT /endpoints ``mss``: host, port, ca_pem = test IGC-Santé CA + CRL, ORG client certificate and key
of the applicative mailbox ``sender``; plus the optional ``imap_port`` where the MDNs are fetched).
``mss_messages`` has the candidate send its documents (fixture ``cda_documents`` of the CDA suite) to
a professional, and one document of ``qualified_resident`` (INS suite) to the patient with "no reply";
it returns what the simulator received, with the context the checks need. In artefact mode it reads
``mss/*.eml``. A send the candidate could not make is kept as a capture with its problem, so the tests
report it instead of silently checking nothing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from conformance.findings import NotEvaluated
from conformance.mss.checks import MessageContext
from conformance.mss.simulator import MssSimulator, ReceivedMessage
from conformance.plugin import skip
from conformance.sandbox.client import SandboxError, SandboxUnsupported
from conformance.seams import Candidate, ContractClient

MSS_SENDER = "bal-applicative-candidat@dui.test-ci-sis.mssante.fr"
MSS_PRO_RECIPIENT = "dr.destinataire@test-ci-sis.mssante.fr"
MSS_MDN_WAIT_S = 4.0  # asked to the candidate (endpoint key mdn_wait_s); the harness waits a little longer
MSS_MAX_DOCUMENTS = 8


@dataclass
class MssCapture:
    """One message the candidate sent (or failed to send), with why it was sent."""

    name: str
    raw: bytes
    ctx: MessageContext
    kind: str  # "pro" | "patient" | "artefact"
    document_id: str = ""
    outcome: dict[str, Any] = field(default_factory=dict)
    received: ReceivedMessage | None = None
    problem: str = ""
    problem_en: str = ""
    #: when no message arrived: the proof whose failure stopped the send, read from the simulator's own
    #: session records (not from the candidate's error text): "DUI.MSS.01.01.01" (command in clear, no
    #: STARTTLS), "DUI.MSS.04.01.01" (TLS handshake failed on the operator's valid IGC-Santé certificate),
    #: "SC.MSS/CONF.12.01.01" (TLS established, MAIL refused: no valid client certificate); "" otherwise
    blocker: str = ""

    @property
    def connection(self) -> dict[str, Any] | None:
        return self.received.connection.to_json() if self.received else None


@pytest.fixture(scope="session")
def mss_simulator(candidate: Candidate) -> Iterator[MssSimulator]:
    """The MSSanté operator simulator, started once; in sandbox mode the candidate is told to use it."""
    with MssSimulator() as sim:
        client = getattr(candidate, "client", None)
        if client is not None:
            endpoint = sim.endpoint(MSS_SENDER)
            endpoint["mdn_wait_s"] = MSS_MDN_WAIT_S
            try:
                client.set_endpoints({"mss": endpoint})
            except SandboxUnsupported:
                skip("le candidat ne permet pas de configurer l'opérateur MSSanté (PUT /endpoints)",
                     "the candidate does not let the MSSanté operator be configured (PUT /endpoints)")
            except SandboxError as exc:
                raise NotEvaluated(f"configuration du simulateur MSSanté refusée : {exc.message}",
                                   f"MSSanté simulator configuration refused: {exc.message_en}") from None
        yield sim


def mss_document_id(item: object) -> str:
    """The contract id of a collected document (Artefact meta, dict, or object)."""
    meta = getattr(item, "meta", None) or (item if isinstance(item, dict) else {})
    for key in ("document_id", "id", "doc_id"):
        value = meta.get(key) if isinstance(meta, dict) else None
        if value:
            return str(value)
    return str(getattr(item, "id", "") or "")


def mss_document_types(candidate: Candidate, collected: Sequence[object]) -> list[str]:
    seen = [str((getattr(d, "meta", None) or {}).get("type") or "") for d in collected]
    return [t for t in dict.fromkeys(seen + candidate.document_types()) if t]


def _mss_optional(request: pytest.FixtureRequest, name: str) -> Any:
    """Another suite's fixture, or None when it is missing, skipped or could not be evaluated."""
    try:
        return request.getfixturevalue(name)
    except (pytest.FixtureLookupError, NotEvaluated, SandboxError):
        return None
    except pytest.skip.Exception:
        return None


def mss_send_and_capture(client: ContractClient, sim: MssSimulator, doc_id: str, options: dict[str, Any], *, kind: str,
                     resident: dict[str, Any] | None, replaces: dict[str, str] | None = None) -> MssCapture:
    """Ask the candidate to send one document and pick up what reached the simulator."""
    ctx = MessageContext(options=dict(options), resident=resident, sender=MSS_SENDER, applicative=True,
                         replaces=replaces)
    name = f"mss/{kind}-{doc_id}.eml"
    before, before_conn = len(sim.messages), len(sim.connections)
    try:
        outcome = client.send_mss(doc_id, **options)
    except SandboxUnsupported:
        raise
    except SandboxError as exc:
        return MssCapture(name, b"", ctx, kind, doc_id, problem=f"envoi impossible : {exc.message}",
                          problem_en=f"send impossible: {exc.message_en}")
    message_id = str(outcome.get("message_id") or "")
    if outcome.get("status") in ("sent", "queued"):  # a candidate that queues may deliver a moment later
        sim.wait_for(lambda s: bool(s.find(message_id)) or len(s.messages) > before, timeout=2.0)
    received = sim.find(message_id) or sim.messages[before:]
    if not received:
        # the operator's record of a failed handshake may land just after the candidate answered: let the
        # sessions of this send end (bounded) before reading why nothing arrived
        sim.wait_for(lambda s: all(c.starttls or c.tls_error or (c.closed and "C: STARTTLS" not in c.events)
                                   for c in s.connections[before_conn:]), timeout=2.0)
        blocker, why, why_en = send_blocker([c.to_json() for c in sim.connections[before_conn:]])
        return MssCapture(name, b"", ctx, kind, doc_id, outcome, problem=(
            f"aucun message reçu par l'opérateur (statut {outcome.get('status')!r}, erreur {outcome.get('error')!r})"
            + (f" ; {why}" if why else "")),
            problem_en=(f"no message reached the operator (status {outcome.get('status')!r}, "
                        f"error {outcome.get('error')!r})" + (f"; {why_en}" if why_en else "")), blocker=blocker)
    msg = received[-1]
    ctx = MessageContext(options=ctx.options, resident=resident, sender=MSS_SENDER, applicative=True, replaces=replaces,
                         envelope=msg.envelope_json())
    problem = "" if outcome.get("status") == "sent" else (
        f"le candidat signale {outcome.get('status')!r} pour un envoi accepté par l'opérateur")
    return MssCapture(name, msg.raw, ctx, kind, doc_id, outcome, msg, problem)


AUTH_REFUSED = "530 5.7.0 Authentification requise"


def mail_attempted(conn: dict[str, Any]) -> bool:
    """The client issued MAIL FROM on this SMTP session (the simulator's event log)."""
    return any(str(e).startswith("C: MAIL") for e in conn.get("events") or [])


def send_blocker(conns: list[dict[str, Any]]) -> tuple[str, str, str]:
    """(proof, reason_fr, reason_en) that stopped a send, from the SMTP sessions the simulator saw during it.

    Only what the operator itself observed counts: a command in clear (STARTTLS skipped), a TLS handshake
    that failed on the operator's valid IGC-Santé certificate (the candidate refused it), or a TLS session
    whose MAIL FROM was refused because no valid ORG client certificate was presented.
    """
    for conn in conns:
        if conn.get("plaintext_commands"):
            return ("DUI.MSS.01.01.01", f"commande en clair avant STARTTLS : {conn['plaintext_commands'][0]}",
                    f"command in clear before STARTTLS: {conn['plaintext_commands'][0]}")
    for conn in conns:
        if conn.get("server_cert") == "valid" and conn.get("tls_error") and not conn.get("starttls"):
            return ("DUI.MSS.04.01.01", f"session TLS échouée sur le certificat IGC-Santé valide de l'opérateur "
                    f"({conn['tls_error'][:160]})", f"TLS handshake failed on the operator's valid IGC-Santé "
                    f"certificate ({conn['tls_error'][:160]})")
    for conn in conns:
        if (conn.get("starttls") and conn.get("client_cert_status") != "valid" and not conn.get("authenticated")
                and any(AUTH_REFUSED in str(e) for e in conn.get("events") or [])):
            return ("SC.MSS/CONF.12.01.01", f"MAIL refusé par l'opérateur : certificat client de BAL applicative "
                    f"{conn.get('client_cert_status')}", "MAIL refused by the operator: applicative mailbox client "
                    f"certificate {conn.get('client_cert_status')}")
    return "", "", ""


@pytest.fixture(scope="session")
def mss_messages(request: pytest.FixtureRequest, candidate: Candidate) -> list[MssCapture]:
    """Every message to check: sent now through the sandbox, or read from ``mss/*.eml``."""
    if candidate.mode != "sandbox":
        out = []
        for art in candidate.files("mss"):
            out.append(MssCapture(art.name, art.data, MessageContext(), "artefact", problem=art.problem))
        return out
    client = candidate.require_sandbox()  # sandbox mode: never skips
    if not candidate.supports("mss"):
        skip("le candidat ne déclare pas la fonction MSSanté (features.mss)",
             "the candidate does not declare the MSSanté function (features.mss)")
    sim: MssSimulator = request.getfixturevalue("mss_simulator")
    sim.set_scenario()
    captures: list[MssCapture] = []
    collected = list(_mss_optional(request, "cda_documents") or [])
    resident = _mss_optional(request, "qualified_resident")
    docs = [(mss_document_id(item), (getattr(item, "meta", None) or {}).get("resident")) for item in collected]
    docs = [(d, r if isinstance(r, dict) else None) for d, r in docs if d][:MSS_MAX_DOCUMENTS]
    if not docs and resident:
        for doc_type in mss_document_types(candidate, collected)[:MSS_MAX_DOCUMENTS]:
            try:
                docs.append((str(client.create_document(str(resident["id"]), doc_type)["id"]), resident))
            except SandboxUnsupported:
                continue
    for doc_id, owner in docs:
        captures.append(mss_send_and_capture(
            client, sim, doc_id, {"recipients": [MSS_PRO_RECIPIENT], "to_patient": False, "read_receipt": True,
                                  "no_reply": False}, kind="pro", resident=owner))
    if resident:
        types = mss_document_types(candidate, collected)
        if types:
            try:
                doc = client.create_document(str(resident["id"]), types[0])
                captures.append(mss_send_and_capture(
                    client, sim, str(doc["id"]), {"recipients": [], "to_patient": True, "read_receipt": False,
                                                  "no_reply": True}, kind="patient", resident=resident))
            except SandboxUnsupported:
                pass
    if not captures:
        hint = candidate.no_document_hint()
        raise NotEvaluated("aucun document à envoyer par MSSanté (ni cda_documents ni résident qualifié)" + hint[0],
                           "no document to send by MSSanté (neither cda_documents nor a qualified resident)" + hint[1])
    return captures


def mss_wait_for_document(client: ContractClient, doc_id: str, predicate: Any, timeout: float = MSS_MDN_WAIT_S + 3.0) -> dict[str, Any]:
    """GET /documents/{id} until ``predicate(doc)`` holds or the time is up (bounded poll)."""
    deadline = time.monotonic() + timeout
    doc = client.get_document(doc_id)
    while not predicate(doc) and time.monotonic() < deadline:
        time.sleep(0.2)
        doc = client.get_document(doc_id)
    return dict(doc)
