"""MSSanté checks on inputs the harness did not build (issue 12 item 18): messages written by hand from the
RFCs and the MSSanté headers, and an IHE XDM volume whose METADATA.XML was written by hand from IHE ITI TF-3,
zipped with the standard library and wrapped in a message made with Python's own ``email`` package.

A misreading shared by the reference DUI's builders (``segur_reference_dui.mss_client``,
``conformance.mss.xdm_build``) and the checks cannot show on the builders' output; it shows here. Sources and
licence of each file: tests/data/mss/README.md.
"""

from __future__ import annotations

import io
import sys
import zipfile
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

import pytest

from conformance.findings import Finding, Severity
from conformance.mss import checks as mc
from conformance.mss.checks import MessageContext, inspect
from conformance.mss.xdm import compare_entries_with_cda

DATA = Path(__file__).resolve().parent / "data" / "mss"
PATIENT = "279035121518989@patient.mssante.fr"
SUITE_DIR = Path(__file__).resolve().parents[1] / "conformance"


def errors(findings: list[Finding]) -> list[str]:
    return [f.rule for f in findings if f.severity is Severity.ERROR]


def read(name: str) -> bytes:
    return (DATA / name).read_bytes()


# -- hand-written messages -------------------------------------------------------------------------------
def test_hand_written_reply_conforms() -> None:
    """RFC 5322 §3.6.4: In-Reply-To = the parent's Message-ID, References = the parent's References + it."""
    it = inspect(read("reply.eml"), "reply.eml")
    assert mc.is_reply(it)
    for check in (mc.check_reply_headers, mc.check_message_id, mc.check_from, mc.check_charsets):
        assert errors(check(it)) == [], check.__name__
    held = mc.check_reply_headers(it)
    assert [f.rule for f in held] == ["MSS.HDR.REPLY"] and held[0].severity is Severity.INFO


def test_hand_written_reply_checked_against_the_message_answered() -> None:
    parent = "<20260115093512.ab12@ehpad-tilleuls.test-ci-sis.mssante.fr>"
    ok = inspect(read("reply.eml"), "reply.eml", MessageContext(options={"in_reply_to": parent}))
    assert errors(mc.check_reply_headers(ok)) == []
    # the same reply judged as the answer to another message: In-Reply-To and References both miss it
    other = inspect(read("reply.eml"), "reply.eml", MessageContext(options={"in_reply_to": "<x@y.mssante.fr>"}))
    assert errors(mc.check_reply_headers(other)) == ["MSS.HDR.REPLY", "MSS.HDR.REPLY"]


def test_hand_written_reply_without_references_fails() -> None:
    it = inspect(read("reply-no-references.eml"), "reply-no-references.eml")
    found = [f for f in mc.check_reply_headers(it) if f.severity is Severity.ERROR]
    assert [f.rule for f in found] == ["MSS.HDR.REPLY"] and "References" in found[0].message
    assert found[0].requirements == ("DUI.MSS.08",)
    assert errors(mc.check_message_id(it)) == []  # only the reply header is wrong


def test_hand_written_patient_message_conforms() -> None:
    it = inspect(read("patient-no-reply.eml"), "patient-no-reply.eml")
    assert it.patient_recipients() == [PATIENT]
    for check in (mc.check_x_mss_mes, mc.check_patient_address, mc.check_message_id, mc.check_from,
                  mc.check_charsets, mc.check_x_mss_nil):
        assert errors(check(it)) == [], check.__name__
    # the RFC 2047 subject and the quoted-printable UTF-8 body are read as written
    assert "à la sortie" in (it.msg.header("Subject") or "")
    assert "généré automatiquement" in it.msg.body_text()
    assert errors(mc.check_applicative(inspect(read("patient-no-reply.eml"), "p.eml",
                                               MessageContext(applicative=True)))) == []


def test_hand_written_lowercase_x_mss_mes_fails() -> None:
    it = inspect(read("patient-mes-lowercase.eml"), "patient-mes-lowercase.eml")
    found = [f for f in mc.check_x_mss_mes(it) if f.severity is Severity.ERROR]
    assert [f.rule for f in found] == ["MSS.HDR.MES"] and found[0].found == "fin"


# -- an XDM volume written by hand, zipped and mailed by the standard library ------------------------------
def xdm_zip(metadata: bytes | None = None) -> bytes:
    folder = DATA / "xdm"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(folder / "INDEX.HTM", "INDEX.HTM")
        z.write(folder / "README.TXT", "README.TXT")
        z.writestr("IHE_XDM/SUBSET01/METADATA.XML", metadata or (folder / "METADATA.XML").read_bytes())
        z.write(folder / "DOC0001.XML", "IHE_XDM/SUBSET01/DOC0001.XML")
    return buf.getvalue()


def stdlib_message(to: str = PATIENT, zip_bytes: bytes | None = None) -> bytes:
    """A document message assembled with Python's ``email`` package directly (not the reference DUI)."""
    msg = EmailMessage(policy=SMTP)
    msg["From"] = '"EHPAD Les Tilleuls - BAL applicative du DUI" <bal-dui@ehpad-tilleuls.test-ci-sis.mssante.fr>'
    msg["To"] = to
    msg["Reply-To"] = "secretariat@ehpad-tilleuls.test-ci-sis.mssante.fr"
    msg["Subject"] = "XDM/1.0/DDM+Lettre de liaison à la sortie"
    msg["Date"] = "Thu, 15 Jan 2026 09:35:12 +0100"
    msg["Message-ID"] = "<20260115093512.ef56@ehpad-tilleuls.test-ci-sis.mssante.fr>"
    msg["X-MSS-NIL"] = "NIL-DUI-TILLEULS-0001"
    msg["X-MSS-CODECDA"] = "11490-0"
    msg["X-MSS-INS"] = "O"
    msg.set_content("Madame,\n\nVeuillez trouver ci-joint votre lettre de liaison.\n", charset="utf-8")
    msg.add_attachment(zip_bytes or xdm_zip(), maintype="application", subtype="zip", filename="IHE_XDM.ZIP")
    return msg.as_bytes()


def test_hand_written_xdm_in_a_stdlib_message_conforms() -> None:
    it = inspect(stdlib_message(), "stdlib.eml")
    assert len(it.cda_documents) == 1
    for check in (mc.check_mime, mc.check_xdm, mc.check_subject, mc.check_codecda, mc.check_x_mss_ins,
                  mc.check_patient_address, mc.check_charsets, mc.check_message_id, mc.check_from):
        assert errors(check(it)) == [], (check.__name__, [f.message for f in check(it) if f.is_error])
    compared = compare_entries_with_cda(it.xdms[0])
    assert [f.rule for f in compared] == ["DMP.META.consistent"]


def test_hand_written_xdm_metadata_mismatch_is_caught() -> None:
    """The hand-written METADATA.XML with another hash and another document code: both disagreements found."""
    meta = (DATA / "xdm" / "METADATA.XML").read_bytes()
    meta = meta.replace(b"386ad37712f463e2f29548d557a887bf2f6be71e", b"0" * 40)
    meta = meta.replace(b'nodeRepresentation="11490-0"', b'nodeRepresentation="34133-9"')
    it = inspect(stdlib_message(zip_bytes=xdm_zip(meta)), "stdlib.eml")
    assert "MSS.XDM.HASH" in errors(mc.check_xdm(it))
    assert "DMP.META.typeCode" in errors(compare_entries_with_cda(it.xdms[0]))


def test_patient_address_must_match_the_attached_document_ins() -> None:
    """The hand-written CDA carries INS 279035121518989: a message to another patient mailbox is caught, and
    only as DUI.MSS.11's point (the document's INS), not SC.MSS/UX.32's."""
    from conformance.ins.matricule import make_matricule

    other = f"{make_matricule('1550299123456')}@patient.mssante.fr"
    it = inspect(stdlib_message(to=other), "stdlib.eml")
    bad = [f for f in mc.check_patient_address(it) if f.severity is Severity.ERROR]
    assert [(f.rule, f.requirements) for f in bad] == [("MSS.PATIENT.DOCUMENT_INS", ("DUI.MSS.11",))]


# -- the same files through the shipped suite, in artefact mode ------------------------------------------
def _artefact_run(pytester: pytest.Pytester, folder: Path) -> dict[str, str]:
    rec = pytester.inline_run("--pyargs", "conformance.suites.test_mss", "--artefacts", str(folder),
                              "-p", "no:cacheprovider", f"--confcutdir={SUITE_DIR}", "-q", "--assert=plain",
                              "-k", "reply_headers or x_mss_mes or message_id or structure")
    return {r.nodeid.split("::")[-1]: r.outcome for r in rec.getreports("pytest_runtest_logreport")
            if r.when == "call" or r.outcome == "skipped"}


def test_artefact_mode_on_the_hand_written_files(pytester: pytest.Pytester, tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import conformance.suites.conftest  # noqa: F401  (see test_mss_suite.py: keep it in the outer snapshot)
    import conformance.suites.test_mss  # noqa: F401

    good = tmp_path / "good"
    (good / "mss").mkdir(parents=True)
    for name in ("reply.eml", "patient-no-reply.eml"):
        (good / "mss" / name).write_bytes(read(name))
    (good / "mss" / "document.eml").write_bytes(stdlib_message())
    outcomes = _artefact_run(pytester, good)
    assert outcomes["test_reply_headers"] == "passed"
    assert outcomes["test_x_mss_mes_fin_when_no_reply"] == "passed"
    assert outcomes["test_message_id_on_every_message"] == "passed"
    assert outcomes["test_message_structure_and_xdm_package"] == "passed"

    bad = tmp_path / "bad"
    (bad / "mss").mkdir(parents=True)
    for name in ("reply-no-references.eml", "patient-mes-lowercase.eml"):
        (bad / "mss" / name).write_bytes(read(name))
    outcomes = _artefact_run(pytester, bad)
    assert outcomes["test_reply_headers"] == "failed"
    assert outcomes["test_x_mss_mes_fin_when_no_reply"] == "failed"
    assert outcomes["test_message_id_on_every_message"] == "passed"
