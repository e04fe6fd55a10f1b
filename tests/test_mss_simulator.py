"""The MSSanté operator simulator as a real server: TLS and identity rules, scenarios, notifications,
mailboxes over IMAP, and hostile clients (it records them and keeps serving)."""

from __future__ import annotations

import base64
import imaplib
import smtplib
import socket
import ssl
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from test_mss_helpers import PRO, SENDER, message

from conformance.mss.mdn import parse_notification
from conformance.mss.pki import Issued
from conformance.mss.simulator import MssSimulator, Scenario


@pytest.fixture(scope="module")
def sim() -> Iterator[MssSimulator]:
    with MssSimulator(smtp_timeout=10.0) as running:
        yield running


@pytest.fixture(autouse=True)
def _reset(sim: MssSimulator) -> None:
    sim.set_scenario()


def context(sim: MssSimulator, identity: Issued | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cadata=sim.pki.ca.cert_pem.decode("ascii"))
    if identity is not None:
        with tempfile.TemporaryDirectory() as tmp:
            cert, key = Path(tmp) / "c.pem", Path(tmp) / "k.pem"
            cert.write_bytes(identity.cert_pem)
            key.write_bytes(identity.key_pem)
            ctx.load_cert_chain(str(cert), str(key))
    return ctx


def connect(sim: MssSimulator, identity: Issued | None = None, *, tls: bool = True) -> smtplib.SMTP:
    smtp = smtplib.SMTP(sim.host, sim.port, timeout=10)
    smtp.ehlo()
    if tls:
        smtp.starttls(context=context(sim, identity))
        smtp.ehlo()
    return smtp


def valid(sim: MssSimulator) -> Issued:
    return sim.client_identity(SENDER)


def test_binds_loopback_on_an_ephemeral_port(sim: MssSimulator) -> None:
    assert sim.host == "127.0.0.1" and sim.port > 0 and sim.imap_port > 0 and sim.port != sim.imap_port
    ep = sim.endpoint(SENDER)
    assert set(ep) >= {"host", "port", "ca_pem", "client_cert_pem", "client_key_pem", "sender", "imap_port"}
    assert "BEGIN X509 CRL" in ep["ca_pem"]
    with pytest.raises(ValueError):
        MssSimulator(host="0.0.0.0")


def test_starttls_is_required(sim: MssSimulator) -> None:
    with connect(sim, tls=False) as smtp:
        assert "dsn" in smtp.esmtp_features and "starttls" in smtp.esmtp_features
        code, _ = smtp.mail(SENDER)
        assert code == 530
    assert any("MAIL FROM" in c for conn in sim.connections for c in conn.plaintext_commands)


def test_valid_client_certificate_delivers(sim: MssSimulator) -> None:
    before = len(sim.messages)
    with connect(sim, valid(sim)) as smtp:
        smtp.sendmail(SENDER, [PRO], message(), rcpt_options=["NOTIFY=SUCCESS,FAILURE"])
    received = sim.messages[before]
    assert received.accepted and received.rcpt_tos == [PRO]
    assert received.rcpt_params == {PRO: ["NOTIFY=SUCCESS,FAILURE"]}
    conn = received.connection
    assert conn.starttls and conn.client_cert_status == "valid" and conn.tls_version in ("TLSv1.2", "TLSv1.3")
    assert conn.client_cert and conn.client_cert["email"] == SENDER
    assert received.message_id.startswith("<")


def test_no_client_certificate_is_refused(sim: MssSimulator) -> None:
    with connect(sim) as smtp:
        code, text = smtp.mail(SENDER)
    assert code == 530 and b"certificat" in text


def test_revoked_client_certificate_is_refused(sim: MssSimulator) -> None:
    with connect(sim, sim.client_identity(SENDER, "revoked")) as smtp:
        code, _ = smtp.mail(SENDER)
    assert code == 554
    assert sim.connections[-1].client_cert_status == "revoked"


@pytest.mark.parametrize("variant", ["expired", "untrusted"])
def test_expired_or_untrusted_client_certificate_fails_the_handshake(sim: MssSimulator, variant: str) -> None:
    with pytest.raises((ssl.SSLError, smtplib.SMTPServerDisconnected, ConnectionError)):
        with connect(sim, sim.client_identity(SENDER, variant)) as smtp:
            smtp.mail(SENDER)
    sim.wait_for(lambda s: bool(s.connections[-1].tls_error), timeout=2)
    assert sim.connections[-1].tls_error


@pytest.mark.parametrize("variant", ["expired", "untrusted", "wrong_host"])
def test_bad_server_certificates_are_refused_by_a_verifying_client(sim: MssSimulator, variant: str) -> None:
    with sim.use(server_cert=variant):
        smtp = smtplib.SMTP(sim.host, sim.port, timeout=10)
        with pytest.raises(ssl.SSLCertVerificationError):
            smtp.starttls(context=context(sim, valid(sim)))
        smtp.close()
    with connect(sim, valid(sim)) as smtp:  # and it is back to normal afterwards
        assert smtp.noop()[0] == 250


def test_revoked_server_certificate_is_in_the_served_crl(sim: MssSimulator) -> None:
    with sim.use(server_cert="revoked"):
        with connect(sim, valid(sim)) as smtp:  # TLS alone does not see revocation
            der = smtp.sock.getpeercert(binary_form=True)  # type: ignore[union-attr]
    served = urllib.request.urlopen(sim.crl_url, timeout=5).read()  # noqa: S310 - loopback
    crl = x509.load_der_x509_crl(served)
    assert crl.get_revoked_certificate_by_serial_number(x509.load_der_x509_certificate(der).serial_number)
    assert crl.is_signature_valid(sim.pki.ca.cert.public_key())  # type: ignore[arg-type]


@pytest.mark.parametrize("code", [550, 552, 554])
def test_recipient_rejections(sim: MssSimulator, code: int) -> None:
    with sim.use(reject_code=code):
        with connect(sim, valid(sim)) as smtp, pytest.raises(smtplib.SMTPRecipientsRefused) as exc:
            smtp.sendmail(SENDER, [PRO], message())
    assert exc.value.recipients[PRO][0] == code


def test_rejection_of_one_recipient_at_data(sim: MssSimulator) -> None:
    before = len(sim.messages)
    with sim.use(reject_code=554, reject_stage="data", reject_recipients=(PRO,)):
        with connect(sim, valid(sim)) as smtp, pytest.raises(smtplib.SMTPDataError):
            smtp.sendmail(SENDER, [PRO], message())
    assert not sim.messages[before].accepted


def test_dropped_connection_then_keeps_serving(sim: MssSimulator) -> None:
    before = len(sim.messages)
    with sim.use(close_connection=True):
        smtp = connect(sim, valid(sim))
        with pytest.raises(smtplib.SMTPServerDisconnected):
            smtp.sendmail(SENDER, [PRO], message())
        smtp.close()
    assert not sim.messages[before].accepted
    with connect(sim, valid(sim)) as smtp:
        assert smtp.sendmail(SENDER, [PRO], message()) == {}


def test_size_limit() -> None:
    with MssSimulator(size_limit=50_000) as small:
        with connect(small, small.client_identity(SENDER)) as smtp:
            with pytest.raises(smtplib.SMTPSenderRefused) as exc:
                smtp.sendmail(SENDER, [PRO], b"Subject: x\r\n\r\n" + b"a" * 60_000)
            assert exc.value.smtp_code == 552


def imap_login(sim: MssSimulator, identity: Issued) -> imaplib.IMAP4:
    imap = imaplib.IMAP4(sim.host, sim.imap_port, timeout=10)
    imap.starttls(ssl_context=context(sim, identity))
    imap.authenticate("EXTERNAL", lambda _: b"")
    return imap


@pytest.mark.parametrize("notify", ["success", "error"])
def test_mdn_delivered_to_the_sender_mailbox(sim: MssSimulator, notify: str) -> None:
    sender = f"{notify}-{SENDER}"
    raw = message(read_receipt=True).replace(SENDER.encode(), sender.encode())
    with sim.use(notify=notify, error_code="902"):
        with connect(sim, sim.client_identity(sender)) as smtp:
            smtp.sendmail(sender, [PRO], raw)
    imap = imap_login(sim, sim.client_identity(sender))
    imap.select("INBOX", readonly=True)
    _, data = imap.uid("SEARCH", None, "ALL")  # type: ignore[arg-type]
    uids = data[0].split()
    assert len(uids) == 1
    _, fetched = imap.uid("FETCH", uids[0].decode(), "(BODY.PEEK[])")
    imap.logout()
    notice = parse_notification(next(item[1] for item in fetched if isinstance(item, tuple)))
    assert notice is not None and notice.kind == "mdn"
    assert notice.original_message_id == sim.messages[-1].message_id
    assert notice.error_code == ("902" if notify == "error" else "")
    session = sim.imap.sessions[-1]  # type: ignore[union-attr]
    assert session.starttls and session.auth_mechanism == "EXTERNAL" and session.mailbox == sender


def test_error_mail_without_read_receipt(sim: MssSimulator) -> None:
    sender = f"ko-{SENDER}"
    raw = message().replace(SENDER.encode(), sender.encode())
    with sim.use(notify="error", error_code="904"):
        with connect(sim, sim.client_identity(sender)) as smtp:
            smtp.sendmail(sender, [PRO], raw)
    assert sim.outbox[-1].kind == "error-mail"
    notice = parse_notification(sim.outbox[-1].raw)
    assert notice and notice.error_code == "904" and notice.original_message_id == sim.messages[-1].message_id


def test_imap_refuses_login_and_auth_before_tls(sim: MssSimulator) -> None:
    imap = imaplib.IMAP4(sim.host, sim.imap_port, timeout=10)
    assert "STARTTLS" in imap.capabilities
    with pytest.raises(imaplib.IMAP4.error):
        imap.login("user", "password")
    with pytest.raises(imaplib.IMAP4.error):
        imap.authenticate("EXTERNAL", lambda _: b"")
    imap.logout()
    no_cert = imaplib.IMAP4(sim.host, sim.imap_port, timeout=10)
    no_cert.starttls(ssl_context=context(sim))
    with pytest.raises(imaplib.IMAP4.error):
        no_cert.authenticate("EXTERNAL", lambda _: b"")
    no_cert.logout()


def test_xoauth2_bearer_tokens() -> None:
    tokens = {"jeton-psc-valide"}
    with MssSimulator(Scenario(auth="bearer"), bearer_check=lambda tok, user: tok in tokens) as bearer:
        with connect(bearer) as smtp:
            bad = base64.b64encode(b"user=dr@x.mssante.fr\x01auth=Bearer faux\x01\x01").decode()
            assert smtp.docmd("AUTH", f"XOAUTH2 {bad}")[0] == 535
            good = base64.b64encode(b"user=dr@x.mssante.fr\x01auth=Bearer jeton-psc-valide\x01\x01").decode()
            assert smtp.docmd("AUTH", f"XOAUTH2 {good}")[0] == 235
            assert smtp.sendmail("dr@x.mssante.fr", [PRO], message()) == {}
        assert bearer.connections[-1].authenticated and bearer.connections[-1].auth_user == "dr@x.mssante.fr"


# -- hostile clients: recorded, answered, and the server keeps serving ---------------------------
def _xdm_message(zip_bytes: bytes) -> bytes:
    body = base64.encodebytes(zip_bytes).replace(b"\n", b"\r\n")
    return (b"From: DUI <a@dui.mssante.fr>\r\nTo: b@x.mssante.fr\r\nSubject: XDM/1.0/DDM+x\r\n"
            b"Message-ID: <h@x>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"
            b"--b\r\nContent-Type: application/zip; name=\"IHE_XDM.ZIP\"\r\nContent-Transfer-Encoding: base64\r\n"
            b"Content-Disposition: attachment; filename=\"IHE_XDM.ZIP\"\r\n\r\n" + body + b"\r\n--b--\r\n")


def _zip(files: dict[str, bytes]) -> bytes:
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


HOSTILE = {
    "zip_bomb": (lambda: _xdm_message(_zip({"IHE_XDM/SUBSET01/DOC0001.XML": b"\0" * (40 * 1024 * 1024)})),
                 "MSS.XDM.ZIP"),
    "zip_slip": (lambda: _xdm_message(_zip({"../../../tmp/evil.sh": b"rm -rf /", "README.TXT": b"x"})), "MSS.XDM.ZIP"),
    "malformed_mime": (lambda: b"Subject: =?utf-8?b?!!!?=\r\nContent-Type: multipart/mixed\r\n\r\n--x\r\n",
                       "MSS.MIME.PARSE"),
    "wrong_charset": (lambda: b"From: a@b.mssante.fr\r\nContent-Type: text/plain; charset=x-klingon\r\n\r\nq\xe9\r\n",
                      "MSS.CHARSET.BODY"),
    "base64_garbage": (lambda: _xdm_message(b"").replace(b"\r\n\r\n\r\n--b--", b"\r\n\r\n%%% !! %%%\r\n--b--"),
                       "MSS.MIME.BASE64"),
    "binary_garbage": (lambda: b"\x00\xff\xfe garbage \x01" * 40, "MSS.MIME.PARSE"),
}


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_hostile_message_is_recorded_checked_and_the_server_keeps_serving(sim: MssSimulator, kind: str) -> None:
    from conformance.mss.checks import check_message

    build, rule = HOSTILE[kind]
    raw = build()
    before = len(sim.messages)
    with connect(sim, valid(sim)) as smtp:
        assert smtp.sendmail(SENDER, [PRO], raw) == {}
    received = sim.messages[before]
    assert received.raw.rstrip(b"\r\n") == raw.rstrip(b"\r\n")
    assert rule in {f.rule for f in check_message(received.raw, f"{kind}.eml") if f.is_error}
    with connect(sim, valid(sim)) as smtp:
        assert smtp.sendmail(SENDER, [PRO], message()) == {}


def test_enormous_header_line_is_refused_by_smtp_and_the_server_keeps_serving(sim: MssSimulator) -> None:
    with connect(sim, valid(sim)) as smtp:
        with pytest.raises(smtplib.SMTPDataError) as exc:
            smtp.sendmail(SENDER, [PRO], b"X-Long: " + b"a" * 100_000 + b"\r\n\r\nx")
        assert exc.value.smtp_code == 500
        assert smtp.sendmail(SENDER, [PRO], message()) == {}


def test_hostile_protocol_input(sim: MssSimulator) -> None:
    with socket.create_connection((sim.host, sim.port), timeout=5) as raw:
        raw.recv(1024)
        raw.sendall(b"\xff\xfe\x00\r\n" + b"A" * 5000 + b"\r\nHELO\r\nBDAT 1000000\r\n")
        raw.settimeout(2)
        assert raw.recv(4096)
    with socket.create_connection((sim.host, sim.imap_port), timeout=5) as raw:
        raw.recv(1024)
        raw.sendall(b"A" * 20_000 + b"\r\n")
        raw.settimeout(2)
        try:
            raw.recv(4096)
        except (ConnectionError, TimeoutError):
            pass
    with connect(sim, valid(sim)) as smtp:
        assert smtp.noop()[0] == 250
    imap = imap_login(sim, valid(sim))
    assert imap.select("INBOX")[0] == "OK"
    imap.logout()
