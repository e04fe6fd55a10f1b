"""Hostile and malformed messages: each gives findings with the expected rule, never an exception."""

from __future__ import annotations

import random

import pytest
from test_mss_helpers import message

from conformance.findings import Severity
from conformance.mss.checks import MessageContext, check_message, inspect
from conformance.mss.mime import parse_message

HEAD = b"From: DUI <a@dui.mssante.fr>\r\nTo: b@x.mssante.fr\r\nSubject: XDM/1.0/DDM+t\r\nMessage-ID: <1@x>\r\n"


def error_rules(raw: bytes) -> set[str]:
    findings = check_message(raw, "hostile.eml", MessageContext(options={"to_patient": True, "read_receipt": True}))
    return {f.rule for f in findings if f.severity is Severity.ERROR}


def test_reference_message_parses() -> None:
    msg = parse_message(message(), "ok.eml")
    assert msg.ok and not msg.findings
    assert [p.content_type for p in msg.parts] == ["text/plain", "application/zip"]
    assert msg.xdm_parts[0].payload[:2] == b"PK"  # type: ignore[index]


def test_multipart_without_boundary() -> None:
    raw = HEAD + b"Content-Type: multipart/mixed\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nhi\r\n--x--\r\n"
    rules = error_rules(raw)
    assert "MSS.MIME.PARSE" in rules and "MSS.MIME.XDM_PART" in rules


def test_unterminated_multipart() -> None:
    raw = HEAD + b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi'
    assert "MSS.MIME.PARSE" in error_rules(raw)


def test_base64_garbage_in_the_attachment() -> None:
    raw = (HEAD + b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
           b'Content-Type: application/zip; name="IHE_XDM.ZIP"\r\nContent-Transfer-Encoding: base64\r\n'
           b'Content-Disposition: attachment; filename="IHE_XDM.ZIP"\r\n\r\n!!!$$$ pas du base64 %%%\r\n--b--\r\n')
    rules = error_rules(raw)
    assert "MSS.MIME.BASE64" in rules and "MSS.XDM.ZIP" in rules


def test_attachment_that_is_not_a_zip() -> None:
    good = message()
    start = good.index(b"UEsDB")  # base64 of "PK\x03\x04"
    raw = good[:start] + b"aGVsbG8gd29ybGQ=" + good[good.index(b"\r\n\r\n--", start):]
    assert "MSS.XDM.ZIP" in error_rules(raw)


@pytest.mark.parametrize("charset", ["x-klingon", "iso-8859-1", "utf-16"])
def test_wrong_or_unknown_body_charset(charset: str) -> None:
    raw = HEAD + f"Content-Type: text/plain; charset={charset}\r\n\r\nd\xe9j\xe0 vu\r\n".encode("latin-1")
    assert "MSS.CHARSET.BODY" in error_rules(raw)


def test_utf8_declared_but_latin1_bytes() -> None:
    raw = HEAD + "Content-Type: text/plain; charset=utf-8\r\n\r\nd\xe9j\xe0 vu\r\n".encode("latin-1")
    assert "MSS.CHARSET.BODY" in error_rules(raw)


def test_encoded_words_with_bad_charsets() -> None:
    raw = HEAD.replace(b"Subject: XDM/1.0/DDM+t", b"Subject: =?x-unknown?q?caf=E9?= =?utf-8?b?!!!?=") + b"\r\nhi"
    assert "MSS.CHARSET.HEADER" in error_rules(raw)
    raw8 = HEAD.replace(b"Subject: XDM/1.0/DDM+t", "Subject: XDM/1.0/DDM+caf\xe9".encode("latin-1")) + b"\r\nhi"
    assert "MSS.CHARSET.HEADER" in error_rules(raw8)


def test_enormous_header_line() -> None:
    raw = HEAD + b"X-Long: " + b"a" * 100_000 + b"\r\n\r\nbody"
    assert "MSS.MIME.HEADERS" in error_rules(raw)


def test_enormous_header_section_is_not_parsed() -> None:
    raw = HEAD + b"".join(b"X-Pad-%d: %s\r\n" % (i, b"b" * 900) for i in range(400)) + b"\r\nbody"
    msg = parse_message(raw, "big.eml")
    assert not msg.ok and {f.rule for f in msg.findings} == {"MSS.MIME.HEADERS"}
    assert "MSS.MIME.HEADERS" in error_rules(raw)


def test_too_many_headers() -> None:
    raw = HEAD + b"".join(b"X-H: %d\r\n" % i for i in range(2000)) + b"\r\nbody"
    assert not parse_message(raw).ok


def test_deep_and_wide_mime_structures() -> None:
    deep = HEAD
    for i in range(60):
        deep += f'Content-Type: multipart/mixed; boundary="b{i}"\r\n\r\n--b{i}\r\n'.encode()
    deep += b"Content-Type: text/plain\r\n\r\nbottom\r\n"
    assert "MSS.MIME.PARSE" in error_rules(deep)
    wide = HEAD + b'Content-Type: multipart/mixed; boundary="w"\r\n\r\n' + b"".join(
        b"--w\r\nContent-Type: text/plain\r\n\r\npart\r\n" for _ in range(500)) + b"--w--\r\n"
    assert "MSS.MIME.PARSE" in error_rules(wide)


def test_unknown_transfer_encoding() -> None:
    raw = HEAD + b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: x-rot13\r\n\r\nuryyb\r\n"
    assert "MSS.MIME.PARSE" in error_rules(raw)


@pytest.mark.parametrize("raw", [b"", b"\r\n\r\n", random.Random(7).randbytes(4096), b"\xff\xfe\x00<html>" * 50,
                                 b"just one line without header"],
                         ids=["empty", "blank-lines", "random-bytes", "binary-html", "one-line"])
def test_garbage_is_not_a_message(raw: bytes) -> None:
    assert "MSS.MIME.PARSE" in error_rules(raw)


def test_inspect_never_raises_on_random_mutations() -> None:
    good = message()
    rng = random.Random(1234)
    for _ in range(60):
        data = bytearray(good)
        for _ in range(rng.randint(1, 40)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        cut = rng.randint(0, len(data))
        it = inspect(bytes(data[:cut]), "fuzz.eml")
        check_message(bytes(data[:cut]), "fuzz.eml")
        assert it.msg is not None
