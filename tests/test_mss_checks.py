"""Each MSSanté message check: a compliant message passes, a deliberately broken one fails with its rule."""

from __future__ import annotations

import re
from typing import Any

import pytest
from test_mss_helpers import MATRICULE, PRO, SENDER, Resident, cda, message, options

from conformance.findings import Finding, Severity
from conformance.mss import checks as mc
from conformance.mss.checks import MessageContext, inspect
from conformance.mss.xdm import compare_entries_with_cda

GOOD = MessageContext(options=options(read_receipt=True), resident=Resident().to_json(), sender=SENDER,
                      applicative=True)


def errors(findings: list[Finding]) -> list[str]:
    return [f.rule for f in findings if f.severity is Severity.ERROR]


def warnings(findings: list[Finding]) -> list[str]:
    return [f.rule for f in findings if f.severity is Severity.WARNING]


def edit(raw: bytes, header: str, value: str | None) -> bytes:
    """Replace (or drop, with None) one header of a message."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    lines = re.split(rb"\r\n(?![ \t])", head)
    kept = [ln for ln in lines if not ln.lower().startswith(header.lower().encode() + b":")]
    if value is not None:
        kept.append(f"{header}: {value}".encode())
    return b"\r\n".join(kept) + sep + body


@pytest.fixture(scope="module")
def good() -> bytes:
    return message(read_receipt=True)


@pytest.fixture(scope="module")
def patient_good() -> bytes:
    return message(to_patient=True, no_reply=True, recipients=[])


PATIENT_CTX = MessageContext(options=options(to_patient=True, no_reply=True, recipients=[]),
                             resident=Resident().to_json(), sender=SENDER, applicative=True)


@pytest.mark.parametrize("check", list(mc.MESSAGE_CHECKS.values()), ids=list(mc.MESSAGE_CHECKS))
def test_every_check_passes_on_the_reference_message(good: bytes, check: Any) -> None:
    assert errors(check(inspect(good, "good.eml", GOOD))) == []


def test_subject_prefix(good: bytes) -> None:
    bad = edit(good, "Subject", "Compte rendu")
    assert errors(mc.check_subject(inspect(bad, "bad.eml", GOOD))) == ["MSS.HDR.SUBJECT"]


def test_codecda_must_list_the_cda_codes(good: bytes) -> None:
    assert errors(mc.check_codecda(inspect(edit(good, "X-MSS-CODECDA", "11488-4"), "b.eml"))) == ["MSS.HDR.CODECDA"]
    assert errors(mc.check_codecda(inspect(edit(good, "X-MSS-CODECDA", None), "b.eml"))) == ["MSS.HDR.CODECDA"]


def test_codecda_with_several_documents() -> None:
    from conformance.mss.xdm_build import build_xdm

    zip_bytes = build_xdm([cda(code="74207-2"), cda(code="60591-5", title="VSM")])
    it = inspect(message(), "m.eml")
    it.xdms[0] = __import__("conformance.mss.xdm", fromlist=["open_xdm"]).open_xdm(zip_bytes)
    it.msg.headers = [(k, "74207-2, 60591-5" if k == "X-MSS-CODECDA" else v) for k, v in it.msg.headers]
    assert errors(mc.check_codecda(it)) == []
    it.msg.headers = [(k, "74207-2" if k == "X-MSS-CODECDA" else v) for k, v in it.msg.headers]
    assert errors(mc.check_codecda(it)) == ["MSS.HDR.CODECDA"]


def test_x_mss_ins_follows_the_documents(good: bytes) -> None:
    assert errors(mc.check_x_mss_ins(inspect(edit(good, "X-MSS-INS", "N"), "b.eml"))) == ["MSS.HDR.INS"]
    assert errors(mc.check_x_mss_ins(inspect(edit(good, "X-MSS-INS", "oui"), "b.eml"))) == ["MSS.HDR.INS"]
    unqualified = message(Resident(status="RECUP"))  # document without INS, header N
    assert errors(mc.check_x_mss_ins(inspect(unqualified, "u.eml"))) == []
    assert errors(mc.check_x_mss_ins(inspect(edit(unqualified, "X-MSS-INS", "O"), "u.eml"))) == ["MSS.HDR.INS"]


def test_x_mss_nil_on_every_message(good: bytes) -> None:
    assert errors(mc.check_x_mss_nil(inspect(edit(good, "X-MSS-NIL", None), "b.eml"))) == ["MSS.HDR.NIL"]
    assert errors(mc.check_x_mss_nil(inspect(edit(good, "X-MSS-NIL", " "), "b.eml"))) == ["MSS.HDR.NIL"]


def test_x_mss_mes(patient_good: bytes) -> None:
    assert errors(mc.check_x_mss_mes(inspect(patient_good, "p.eml", PATIENT_CTX))) == []
    missing = edit(patient_good, "X-MSS-MES", None)
    assert errors(mc.check_x_mss_mes(inspect(missing, "p.eml", PATIENT_CTX))) == ["MSS.HDR.MES"]
    lower = edit(patient_good, "X-MSS-MES", "fin")
    assert errors(mc.check_x_mss_mes(inspect(lower, "p.eml", PATIENT_CTX))) == ["MSS.HDR.MES"]


def test_message_id(good: bytes) -> None:
    assert errors(mc.check_message_id(inspect(edit(good, "Message-ID", None), "b.eml"))) == ["MSS.HDR.MESSAGE_ID"]
    assert errors(mc.check_message_id(inspect(edit(good, "Message-ID", "sans-chevrons"), "b.eml"))) == [
        "MSS.HDR.MESSAGE_ID"]


def test_reply_headers(good: bytes) -> None:
    reply = edit(edit(good, "In-Reply-To", "<orig@x.mssante.fr>"), "References", "<a@b> <orig@x.mssante.fr>")
    assert mc.is_reply(inspect(reply, "r.eml"))
    assert errors(mc.check_reply_headers(inspect(reply, "r.eml"))) == []
    no_refs = edit(reply, "References", None)
    assert errors(mc.check_reply_headers(inspect(no_refs, "r.eml"))) == ["MSS.HDR.REPLY"]
    re_subject = edit(good, "Subject", "RE: votre message")
    assert "MSS.HDR.REPLY" in errors(mc.check_reply_headers(inspect(re_subject, "r.eml")))
    assert not mc.is_reply(inspect(good, "g.eml"))


def test_from_display_name(good: bytes) -> None:
    assert errors(mc.check_from(inspect(edit(good, "From", SENDER), "b.eml", GOOD))) == ["MSS.HDR.FROM"]
    other = edit(good, "From", f"Autre BAL <autre@{SENDER.split('@')[1]}>")
    assert errors(mc.check_from(inspect(other, "b.eml", GOOD))) == ["MSS.HDR.FROM"]
    assert warnings(mc.check_from(inspect(edit(good, "From", "DUI <dui@example.org>"), "b.eml"))) == ["MSS.HDR.FROM"]


def test_applicative_mailbox(good: bytes) -> None:
    from segur_reference_dui.mss_client import DEFECTS

    assert "no_reply_to" in DEFECTS
    bad = message(defects=frozenset({"no_reply_to"}))
    assert sorted(set(errors(mc.check_applicative(inspect(bad, "b.eml", GOOD))))) == ["MSS.APP.MENTION",
                                                                                       "MSS.APP.REPLY_TO"]
    same = edit(good, "Reply-To", SENDER)
    assert errors(mc.check_applicative(inspect(same, "b.eml", GOOD))) == ["MSS.APP.REPLY_TO"]
    unknown = MessageContext()  # artefact mode: mailbox kind unknown → warnings only
    assert errors(mc.check_applicative(inspect(bad, "b.eml", unknown))) == []
    assert "MSS.APP.REPLY_TO" in warnings(mc.check_applicative(inspect(bad, "b.eml", unknown)))


def test_read_receipt(good: bytes) -> None:
    missing = edit(good, "Disposition-Notification-To", None)
    assert errors(mc.check_read_receipt(inspect(missing, "b.eml", GOOD))) == ["MSS.HDR.DNT"]
    garbage = edit(good, "Disposition-Notification-To", "pas une adresse")
    assert errors(mc.check_read_receipt(inspect(garbage, "b.eml", GOOD))) == ["MSS.HDR.DNT"]


def test_delivery_receipt_is_only_ever_a_warning(good: bytes) -> None:
    findings = mc.check_delivery_receipt_request(inspect(good, "b.eml", GOOD))
    assert errors(findings) == [] and warnings(findings) == ["MSS.DSN.REQUEST"]
    asked = MessageContext(envelope={"rcpt_params": {PRO: ["NOTIFY=SUCCESS,FAILURE"]}})
    assert warnings(mc.check_delivery_receipt_request(inspect(good, "b.eml", asked))) == []
    rrt = edit(good, "Return-Receipt-To", SENDER)
    assert warnings(mc.check_delivery_receipt_request(inspect(rrt, "b.eml"))) == []


def test_patient_address(patient_good: bytes) -> None:
    assert errors(mc.check_patient_address(inspect(patient_good, "p.eml", PATIENT_CTX))) == []
    bad_key = patient_good.replace(MATRICULE.encode(), (MATRICULE[:13] + "00").encode())
    assert "MSS.PATIENT.ADDRESS" in errors(mc.check_patient_address(inspect(bad_key, "p.eml", PATIENT_CTX)))
    unqualified = MessageContext(options=PATIENT_CTX.options, resident=Resident(status="RECUP").to_json())
    assert errors(mc.check_patient_address(inspect(patient_good, "p.eml", unqualified))) == ["MSS.PATIENT.QUALIFIED"]
    no_patient = MessageContext(options=options(to_patient=True))
    assert errors(mc.check_patient_address(inspect(message(), "p.eml", no_patient))) == ["MSS.PATIENT.ADDRESS"]


def test_invisible_to_patient(patient_good: bytes) -> None:
    flagged = MessageContext(options=options(to_patient=True, invisible_to_patient=True))
    assert errors(mc.check_invisible_to_patient(inspect(patient_good, "p.eml", flagged))) == ["MSS.PATIENT.INVISIBLE"]
    assert errors(mc.check_invisible_to_patient(inspect(message(), "m.eml", flagged))) == []


def test_charsets(good: bytes) -> None:
    latin = message(defects=frozenset({"latin1_body"}))
    assert errors(mc.check_charsets(inspect(latin, "b.eml"))) == ["MSS.CHARSET.BODY"]
    encoded = edit(good, "Subject", "=?iso-8859-1?q?XDM/1.0/DDM+compte_rendu_r=E9sum=E9?=")
    assert errors(mc.check_charsets(inspect(encoded, "b.eml"))) == ["MSS.CHARSET.HEADER"]
    lying = good.replace(b"Bonjour", b"Bonjour \xff\xfe")  # 8-bit bytes in a part declared UTF-8 (quoted-printable)
    assert errors(mc.check_charsets(inspect(lying, "b.eml"))) == ["MSS.CHARSET.BODY"]


def test_body_type_is_a_warning(good: bytes) -> None:
    html = good.replace(b"Content-Type: text/plain", b"Content-Type: text/html", 1)
    findings = mc.check_body_type(inspect(html, "b.eml"))
    assert errors(findings) == [] and warnings(findings) == ["MSS.BODY.TYPE"]


def test_replacement() -> None:
    resident = Resident()
    first = cda(resident, doc_id="111", set_id="S1", version=1)
    assert first
    second = cda(resident, doc_id="222", set_id="S1", version=2, replaces="111")
    from segur_reference_dui import mss_client

    raw, _ = mss_client.build_message(second, resident, {"sender": SENDER}, frozenset(), options(), [PRO])
    rep = {"id": "1.2.250.1.999.2^111", "set_id": "1.2.250.1.999.3^S1", "version": "1"}
    assert errors(mc.check_replacement(inspect(raw, "r.eml", MessageContext(replaces=rep)))) == []
    plain, _ = mss_client.build_message(cda(resident, doc_id="333"), resident, {"sender": SENDER}, frozenset(),
                                        options(), [PRO])
    assert errors(mc.check_replacement(inspect(plain, "p.eml", MessageContext(replaces=rep)))) == ["MSS.CDA.RPLC"]
    wrong = {**rep, "id": "1.2.250.1.999.2^999"}
    assert errors(mc.check_replacement(inspect(raw, "r.eml", MessageContext(replaces=wrong)))) == ["MSS.CDA.RPLC"]


def test_transport_checks() -> None:
    good_conn = {"starttls": True, "tls_version": "TLSv1.3", "cipher": "TLS_AES_256_GCM_SHA384",
                 "plaintext_commands": [], "client_cert_status": "valid", "client_cert": {"subject": "CN=x"}}
    assert errors(mc.check_transport(good_conn)) == []
    assert errors(mc.check_client_certificate(good_conn)) == []
    assert errors(mc.check_transport({**good_conn, "plaintext_commands": ["MAIL FROM:<a@b>"]})) == ["MSS.TLS.REQUIRED"]
    assert errors(mc.check_transport({**good_conn, "starttls": False})) == ["MSS.TLS.REQUIRED"]
    assert errors(mc.check_transport({**good_conn, "tls_version": "TLSv1.1"})) == ["MSS.TLS.VERSION"]
    assert warnings(mc.check_transport({**good_conn, "cipher": "AES128-SHA"})) == ["MSS.TLS.CIPHER"]
    assert errors(mc.check_client_certificate({**good_conn, "client_cert_status": "absent"})) == [
        "MSS.AUTH.CLIENT_CERT"]


def test_xdm_metadata_agree_with_the_cda_header(good: bytes) -> None:
    it = inspect(good, "g.eml")
    assert errors(compare_entries_with_cda(it.xdms[0])) == []
    from conformance.mss.xdm import open_xdm
    from conformance.mss.xdm_build import XdmOptions, build_xdm

    doc = cda()
    package = build_xdm([doc], XdmOptions())
    tampered = open_xdm(package)
    tampered.documents[0].entry.codes["typeCode"][0] = type(tampered.documents[0].entry.codes["typeCode"][0])(
        "11488-4", "2.16.840.1.113883.6.1", "autre")
    assert errors(compare_entries_with_cda(tampered))


def test_plain_text_message_is_not_a_document_send() -> None:
    plain = (b"From: DUI <a@dui.mssante.fr>\r\nTo: b@x.mssante.fr\r\nSubject: Rendez-vous\r\n"
             b"Message-ID: <p@x>\r\nX-MSS-NIL: NIL-1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nBonjour\r\n")
    it = inspect(plain, "plain.eml")
    assert errors(mc.check_mime(it)) == [] and errors(mc.check_xdm(it)) == []
    assert errors(mc.check_codecda(it)) == [] and errors(mc.check_x_mss_ins(it)) == []
    sandbox = inspect(plain, "plain.eml", MessageContext(options=options()))
    assert errors(mc.check_mime(sandbox)) == ["MSS.MIME.XDM_PART"]


def test_check_message_never_raises_on_garbage() -> None:
    for raw in (b"", b"\x00\xff" * 100, b"From: a\r\n\r\n", b"Content-Type: multipart/mixed\r\n\r\n--x--"):
        findings = mc.check_message(raw, "x.eml", MessageContext(options=options(to_patient=True)))
        assert errors(findings), raw[:20]
    assert "MSS.MIME.PARSE" in errors(mc.check_message(b"", "x.eml"))
    assert PRO and MATRICULE
