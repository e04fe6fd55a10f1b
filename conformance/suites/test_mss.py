"""MSSanté suite: the candidate's messages checked one requirement at a time, then its behaviour when
the operator refuses, drops, answers with an error MDN or presents a bad certificate.

Message checks (protocols.md §2.5 M1–M7, M10) run on every message of ``mss_messages`` (sandbox or
artefact mode). Transport and behaviour scenarios (M8, M9, M11, DUI.MSS.04–06) need the live sandbox
and the simulator; they are ``not_run`` in artefact mode. Findings are recorded, never asserted.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from conformance.findings import Finding, NotEvaluated, error, info, warning
from conformance.mss import checks as mc
from conformance.mss import rules as mr
from conformance.mss.checks import Inspected, MessageContext, inspect
from conformance.mss.mdn import parse_notification
from conformance.mss.simulator import MssSimulator
from conformance.mss.xdm import compare_entries_with_cda
from conformance.plugin import skip
from conformance.sandbox.client import SandboxError, decode_cda
from conformance.seams import Candidate, ContractClient, Recorder
from conformance.suites._fixtures_mss import (
    MSS_MDN_WAIT_S,
    MSS_PRO_RECIPIENT,
    MSS_SENDER,
    MssCapture,
    mail_attempted,
    mss_document_types,
    mss_send_and_capture,
    mss_wait_for_document,
    send_blocker,
)
from conformance.suites._helpers_mss import (
    _connections,
    _doc_for,
    _each,
    _evidence,
    _need_messages,
    _not_sent,
    _only,
    _problem,
    _sandbox,
    _sim_log,
)

REJECT_CODES = (550, 552, 554)


# ---------------------------------------------------------------------------------------------
# message checks (both modes)
# ---------------------------------------------------------------------------------------------
@mr.marker("xdm")
def test_message_structure_and_xdm_package(segur: Recorder, mss_messages: list[MssCapture]) -> None:
    """M1–M4: MIME structure, one safe IHE_XDM.ZIP with a coherent METADATA.XML, XDM/1.0/DDM subject."""
    _need_messages(mss_messages)

    def check(it: Inspected) -> list[Finding]:
        out = mc.check_mime(it) + mc.check_xdm(it) + mc.check_subject(it)
        for pkg in it.xdms:
            try:
                out += compare_entries_with_cda(pkg)
            except NotEvaluated as exc:
                out.append(error(f"non évalué : {exc.reason}", f"not evaluated: {exc.reason_en}",
                                 rule="MSS.XDM.HEADER", artefact=pkg.artefact, requirements=mr.requirements("xdm")))
        return out

    _each(segur, mss_messages, "xdm", check)


def _need_cda(segur: Recorder, captures: list[MssCapture], header: str) -> None:
    """A header describing the attached CDA was not checked at all when no message carried a readable CDA."""
    if segur.errors:
        return
    if not any(c.raw and inspect(c.raw, c.name, c.ctx).cda_documents for c in captures):
        segur.not_evaluated(f"aucun message ne joint de CDA lisible : {header} non vérifiable",
                            f"no message attaches a readable CDA: {header} cannot be checked")


@mr.marker("codecda")
def test_x_mss_codecda(segur: Recorder, mss_messages: list[MssCapture]) -> None:
    _need_messages(mss_messages)
    _each(segur, mss_messages, "codecda")
    _need_cda(segur, mss_messages, "X-MSS-CODECDA")


@mr.marker("x_mss_ins")
def test_x_mss_ins(segur: Recorder, mss_messages: list[MssCapture]) -> None:
    _need_messages(mss_messages)
    _each(segur, mss_messages, "x_mss_ins")
    _need_cda(segur, mss_messages, "X-MSS-INS")


@mr.marker("x_mss_nil")
def test_x_mss_nil_on_every_message(segur: Recorder, mss_messages: list[MssCapture]) -> None:
    _need_messages(mss_messages)
    _each(segur, mss_messages, "x_mss_nil")


@mr.marker("x_mss_mes")
def test_x_mss_mes_fin_when_no_reply(segur: Recorder, mss_messages: list[MssCapture], candidate: Candidate) -> None:
    _need_messages(mss_messages)
    if candidate.mode == "sandbox" and not any(c.kind == "patient" for c in mss_messages):
        raise NotEvaluated("aucun envoi au patient « sans réponse » n'a pu être fait",
                           "no 'no reply' patient send could be made")
    if candidate.mode != "sandbox" and not any(c.raw and inspect(c.raw, c.name).patient_recipients()
                                               for c in mss_messages):
        skip("aucun message adressé à @patient.mssante.fr dans mss/ : X-MSS-MES sans objet",
             "no message addressed to @patient.mssante.fr in mss/: X-MSS-MES does not apply")
    _each(segur, mss_messages, "x_mss_mes")


@mr.marker("message_id")
def test_message_id_on_every_message(segur: Recorder, mss_messages: list[MssCapture]) -> None:
    _need_messages(mss_messages)
    _each(segur, mss_messages, "message_id")


def _original_message(message_id: str) -> bytes:
    """A professional's message to the candidate's mailbox, the one the candidate is asked to answer."""
    from email.message import EmailMessage
    from email.policy import SMTP
    from email.utils import formatdate

    msg = EmailMessage(policy=SMTP)
    msg["From"] = f"Dr Destinataire <{MSS_PRO_RECIPIENT}>"
    msg["To"] = MSS_SENDER
    msg["Subject"] = "Demande de document"
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = message_id
    msg.set_content("Bonjour,\nPouvez-vous me transmettre le document de ce résident ?\n", charset="utf-8")
    return msg.as_bytes()


@mr.marker("reply")
def test_reply_headers(segur: Recorder, request: pytest.FixtureRequest, candidate: Candidate,
                       mss_messages: list[MssCapture]) -> None:
    """Artefact mode: the replies found among the messages. Sandbox mode, for a candidate that declares
    ``features.mss_reply``: a professional's message is put in the candidate's mailbox and the candidate sends a
    document in reply to it (``in_reply_to`` of POST /documents/{id}/mss); its In-Reply-To must be that
    Message-ID, its References must contain it, and it carries its own Message-ID."""
    if candidate.mode == "sandbox":
        client = _sandbox(candidate)
        if not candidate.supports("mss_reply"):
            skip("le candidat ne déclare pas features.mss_reply (réponse à un message reçu) : preuve manuelle "
                 "DUI.MSS.08.01.02 attendue",
                 "the candidate does not declare features.mss_reply (reply to a received message): manual "
                 "proof DUI.MSS.08.01.02 expected")
        from email.utils import make_msgid

        sim: MssSimulator = request.getfixturevalue("mss_simulator")
        doc_id, resident = _doc_for(request, candidate, client)
        original_id = make_msgid(domain="test-ci-sis.mssante.fr")
        original = _original_message(original_id)
        sim.store.deliver(MSS_SENDER, original)
        segur.evidence("message-d-origine.eml", original, kind="Source SMTP",
                       description="message d'un professionnel déposé dans la BAL du candidat, auquel il répond")
        capture = mss_send_and_capture(client, sim, doc_id, {
            "recipients": [MSS_PRO_RECIPIENT], "to_patient": False, "read_receipt": False, "no_reply": False,
            "in_reply_to": original_id}, kind="reponse", resident=resident)
        _evidence(segur, capture)
        if _problem(segur, capture, mr.requirements("reply")):
            raise NotEvaluated(*_not_sent([capture]))
        segur.record(mc.check_reply_headers(inspect(capture.raw, capture.name, capture.ctx)))
        return
    replies = [c for c in mss_messages if c.raw and mc.is_reply(inspect(c.raw, c.name))]
    if not replies:
        skip("aucune réponse parmi les messages de mss/ : preuve manuelle DUI.MSS.08.01.02 attendue",
             "no reply among the messages of mss/: manual proof DUI.MSS.08.01.02 expected")
    _each(segur, replies, "reply")


@mr.marker("from")
def test_from_display_name(segur: Recorder, mss_messages: list[MssCapture]) -> None:
    _need_messages(mss_messages)
    _each(segur, mss_messages, "from")


@mr.marker("applicative")
def test_applicative_mailbox_reply_to_and_mention(segur: Recorder, mss_messages: list[MssCapture]) -> None:
    _need_messages(mss_messages)
    _need_send_context(mss_messages, "si le message part d'une BAL applicative",
                       "whether the message was sent from an applicative mailbox")
    _each(segur, mss_messages, "applicative")


@mr.marker("read_receipt")
def test_read_receipt_request(segur: Recorder, mss_messages: list[MssCapture]) -> None:
    _need_messages(mss_messages)
    _need_send_context(mss_messages, "si l'utilisateur a demandé un accusé de lecture",
                       "whether the user asked for a read receipt")
    _each(segur, mss_messages, "read_receipt")


@mr.marker("delivery_receipt")
def test_delivery_receipt_request(segur: Recorder, mss_messages: list[MssCapture]) -> None:
    """Mechanism unconfirmed (Return-Receipt-To or DSN NOTIFY): warnings only, plus a manual proof."""
    _need_messages(mss_messages)
    _each(segur, mss_messages, "delivery_receipt")


@mr.marker("charsets")
def test_utf8(segur: Recorder, mss_messages: list[MssCapture]) -> None:
    _need_messages(mss_messages)
    _each(segur, mss_messages, "charsets")


@mr.marker("body_type")
def test_body_content_type(segur: Recorder, mss_messages: list[MssCapture]) -> None:
    _need_messages(mss_messages)
    _each(segur, mss_messages, "body_type")


@mr.marker("patient_address")
def test_patient_address_from_qualified_ins(segur: Recorder, mss_messages: list[MssCapture], candidate: Candidate) -> None:
    """M6: the patient send of the qualified resident goes to <matricule INS>@patient.mssante.fr."""
    _need_messages(mss_messages)
    if candidate.mode == "sandbox":
        if not any(c.kind == "patient" for c in mss_messages):
            raise NotEvaluated("aucun envoi au patient n'a pu être fait (résident qualifié indisponible)",
                               "no patient send could be made (no qualified resident)")
        _each(segur, mss_messages, "patient_address", kinds=("patient",))
        return
    patients = [c for c in mss_messages if c.raw and inspect(c.raw, c.name).patient_recipients()]
    if not patients:
        skip("aucun message adressé à @patient.mssante.fr dans mss/", "no message addressed to @patient.mssante.fr in mss/")
    _each(segur, patients, "patient_address")


# ---------------------------------------------------------------------------------------------
# transport (sandbox: the simulator saw the connections)
# ---------------------------------------------------------------------------------------------
def _transport(segur: Recorder, candidate: Candidate, captures: list[MssCapture], sim: MssSimulator, requirement: str,
               check: Callable[[dict[str, Any], str], list[Finding]], name: str) -> None:
    """Judge every SMTP session of the run, up to now, on which the candidate established TLS with the
    operator's valid certificate and then started a mail transaction (MAIL FROM), delivered or not: a
    session refused at MAIL for want of a client certificate is exactly what SC.MSS/CONF.12 must see."""
    _sandbox(candidate)
    delivered = {c["id"] for c in _connections(captures)}
    conns = [c.to_json() for c in sim.connections]
    conns = [c for c in conns if c["id"] in delivered or (c.get("server_cert") == "valid" and c.get("starttls")
                                                          and mail_attempted(c))]
    if not conns:
        raise NotEvaluated(*_not_sent(captures))
    segur.evidence("connexions-smtp.json", json.dumps(conns, ensure_ascii=False, indent=1, default=str), kind="Log",
                   description="sessions SMTP vues par le simulateur")
    for conn in conns:
        segur.record(_only(check(conn, f"smtp/connexion-{conn['id']}"), requirement), check=name)


@mr.marker("transport")
def test_tls_always(segur: Recorder, candidate: Candidate, mss_messages: list[MssCapture], mss_simulator: MssSimulator) -> None:
    """No mail command in clear on any connection of the run; every delivered message came over STARTTLS.
    (Connections whose TLS handshake failed on purpose, in the certificate scenarios, sent nothing.)"""
    _sandbox(candidate)
    conns = [c.to_json() for c in mss_simulator.connections]
    if not conns:
        raise NotEvaluated("le candidat ne s'est jamais connecté au simulateur MSSanté",
                           "the candidate never connected to the MSSanté simulator")
    segur.evidence("connexions-smtp.json", json.dumps(conns, ensure_ascii=False, indent=1, default=str), kind="Log",
                   description="sessions SMTP vues par le simulateur")
    delivered = {c["id"] for c in _connections(mss_messages)}
    others = []
    for capture in mss_messages:  # this test owns the send itself: a message that never arrived fails here
        if capture.kind != "artefact" and capture.problem and not capture.raw:
            if capture.blocker and capture.blocker != "DUI.MSS.01.01.01":
                # the operator saw why: the server certificate or the client identity, another proof's failure
                others.append(capture)
                segur.record(warning(f"{capture.name} : non remis, {capture.problem} — échec de {capture.blocker}",
                                     f"{capture.name}: not delivered, {capture.problem_en or capture.problem} — "
                                     f"failure of {capture.blocker}", rule="MSS.SEND.missing", artefact=capture.name,
                                     requirements=("DUI.MSS.01",)))
                continue
            segur.record(error(f"{capture.name} : {capture.problem}", f"{capture.name}: {capture.problem_en or capture.problem}",
                               rule="MSS.SEND", artefact=capture.name, requirements=("DUI.MSS.01",),
                               expected="message remis à l'opérateur", found=capture.problem[:200]))
    checked = 0
    for conn in conns:
        if conn["plaintext_commands"] or conn["id"] in delivered or (conn["starttls"] and mail_attempted(conn)):
            segur.record(_only(mc.check_transport(conn, f"smtp/connexion-{conn['id']}"), "DUI.MSS.01"))
            checked += 1
    if not checked:
        if others:
            raise NotEvaluated(*_not_sent(others))
        raise NotEvaluated("aucune connexion n'a remis de message ni émis de commande : TLS non vérifiable",
                           "no connection delivered a message or sent a command: TLS cannot be checked")


@mr.marker("tls_version")
def test_tls_version(segur: Recorder, candidate: Candidate, mss_messages: list[MssCapture], mss_simulator: MssSimulator) -> None:
    _transport(segur, candidate, mss_messages, mss_simulator, mr.requirements("tls_version")[0], mc.check_transport,
               "MSS.TLS.VERSION")


@mr.marker("ciphers")
def test_cipher_suites(segur: Recorder, candidate: Candidate, mss_messages: list[MssCapture], mss_simulator: MssSimulator) -> None:
    _transport(segur, candidate, mss_messages, mss_simulator, mr.requirements("ciphers")[0], mc.check_transport,
               "MSS.TLS.CIPHER")


@mr.marker("client_certificate")
def test_applicative_mailbox_client_certificate(segur: Recorder, candidate: Candidate, mss_messages: list[MssCapture],
                                                mss_simulator: MssSimulator) -> None:
    _transport(segur, candidate, mss_messages, mss_simulator, mr.requirements("client_certificate")[0],
               mc.check_client_certificate,
               "MSS.AUTH.CLIENT_CERT")


@pytest.mark.requirement("SC.MSS/CONF.06")
def test_imap_starttls(segur: Recorder, request: pytest.FixtureRequest, candidate: Candidate, mss_simulator: MssSimulator,
                       mss_messages: list[MssCapture]) -> None:
    """STARTTLS comes before any IMAP authentication (AUTHENTICATE or LOGIN) on the candidate's mailbox.

    When the check looks: after this test has put a notification in the candidate's mailbox itself (a send
    answered by a success MDN) and waited, bounded, for the candidate to reconcile it (``mdn_wait_s`` plus a
    margin, GET /documents/{id} until ``mss.mdn`` is set). A candidate that fetches its notifications has
    logged in by then, whatever the order of the tests.
    What counts: every IMAP session the simulator saw from the start of the run to the end of that wait
    (an earlier session, opened for another test, counts too: authenticating in clear once is the failure);
    a session that authenticated after STARTTLS is a point that held; a session that never authenticated
    proves nothing. No IMAP session at all by then: the candidate does not fetch its operator mailbox
    (``imap_port`` is optional in contract v1), or later than the time it was given — not run, manual proof
    SC.MSS/CONF.06.01.02."""
    client = _sandbox(candidate)
    if mss_simulator.imap is None:
        skip("simulateur sans serveur IMAP", "simulator without an IMAP server")
    doc_id, _ = _doc_for(request, candidate, client)
    with mss_simulator.use(notify="success"):
        outcome = client.send_mss(doc_id, recipients=[MSS_PRO_RECIPIENT], to_patient=False, read_receipt=True,
                                  no_reply=False)
        if outcome.get("status") in ("sent", "queued"):
            mss_wait_for_document(client, doc_id, lambda d: bool((d.get("mss") or {}).get("mdn")),
                                  timeout=MSS_MDN_WAIT_S + 3.0)
    sessions = list(mss_simulator.imap.sessions)
    if sessions:
        segur.evidence("sessions-imap.json", json.dumps([s.to_json() for s in sessions], ensure_ascii=False,
                                                        indent=1), kind="Log",
                       description="sessions IMAP vues par le simulateur jusqu'à la fin de l'attente de ce test")
    authenticated = 0
    for session in sessions:
        cmds = session.commands
        auth_at = next((i for i, c in enumerate(cmds) if c in ("AUTHENTICATE", "LOGIN")), None)
        tls_at = next((i for i, c in enumerate(cmds) if c == "STARTTLS"), None)
        if auth_at is None:
            continue
        authenticated += 1
        where = {"artefact": f"imap/session-{session.id}", "requirements": ("SC.MSS/CONF.06",)}
        if tls_at is None or tls_at > auth_at:
            segur.record(error(f"authentification IMAP ({cmds[auth_at]}) avant STARTTLS",
                               f"IMAP authentication ({cmds[auth_at]}) before STARTTLS", rule="MSS.IMAP.STARTTLS",
                               expected="STARTTLS puis AUTHENTICATE", found=" ".join(cmds[:8]), **where))
        elif session.starttls:
            segur.record(info(f"session IMAP : STARTTLS ({session.tls_version}) puis {cmds[auth_at]}",
                              f"IMAP session: STARTTLS ({session.tls_version}) then {cmds[auth_at]}",
                              rule="MSS.IMAP.STARTTLS", **where))
    if authenticated:
        return
    if outcome.get("status") not in ("sent", "queued"):
        raise NotEvaluated(f"prérequis en échec : envoi du message (DUI.MSS.01) ; aucune session IMAP authentifiée "
                           f"({json.dumps(outcome, ensure_ascii=False)[:160]})",
                           "failed prerequisite: sending the message (DUI.MSS.01); no authenticated IMAP session")
    if sessions:
        raise NotEvaluated(f"{len(sessions)} session(s) IMAP ouverte(s) sans authentification : ordre STARTTLS / "
                           "authentification non observable",
                           f"{len(sessions)} IMAP session(s) opened without authenticating: the STARTTLS / "
                           "authentication order cannot be observed")
    skip(f"aucune session IMAP vue par le simulateur à la fin de l'attente d'un accusé "
         f"({MSS_MDN_WAIT_S + 3.0:.0f} s) : le candidat ne relève pas sa BAL (imap_port) ; preuve manuelle "
         "SC.MSS/CONF.06.01.02 attendue",
         f"no IMAP session seen by the simulator by the end of the wait for a receipt "
         f"({MSS_MDN_WAIT_S + 3.0:.0f} s): the candidate does not poll its mailbox (imap_port); manual proof "
         "SC.MSS/CONF.06.01.02 expected")


# ---------------------------------------------------------------------------------------------
# server certificates (DUI.MSS.04 / .05 / .06)
# ---------------------------------------------------------------------------------------------
@pytest.mark.requirement("DUI.MSS.04.01.01")
def test_igc_sante_server_certificate_accepted(segur: Recorder, candidate: Candidate, mss_messages: list[MssCapture],
                                              mss_simulator: MssSimulator) -> None:
    """The TLS sessions on the operator's valid IGC-Santé (test CA) certificate succeed and the message goes
    through. Read from the simulator's sessions on that certificate (the bad-certificate scenarios use others)."""
    _sandbox(candidate)
    conns = [c.to_json() for c in mss_simulator.connections if c.server_cert == "valid"]
    failed = [c for c in conns if c["tls_error"] and not c["starttls"]]
    established = [c for c in conns if c["starttls"]]
    delivered = [m for m in mss_simulator.messages if m.connection.server_cert == "valid" and m.accepted]
    where = {"artefact": "smtp", "requirements": ("DUI.MSS.04",)}
    if conns:
        segur.evidence("connexions-certificat-valide.json", json.dumps(conns, ensure_ascii=False, indent=1,
                                                                       default=str),
                       kind="Log", description="sessions SMTP sur le certificat IGC-Santé valide de l'opérateur")
    for conn in failed:
        segur.record(error("session TLS refusée sur le certificat IGC-Santé (AC de test) valide de l'opérateur",
                           "TLS handshake refused on the operator's valid IGC-Santé (test CA) certificate",
                           rule="MSS.TLS.SERVER_CERT", expected="session TLS établie", found=conn["tls_error"][:200],
                           **{**where, "artefact": f"smtp/connexion-{conn['id']}"}))
    if failed:
        return
    if delivered:
        segur.record(info(f"{len(established)} session(s) TLS établie(s) sur le certificat IGC-Santé de test, "
                          f"{len(delivered)} message(s) transmis", f"{len(established)} TLS session(s) established "
                          f"on the test IGC-Santé certificate, {len(delivered)} message(s) transmitted",
                          rule="MSS.TLS.SERVER_CERT", **where))
        return
    if not established:
        # the certificate was never presented: the failure belongs to STARTTLS (DUI.MSS.01 / SC.MSS/CONF.05)
        raise NotEvaluated(*_not_sent(mss_messages))
    blocker, why, why_en = send_blocker(established)
    if blocker:  # TLS held; the transaction was refused for another reason (client certificate)
        raise NotEvaluated(f"session TLS établie mais aucun message transmis — prérequis en échec : {why} ({blocker})",
                           f"TLS session established but no message transmitted — failed prerequisite: {why_en} "
                           f"({blocker})")
    segur.record(error("sessions TLS établies sur le certificat IGC-Santé valide, mais aucun message transmis",
                       "TLS sessions established on the valid IGC-Santé certificate, but no message transmitted",
                       rule="MSS.TLS.SERVER_CERT", expected="message transmis",
                       found="; ".join(" ".join(c["events"][-3:]) for c in established[:2])[:200] or "aucun",
                       **where))


def _bad_certificate(segur: Recorder, request: pytest.FixtureRequest, candidate: Candidate, sim: MssSimulator, variant: str,
                     requirement: str, what_fr: str, what_en: str) -> None:
    client = _sandbox(candidate)
    doc_id, _ = _doc_for(request, candidate, client)
    before_conn, before_msg = len(sim.connections), len(sim.messages)
    with sim.use(server_cert=variant):
        outcome = client.send_mss(doc_id, recipients=[MSS_PRO_RECIPIENT], to_patient=False, read_receipt=False,
                                  no_reply=False)
    _sim_log(segur, sim, f"simulateur-{variant}.json", before_conn)
    delivered = len(sim.messages) > before_msg
    tried = any(getattr(c, "server_cert", None) == variant for c in sim.connections[before_conn:])
    if not delivered and not tried:
        # a failure without even connecting is not a refusal of the certificate (a candidate that never
        # sends anything would otherwise pass every certificate scenario)
        raise NotEvaluated(f"le candidat ne s'est pas connecté à l'opérateur au certificat {what_fr} : "
                           f"refus non attribuable au certificat ({json.dumps(outcome, ensure_ascii=False)[:200]})",
                           f"the candidate never connected to the operator with the {what_en} certificate: "
                           "the failure cannot be attributed to the certificate")
    status = outcome.get("status")
    where = {"artefact": f"documents/{doc_id}/mss", "requirements": (requirement,)}
    if delivered:
        segur.record(error(f"message transmis malgré un certificat serveur {what_fr}",
                           f"message transmitted despite a {what_en} server certificate", rule="MSS.TLS.SERVER_CERT",
                           expected="connexion refusée", found="message reçu par l'opérateur", **where))
    segur.refused(status in ("failed", "refused") and bool(outcome.get("error")) and not delivered,
                  f"connexion à un opérateur au certificat {what_fr}", f"connection to an operator with a {what_en} "
                  "certificate", rule="MSS.TLS.SERVER_CERT.refusal", found=json.dumps(outcome, ensure_ascii=False)[:200],
                  **where)
    doc = client.get_document(doc_id)
    if (doc.get("mss") or {}).get("status") == "sent":
        segur.record(error("document marqué envoyé après un échec TLS", "document marked sent after a TLS failure",
                           rule="MSS.TLS.SERVER_CERT", expected="failed", found="sent", **where))


@pytest.mark.requirement("DUI.MSS.04.02.01")
def test_untrusted_server_certificate_refused(segur: Recorder, request: pytest.FixtureRequest, candidate: Candidate,
                                             mss_simulator: MssSimulator) -> None:
    _bad_certificate(segur, request, candidate, mss_simulator, "untrusted", "DUI.MSS.04",
                     "émis par une AC autre que l'IGC-Santé", "issued by a CA other than IGC-Santé")


@pytest.mark.requirement("DUI.MSS.05")
def test_expired_server_certificate_refused(segur: Recorder, request: pytest.FixtureRequest, candidate: Candidate,
                                           mss_simulator: MssSimulator) -> None:
    _bad_certificate(segur, request, candidate, mss_simulator, "expired", "DUI.MSS.05", "expiré", "expired")


@pytest.mark.requirement("DUI.MSS.06")
def test_revoked_server_certificate_refused(segur: Recorder, request: pytest.FixtureRequest, candidate: Candidate,
                                           mss_simulator: MssSimulator) -> None:
    _bad_certificate(segur, request, candidate, mss_simulator, "revoked", "DUI.MSS.06", "révoqué", "revoked")


# ---------------------------------------------------------------------------------------------
# operator refusals and notifications (M8, M9)
# ---------------------------------------------------------------------------------------------
@pytest.mark.requirement("SC.MSS/UX.30.01.01")
@pytest.mark.parametrize("code", REJECT_CODES)
def test_rejected_recipient_shown_and_message_kept(segur: Recorder, request: pytest.FixtureRequest, candidate: Candidate,
                                                   mss_simulator: MssSimulator, code: int) -> None:
    """M8: the operator refuses the recipient; the candidate shows the failure and its reason, keeps the message."""
    client = _sandbox(candidate)
    doc_id, _ = _doc_for(request, candidate, client)
    since = len(mss_simulator.connections)
    issued = mss_simulator.rejects_issued
    with mss_simulator.use(reject_code=code):
        outcome = client.send_mss(doc_id, recipients=[MSS_PRO_RECIPIENT], to_patient=False, read_receipt=False,
                                  no_reply=False)
    _sim_log(segur, mss_simulator, f"simulateur-refus-{code}.json", since)
    if mss_simulator.rejects_issued == issued:
        events = [e for c in mss_simulator.connections[since:] for e in c.events][-4:]
        raise NotEvaluated(
            f"scénario non joué : le candidat n'a pas atteint RCPT TO, l'opérateur n'a pas pu refuser le destinataire "
            f"par {code} (prérequis en échec : session SMTP, STARTTLS — DUI.MSS.01) ; fin de session : {events}",
            f"scenario not played: the candidate never reached RCPT TO, the operator could not refuse the recipient "
            f"with {code} (failed prerequisite: SMTP session, STARTTLS — DUI.MSS.01); end of session: {events}")
    _reported_failure(segur, client, doc_id, outcome, str(code))


@pytest.mark.requirement("SC.MSS/UX.30.02.01")
def test_dropped_connection_shown(segur: Recorder, request: pytest.FixtureRequest, candidate: Candidate,
                                  mss_simulator: MssSimulator) -> None:
    """The operator drops the connection after DATA without answering: never "sent"."""
    client = _sandbox(candidate)
    doc_id, _ = _doc_for(request, candidate, client)
    since = len(mss_simulator.connections)
    drops = mss_simulator.drops_issued
    with mss_simulator.use(close_connection=True):
        outcome = client.send_mss(doc_id, recipients=[MSS_PRO_RECIPIENT], to_patient=False, read_receipt=False,
                                  no_reply=False)
    _sim_log(segur, mss_simulator, "simulateur-coupure.json", since)
    if mss_simulator.drops_issued == drops:
        # the operator never got to DATA: the candidate's "failed" cannot be the handling of a dropped connection
        blocker, why, why_en = send_blocker([c.to_json() for c in mss_simulator.connections[since:]])
        raise NotEvaluated(
            "scénario non joué : le candidat n'a pas atteint DATA, l'opérateur n'a pas pu couper la connexion"
            + (f" (prérequis en échec : {why}, {blocker})" if blocker else ""),
            "scenario not played: the candidate never reached DATA, the operator could not drop the connection"
            + (f" (failed prerequisite: {why_en}, {blocker})" if blocker else ""))
    _reported_failure(segur, client, doc_id, outcome, "")


def _reported_failure(segur: Recorder, client: ContractClient, doc_id: str, outcome: dict[str, Any], code: str) -> None:
    where = {"artefact": f"documents/{doc_id}/mss", "requirements": ("SC.MSS/UX.30",)}
    doc = client.get_document(doc_id)
    mss = doc.get("mss") or {}
    segur.evidence(f"document-{doc_id}.json", json.dumps(doc, ensure_ascii=False, indent=1), kind="Log",
                   description="état du document vu par le contrat v1 après l'échec")
    failed = outcome.get("status") == "failed" and mss.get("status") == "failed"
    reason = str(mss.get("error") or outcome.get("error") or "")
    if not failed:
        segur.record(error("l'échec d'envoi n'est pas restitué (statut attendu : failed)", "the send failure is not "
                           "shown (status failed expected)", rule="MSS.UX.NON_DELIVERY", expected="failed",
                           found=f"{outcome.get('status')} / {mss.get('status')}", **where))
    if not reason or (code and code not in reason):
        segur.record(error("la raison de la non-remise n'est pas restituée", "the non-delivery reason is not shown",
                           rule="MSS.UX.NON_DELIVERY", expected=f"erreur mentionnant {code or 'la coupure'}",
                           found=reason[:200] or "aucune", **where))
    if not mss.get("message_id"):
        segur.record(error("le message n'est pas conservé (plus de Message-ID associé au document)",
                           "the message is not kept (no Message-ID left on the document)", rule="MSS.UX.KEEP",
                           expected="message_id", found="absent", **where))
    if failed and reason:
        segur.record(info(f"non-remise restituée : {reason[:120]}", f"non-delivery shown: {reason[:120]}",
                          rule="MSS.UX.NON_DELIVERY", **where))


@pytest.mark.parametrize("notify", [
    pytest.param("error", marks=pytest.mark.requirement("SC.MSS/UX.35.01.01")),
    pytest.param("success", marks=pytest.mark.requirement("SC.MSS/UX.35.02.01"))])
def test_mdn_linked_to_message(segur: Recorder, request: pytest.FixtureRequest, candidate: Candidate,
                               mss_simulator: MssSimulator, notify: str) -> None:
    """M9: the operator answers with an MDN (processed, or processed/Error: 902^…); the candidate links it
    to the original Message-ID and, for an error, shows it."""
    client = _sandbox(candidate)
    doc_id, _ = _doc_for(request, candidate, client)
    where = {"artefact": f"documents/{doc_id}/mss", "requirements": ("SC.MSS/UX.35",)}
    with mss_simulator.use(notify=notify, error_code="902"):
        outcome = client.send_mss(doc_id, recipients=[MSS_PRO_RECIPIENT], to_patient=False, read_receipt=True,
                                  no_reply=False)
        message_id = str(outcome.get("message_id") or "")
        if outcome.get("status") in ("sent", "queued"):
            mss_simulator.wait_for(lambda s: any(o.in_reply_to == message_id for o in s.outbox), timeout=3.0)
    sent_back = [o for o in mss_simulator.outbox if message_id and o.in_reply_to == message_id]
    received = mss_simulator.find(message_id) if message_id else []
    if received and not inspect(received[-1].raw, f"mss/mdn-{doc_id}.eml").msg.header("Disposition-Notification-To"):
        # the scenario answers a read-receipt request the candidate did not make: its failure is SC.MSS/UX.33's
        raise NotEvaluated("prérequis en échec : le message ne demande pas d'accusé (Disposition-Notification-To "
                           "absent, SC.MSS/UX.33) ; rapprochement de l'accusé non vérifiable",
                           "failed prerequisite: the message asks for no receipt (no Disposition-Notification-To, "
                           "SC.MSS/UX.33); the notification matching cannot be checked")
    if not sent_back:
        raise NotEvaluated("le simulateur n'a pas émis d'accusé (message non reçu ou sans demande d'accusé)",
                           "the simulator sent no notification (message not received or no receipt asked)")
    segur.evidence(f"mdn-{doc_id}.eml", sent_back[0].raw, kind="Source SMTP", description="MDN émis par l'opérateur")
    doc = mss_wait_for_document(client, doc_id, lambda d: bool((d.get("mss") or {}).get("mdn")))
    segur.evidence(f"document-{doc_id}.json", json.dumps(doc, ensure_ascii=False, indent=1), kind="Log",
                   description="état du document après l'accusé")
    mss = doc.get("mss") or {}
    mdn = mss.get("mdn") or {}
    linked = str(mdn.get("original_message_id") or mdn.get("message_id_original") or "")
    if not mdn:
        segur.record(error("accusé non rapproché du message (mss.mdn vide)", "notification not reconciled with the "
                           "message (mss.mdn empty)", rule="MSS.MDN.LINK", expected=message_id, found="aucun", **where))
        return
    if linked and linked != message_id:
        segur.record(error("accusé rattaché à un autre message", "notification linked to another message",
                           rule="MSS.MDN.LINK", expected=message_id, found=linked, **where))
    expected = parse_notification(sent_back[0].raw)
    if notify == "error":
        shown = str(mss.get("error") or "")
        if "902" not in shown and "902" not in json.dumps(mdn):
            segur.record(error("erreur d'intégration 902 non restituée", "integration error 902 not shown",
                               rule="MSS.MDN.ERROR", expected="902^Patient inconnu", found=shown[:200] or "aucune",
                               **where))
        if mss.get("status") == "sent" and not shown:
            segur.record(error("document toujours « envoyé » sans erreur après un MDN d'erreur", "document still "
                               "'sent' with no error after an error MDN", rule="MSS.MDN.ERROR", expected="erreur 902",
                               found="sent", **where))
    elif mss.get("error"):
        segur.record(error("erreur affichée après un MDN de succès", "error shown after a success MDN",
                           rule="MSS.MDN.LINK", expected="aucune erreur", found=str(mss.get("error"))[:200], **where))
    if not segur.errors:
        segur.record(info(f"accusé {expected.disposition if expected else notify} rattaché à {message_id}",
                          f"notification linked to {message_id}", rule="MSS.MDN.LINK", **where))


# ---------------------------------------------------------------------------------------------
# patient sends (M10)
# ---------------------------------------------------------------------------------------------
def _patient_messages(sim: MssSimulator, since: int) -> list[str]:
    return [r for m in sim.messages[since:] for r in m.rcpt_tos if r.lower().endswith("@patient.mssante.fr")]


@pytest.mark.requirement("DUI.MSS.11.02.01")
@pytest.mark.parametrize("status", ["PROV", "RECUP"])
def test_no_patient_send_without_qualified_ins(segur: Recorder, request: pytest.FixtureRequest, candidate: Candidate,
                                               mss_simulator: MssSimulator, status: str) -> None:
    """M10: a resident without a qualified INS (PROV: no INS; RECUP: INS not qualified) gets no patient send."""
    from conformance.ins.insi import fixtures as fx

    client = _sandbox(candidate)
    request.getfixturevalue("insi_simulator")
    types = mss_document_types(candidate, [])
    if not types:
        skip("le candidat ne déclare aucun type de document", "the candidate declares no document type")
    body = fx.identity("corse_2b" if status == "RECUP" else "ne_etranger").resident_body()
    created = client.create_resident(body)
    if status == "RECUP":
        client.qualify(str(created["id"]))
    resident = client.get_resident(str(created["id"]))
    if resident.get("status") == "QUAL":
        raise NotEvaluated("le résident de test a été qualifié : scénario sans objet",
                           "the test resident was qualified: scenario not applicable")
    doc = client.create_document(str(created["id"]), types[0])
    since = len(mss_simulator.messages)
    outcome = client.send_mss(str(doc["id"]), recipients=[], to_patient=True, read_receipt=False, no_reply=True)
    sent = _patient_messages(mss_simulator, since)
    where = {"artefact": f"documents/{doc['id']}/mss", "requirements": ("DUI.MSS.11",)}
    if sent:
        segur.record(error(f"message envoyé au patient d'une identité {resident.get('status')}", "message sent to the "
                           f"patient of a {resident.get('status')} identity", rule="MSS.PATIENT.QUALIFIED",
                           expected="aucun envoi", found=", ".join(sent), **where))
    segur.refused(outcome.get("status") == "refused" and not sent,
                  f"envoi au patient d'une identité {resident.get('status')}",
                  f"patient send for a {resident.get('status')} identity", rule="MSS.PATIENT.QUALIFIED.refusal",
                  found=json.dumps(outcome, ensure_ascii=False)[:200], **where)


@mr.marker("invisible")
def test_invisible_document_never_sent_to_patient(segur: Recorder, request: pytest.FixtureRequest, candidate: Candidate,
                                                   mss_simulator: MssSimulator) -> None:
    client = _sandbox(candidate)
    doc_id, _ = _doc_for(request, candidate, client)
    since = len(mss_simulator.messages)
    options = {"recipients": [], "to_patient": True, "read_receipt": False, "no_reply": False,
               "invisible_to_patient": True}
    outcome = client.send_mss(doc_id, **options)
    where = {"artefact": f"documents/{doc_id}/mss", "requirements": mr.requirements("invisible")}
    for msg in mss_simulator.messages[since:]:
        segur.evidence(f"mss-invisible-{doc_id}.eml", msg.raw, kind="Source SMTP")
        segur.record(mc.check_invisible_to_patient(inspect(msg.raw, f"mss/invisible-{doc_id}.eml",
                                                           MessageContext(options=options))))
    segur.refused(outcome.get("status") == "refused" and not _patient_messages(mss_simulator, since),
                  "envoi au patient d'un document invisible au patient",
                  "patient send of a document flagged invisible to the patient", rule="MSS.PATIENT.INVISIBLE.refusal",
                  found=json.dumps(outcome, ensure_ascii=False)[:200], **where)


# ---------------------------------------------------------------------------------------------
# "annule et remplace" (DUI.MSS.20)
# ---------------------------------------------------------------------------------------------
@mr.marker("replacement")
def test_replacement_is_annule_et_remplace(segur: Recorder, request: pytest.FixtureRequest, candidate: Candidate,
                                          mss_simulator: MssSimulator) -> None:
    from conformance.safexml import XmlRejected, parse_bytes

    client = _sandbox(candidate)
    resident = request.getfixturevalue("qualified_resident")
    types = mss_document_types(candidate, [])
    if not types:
        skip("le candidat ne déclare aucun type de document", "the candidate declares no document type")
    first = client.create_document(str(resident["id"]), types[0])
    try:
        second = client.create_document(str(resident["id"]), types[0], {"replaces": str(first["id"])})
        root = parse_bytes(decode_cda(first)).getroot()
    except (SandboxError, XmlRejected) as exc:
        raise NotEvaluated(f"document de remplacement impossible à obtenir : {exc}",
                           f"could not get a replacement document: {exc}") from None
    hl7 = "{urn:hl7-org:v3}"

    def ii(el: Any) -> str:
        if el is None:
            return ""
        return f"{el.get('root')}^{el.get('extension')}" if el.get("extension") else str(el.get("root") or "")

    version = root.find(f"{hl7}versionNumber")
    replaces = {"id": ii(root.find(f"{hl7}id")), "set_id": ii(root.find(f"{hl7}setId")),
                "version": version.get("value", "") if version is not None else ""}
    capture = mss_send_and_capture(client, mss_simulator, str(second["id"]),
                                   {"recipients": [MSS_PRO_RECIPIENT], "to_patient": False, "read_receipt": False,
                                    "no_reply": False}, kind="pro", resident=resident, replaces=replaces)
    _evidence(segur, capture)
    if _problem(segur, capture, mr.requirements("replacement")):
        raise NotEvaluated(*_not_sent([capture]))
    segur.record(mc.check_replacement(inspect(capture.raw, capture.name, capture.ctx)))


def _need_send_context(captures: list[MssCapture], what: str, what_en: str) -> None:
    """Checks that depend on why a message was sent cannot pass on a bare ``.eml``: not run, never passed."""
    if all(c.ctx.options is None for c in captures):
        skip(f"mode artefacts : le fichier .eml ne dit pas {what}", f"artefact mode: the .eml file does not say {what_en}")

