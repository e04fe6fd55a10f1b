"""The reference DUI's MSSanté client against the real simulator: compliant behaviour, then each of its
defect switches, each caught by the check that the suite runs for it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from segur_reference_dui import mss_client
from test_mss_helpers import MATRICULE, PRO, SENDER, Resident, document, options

from conformance.findings import Finding, Severity
from conformance.ins.matricule import OID_INS_NIR_TEST, make_matricule
from conformance.mss import checks as mc
from conformance.mss.checks import MessageContext, inspect
from conformance.mss.simulator import MssSimulator


@pytest.fixture(scope="module")
def sim() -> Iterator[MssSimulator]:
    with MssSimulator() as running:
        yield running


@pytest.fixture(autouse=True)
def _reset(sim: MssSimulator) -> None:
    sim.set_scenario()


def endpoint(sim: MssSimulator, *, imap: bool = False, variant: str = "valid") -> dict[str, Any]:
    ep = sim.endpoint(SENDER, variant=variant)
    if imap:
        ep["mdn_wait_s"] = 3.0
    else:
        ep.pop("imap_port")
    return ep


def send(sim: MssSimulator, defects: set[str] | frozenset[str] = frozenset(), resident: Resident | None = None,
         ep: dict[str, Any] | None = None, **opts: Any) -> tuple[dict[str, Any], Any, int]:
    resident = resident or Resident()
    doc = document(resident)
    before = len(sim.messages)
    outcome = mss_client.send(doc, resident, ep or endpoint(sim), set(defects), options(**opts))
    return outcome, doc, before


def errors(findings: list[Finding]) -> list[str]:
    return [f.rule for f in findings if f.severity is Severity.ERROR]


def checked(sim: MssSimulator, before: int, check: Any, **ctx: Any) -> list[str]:
    assert len(sim.messages) > before, "nothing reached the simulator"
    msg = sim.messages[-1]
    return errors(check(inspect(msg.raw, "m.eml", MessageContext(envelope=msg.envelope_json(), **ctx))))


# -- compliant behaviour ----------------------------------------------------------------------------
def test_compliant_send(sim: MssSimulator) -> None:
    outcome, doc, before = send(sim, read_receipt=True)
    assert outcome["status"] == "sent" and outcome["error"] is None
    assert doc.mss_status == "sent" and doc.mss_message_id == outcome["message_id"]
    msg = sim.messages[before]
    assert msg.message_id == outcome["message_id"]
    ctx = MessageContext(options=options(read_receipt=True), resident=Resident().to_json(), sender=SENDER,
                         applicative=True, envelope=msg.envelope_json())
    assert errors(mc.check_message(msg.raw, "m.eml", ctx)) == []
    assert errors(mc.check_transport(msg.connection.to_json())) == []
    assert errors(mc.check_client_certificate(msg.connection.to_json())) == []


def test_patient_send_of_a_qualified_resident(sim: MssSimulator) -> None:
    resident = Resident()
    outcome, _, before = send(sim, resident=resident, recipients=[], to_patient=True, no_reply=True)
    assert outcome["status"] == "sent"
    assert sim.messages[before].rcpt_tos == [f"{resident.ins['matricule']}@patient.mssante.fr"]  # type: ignore[index]
    ctx = {"options": options(recipients=[], to_patient=True, no_reply=True), "resident": resident.to_json()}
    assert checked(sim, before, mc.check_patient_address, **ctx) == []
    assert checked(sim, before, mc.check_x_mss_mes, **ctx) == []


@pytest.mark.parametrize("status, ins", [("PROV", None), ("RECUP", "keep")])
def test_no_patient_send_without_qualified_ins(sim: MssSimulator, status: str, ins: str | None) -> None:
    resident = Resident(status=status) if ins else Resident(status=status, ins=None)
    outcome, doc, before = send(sim, resident=resident, recipients=[], to_patient=True)
    assert outcome["status"] == "refused" and "qualifi" in outcome["error"]
    assert len(sim.messages) == before and doc.mss_status == "refused"


def test_invisible_document_refused_for_the_patient(sim: MssSimulator) -> None:
    outcome, _, before = send(sim, to_patient=True, invisible_to_patient=True)
    assert outcome["status"] == "refused" and len(sim.messages) == before


def test_no_recipient_is_refused(sim: MssSimulator) -> None:
    assert send(sim, recipients=[])[0]["status"] == "refused"
    assert send(sim, recipients="dr@x.mssante.fr")[0]["status"] == "refused"
    assert send(sim, recipients=["pas une adresse"])[0]["status"] == "refused"


def test_unreadable_document_fails_cleanly(sim: MssSimulator) -> None:
    doc = document()
    doc.cda = b"<ClinicalDocument"
    outcome = mss_client.send(doc, Resident(), endpoint(sim), set(), options())
    assert outcome["status"] == "failed" and "illisible" in outcome["error"]


@pytest.mark.parametrize("code", [550, 552, 554])
def test_rejected_recipient_fails_and_keeps_the_message(sim: MssSimulator, code: int) -> None:
    with sim.use(reject_code=code):
        outcome, doc, _ = send(sim)
    assert outcome["status"] == "failed" and str(code) in outcome["error"]
    assert doc.mss_message_id == outcome["message_id"] and doc.mss_raw


def test_dropped_connection_fails(sim: MssSimulator) -> None:
    with sim.use(close_connection=True):
        outcome, doc, _ = send(sim)
    assert outcome["status"] == "failed" and doc.mss_status == "failed"


@pytest.mark.parametrize("variant", ["expired", "revoked", "untrusted", "wrong_host"])
def test_bad_server_certificates_fail_cleanly(sim: MssSimulator, variant: str) -> None:
    with sim.use(server_cert=variant):
        outcome, _, before = send(sim)
    assert outcome["status"] == "failed" and "certificat" in outcome["error"]
    assert len(sim.messages) == before


def test_revocation_found_through_the_crl_distribution_point(sim: MssSimulator) -> None:
    ep = endpoint(sim)
    ep["ca_pem"] = sim.pki.trust_bundle(with_crl=False)  # no CRL given: the client fetches the CDP
    with sim.use(server_cert="revoked"):
        outcome, _, _ = send(sim, ep=ep)
    assert outcome["status"] == "failed" and "révoqué" in outcome["error"]


def _wait_mdn(doc: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while doc.mdn is None and time.monotonic() < deadline:
        time.sleep(0.05)


def test_error_mdn_is_linked_and_shown(sim: MssSimulator) -> None:
    with sim.use(notify="error", error_code="902"):
        outcome, doc, _ = send(sim, ep=endpoint(sim, imap=True), read_receipt=True)
        _wait_mdn(doc)
    assert doc.mdn and doc.mdn["original_message_id"] == outcome["message_id"]
    assert doc.mss_status == "failed" and "902" in doc.mss_error


def test_reply_carries_in_reply_to_and_references(sim: MssSimulator) -> None:
    original = "<demande-1@test-ci-sis.mssante.fr>"
    outcome, _, before = send(sim, in_reply_to=original)
    assert outcome["status"] == "sent" and outcome["message_id"] != original
    assert checked(sim, before, mc.check_reply_headers, options=options(in_reply_to=original)) == []
    assert send(sim, in_reply_to="pas-un-message-id")[0]["status"] == "refused"


def test_success_mdn_is_linked(sim: MssSimulator) -> None:
    with sim.use(notify="success"):
        outcome, doc, _ = send(sim, ep=endpoint(sim, imap=True), read_receipt=True)
        _wait_mdn(doc)
    assert doc.mdn and doc.mdn["original_message_id"] == outcome["message_id"]
    assert doc.mss_status == "sent" and doc.mss_error is None


# -- each defect switch is caught -----------------------------------------------------------------------
def test_every_defect_is_tested_here() -> None:
    tested = {"missing_x_mss_header", "wrong_codecda", "xdm_without_readme", "xdm_hash_mismatch",
              "patient_address_unqualified", "no_tls", "accepts_any_server_cert", "ignores_mdn_error",
              "invisible_sent_to_patient", "no_reply_to", "no_read_receipt_header", "latin1_body",
              "distrusts_igc_sante", "message_id_without_domain", "reply_without_references",
              "patient_address_without_key", "from_without_display_name", "tls_below_1_2",
              "imap_login_before_starttls", "no_client_certificate", "x_mss_mes_lowercase", "rejection_reason_hidden",
              "sent_despite_dropped_connection", "mdn_success_as_error"}
    assert set(mss_client.DEFECTS) == tested


@pytest.mark.parametrize("defect, check, rule", [
    ("missing_x_mss_header", mc.check_x_mss_nil, "MSS.HDR.NIL"),
    ("wrong_codecda", mc.check_codecda, "MSS.HDR.CODECDA"),
    ("xdm_without_readme", mc.check_xdm, "MSS.XDM.LAYOUT"),
    ("xdm_hash_mismatch", mc.check_xdm, "MSS.XDM.HASH"),
    ("latin1_body", mc.check_charsets, "MSS.CHARSET.BODY"),
])
def test_message_defects_are_caught(sim: MssSimulator, defect: str, check: Any, rule: str) -> None:
    outcome, _, before = send(sim, {defect})
    assert outcome["status"] == "sent"
    assert checked(sim, before, mc.check_message_id) == []  # the rest of the message is fine
    assert rule in checked(sim, before, check)


def test_no_reply_to_defect(sim: MssSimulator) -> None:
    _, _, before = send(sim, {"no_reply_to"})
    assert set(checked(sim, before, mc.check_applicative, applicative=True)) == {"MSS.APP.REPLY_TO",
                                                                                  "MSS.APP.MENTION"}


def test_no_read_receipt_header_defect(sim: MssSimulator) -> None:
    _, _, before = send(sim, {"no_read_receipt_header"}, read_receipt=True)
    assert checked(sim, before, mc.check_read_receipt, options=options(read_receipt=True)) == ["MSS.HDR.DNT"]


def test_patient_address_unqualified_defect(sim: MssSimulator) -> None:
    resident = Resident(status="RECUP")
    outcome, _, before = send(sim, {"patient_address_unqualified"}, resident=resident, recipients=[], to_patient=True)
    assert outcome["status"] == "sent"  # the compliant client refuses (test above)
    assert "MSS.PATIENT.QUALIFIED" in checked(sim, before, mc.check_patient_address,
                                              options=options(recipients=[], to_patient=True),
                                              resident=resident.to_json())


def test_invisible_sent_to_patient_defect(sim: MssSimulator) -> None:
    opts = {"to_patient": True, "invisible_to_patient": True}
    outcome, _, before = send(sim, {"invisible_sent_to_patient"}, **opts)
    assert outcome["status"] == "sent"
    assert checked(sim, before, mc.check_invisible_to_patient, options=options(**opts)) == ["MSS.PATIENT.INVISIBLE"]


def test_no_tls_defect(sim: MssSimulator) -> None:
    outcome, _, before = send(sim, {"no_tls"})
    assert outcome["status"] == "failed" and len(sim.messages) == before
    assert "MSS.TLS.REQUIRED" in errors(mc.check_transport(sim.connections[-1].to_json()))


def test_accepts_any_server_cert_defect(sim: MssSimulator) -> None:
    with sim.use(server_cert="expired"):
        outcome, _, before = send(sim, {"accepts_any_server_cert"})
    assert outcome["status"] == "sent" and len(sim.messages) == before + 1  # what DUI.MSS.05 flags


def test_ignores_mdn_error_defect(sim: MssSimulator) -> None:
    with sim.use(notify="error"):
        _, doc, _ = send(sim, {"ignores_mdn_error"}, ep=endpoint(sim, imap=True), read_receipt=True)
        _wait_mdn(doc)
    assert doc.mdn and doc.mss_status == "sent" and doc.mss_error is None  # what SC.MSS/UX.35 flags
    assert PRO


# -- the defects added for the self-proof gate (issue 11 item 6): each one caught by its own check ---------
def test_message_id_without_domain_defect(sim: MssSimulator) -> None:
    outcome, _, before = send(sim, {"message_id_without_domain"})
    assert outcome["status"] == "sent" and "@" not in outcome["message_id"]
    assert checked(sim, before, mc.check_message_id) == ["MSS.HDR.MESSAGE_ID"]
    assert checked(sim, before, mc.check_from) == []


def test_reply_without_references_defect(sim: MssSimulator) -> None:
    original = "<demande-2@test-ci-sis.mssante.fr>"
    _, _, before = send(sim, {"reply_without_references"}, in_reply_to=original)
    assert checked(sim, before, mc.check_reply_headers, options=options(in_reply_to=original)) == ["MSS.HDR.REPLY"]
    assert checked(sim, before, mc.check_message_id) == []


def test_reply_check_wants_the_original_message_id(sim: MssSimulator) -> None:
    """In-Reply-To naming another message than the one answered is caught (the harness knows the original)."""
    _, _, before = send(sim, in_reply_to="<autre@test-ci-sis.mssante.fr>")
    found = checked(sim, before, mc.check_reply_headers, options=options(in_reply_to="<demande-3@x.mssante.fr>"))
    assert found == ["MSS.HDR.REPLY", "MSS.HDR.REPLY"]  # In-Reply-To and References both miss it


def test_patient_address_without_key_defect(sim: MssSimulator) -> None:
    resident = Resident()
    outcome, _, before = send(sim, {"patient_address_without_key"}, resident=resident, recipients=[],
                              to_patient=True, no_reply=True)
    assert outcome["status"] == "sent"
    assert sim.messages[before].rcpt_tos == [f"{MATRICULE[:13]}@patient.mssante.fr"]
    found = mc.check_patient_address(inspect(sim.messages[before].raw, "m.eml", MessageContext(
        options=options(recipients=[], to_patient=True, no_reply=True), resident=resident.to_json(),
        envelope=sim.messages[before].envelope_json())))
    bad = [f for f in found if f.severity is Severity.ERROR]
    assert [f.rule for f in bad] == ["MSS.PATIENT.ADDRESS"] and bad[0].requirements == ("DUI.MSS.11", "SC.MSS/UX.32")


def test_document_ins_mismatch_is_dui_mss_11_only() -> None:
    """The attached document's INS is DUI.MSS.11.01.01's verification point, not SC.MSS/UX.32's."""
    from test_mss_helpers import cda
    from test_mss_helpers import endpoint as dummy_endpoint

    other = Resident(ins={"matricule": make_matricule("1550299123456"), "oid": OID_INS_NIR_TEST})
    address = f"{MATRICULE}@patient.mssante.fr"
    raw, _ = mss_client.build_message(cda(other), Resident(), dummy_endpoint(), frozenset(),
                                      options(recipients=[address]), [address])
    found = mc.check_patient_address(inspect(raw, "m.eml", MessageContext(resident=Resident().to_json())))
    bad = [f for f in found if f.severity is Severity.ERROR]
    assert [(f.rule, f.requirements) for f in bad] == [("MSS.PATIENT.DOCUMENT_INS", ("DUI.MSS.11",))]


def test_from_without_display_name_defect(sim: MssSimulator) -> None:
    _, _, before = send(sim, {"from_without_display_name"})
    assert checked(sim, before, mc.check_from) == ["MSS.HDR.FROM"]


def test_tls_below_1_2_defect(sim: MssSimulator) -> None:
    outcome, _, before = send(sim, {"tls_below_1_2"})
    assert outcome["status"] == "sent"  # the simulator observes the version instead of refusing it
    conn = sim.messages[before].connection.to_json()
    assert conn["tls_version"] in ("TLSv1", "TLSv1.1")
    bad = [f for f in mc.check_transport(conn) if f.severity is Severity.ERROR]
    assert [f.rule for f in bad] == ["MSS.TLS.VERSION"]
    assert set(bad[0].requirements) == {"SC.MSS/CONF.01", "DUI.MSS.01"}


def test_x_mss_mes_lowercase_defect(sim: MssSimulator) -> None:
    resident = Resident()
    _, _, before = send(sim, {"x_mss_mes_lowercase"}, resident=resident, recipients=[], to_patient=True,
                        no_reply=True)
    assert checked(sim, before, mc.check_x_mss_mes, options=options(recipients=[], to_patient=True, no_reply=True),
                   resident=resident.to_json()) == ["MSS.HDR.MES"]


def test_no_client_certificate_defect(sim: MssSimulator) -> None:
    from conformance.suites._fixtures_mss import send_blocker

    outcome, _, before = send(sim, {"no_client_certificate"})
    assert outcome["status"] == "failed" and len(sim.messages) == before
    conn = sim.connections[-1].to_json()
    assert conn["starttls"] and conn["client_cert_status"] == "absent"
    assert errors(mc.check_client_certificate(conn)) == ["MSS.AUTH.CLIENT_CERT"]
    assert send_blocker([conn])[0] == "SC.MSS/CONF.12.01.01"


def test_distrusts_igc_sante_defect(sim: MssSimulator) -> None:
    from conformance.suites._fixtures_mss import send_blocker

    since = len(sim.connections)
    outcome, _, before = send(sim, {"distrusts_igc_sante"})
    assert outcome["status"] == "failed" and len(sim.messages) == before
    assert sim.wait_for(lambda s: any(c.tls_error for c in s.connections[since:]), timeout=5.0)
    assert send_blocker([c.to_json() for c in sim.connections[since:]])[0] == "DUI.MSS.04.01.01"


def test_rejection_reason_hidden_defect(sim: MssSimulator) -> None:
    with sim.use(reject_code=550):
        outcome, doc, _ = send(sim, {"rejection_reason_hidden"})
    assert outcome["status"] == "failed" and "550" not in outcome["error"]
    assert doc.mss_message_id == outcome["message_id"]  # only the reason is missing


def test_sent_despite_dropped_connection_defect(sim: MssSimulator) -> None:
    with sim.use(close_connection=True):
        outcome, doc, _ = send(sim, {"sent_despite_dropped_connection"})
    assert outcome["status"] == "sent" and doc.mss_status == "sent"


def test_mdn_success_as_error_defect(sim: MssSimulator) -> None:
    with sim.use(notify="success"):
        _, doc, _ = send(sim, {"mdn_success_as_error"}, ep=endpoint(sim, imap=True), read_receipt=True)
        _wait_mdn(doc)
    assert doc.mdn and doc.mss_error  # what SC.MSS/UX.35.02 flags


def test_imap_login_before_starttls_defect(sim: MssSimulator) -> None:
    assert sim.imap is not None
    since = len(sim.imap.sessions)
    with sim.use(notify="success"):
        _, doc, _ = send(sim, {"imap_login_before_starttls"}, ep=endpoint(sim, imap=True), read_receipt=True)
        _wait_mdn(doc)
    assert doc.mdn  # the notification is still fetched (after STARTTLS)
    commands = sim.imap.sessions[since].commands
    assert commands.index("LOGIN") < commands.index("STARTTLS")
