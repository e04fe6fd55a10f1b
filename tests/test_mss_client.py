"""The reference DUI's MSSanté client against the real simulator: compliant behaviour, then each of its
defect switches, each caught by the check that the suite runs for it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from segur_reference_dui import mss_client
from test_mss_helpers import PRO, SENDER, Resident, document, options

from conformance.findings import Finding, Severity
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
              "invisible_sent_to_patient", "no_reply_to", "no_read_receipt_header", "latin1_body"}
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
