"""MTOM/XOP parsing: byte-exact parts, and every hostile shape gives a clear rejection or problem."""

from __future__ import annotations

import pytest

from conformance.dmp.iti41 import load_artefact, parse_http_capture, parse_request
from conformance.dmp.mtom import (
    Attachment,
    MtomLimits,
    MtomRejected,
    build_mtom,
    parse_content_type,
    parse_mtom,
)

SOAP = b'<?xml version="1.0"?><soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body/></soap:Envelope>'
BINARY = bytes(range(256)) * 4 + b"\r\n--not-a-boundary\r\n" + b"\x00\r\n"


def _message(**kw):
    return build_mtom(SOAP, [Attachment("doc1@test", BINARY, "text/xml"), Attachment("doc 2@test", b"second")], **kw)


def test_round_trip_is_byte_exact_and_finds_the_root() -> None:
    ctype, body = _message(action="urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b")
    msg = parse_mtom(ctype, body)
    assert msg.mime_type == "multipart/related"
    assert msg.params["type"] == "application/xop+xml" and msg.params["start-info"] == "application/soap+xml"
    assert msg.root.body == SOAP and msg.root.mime_type == "application/xop+xml"
    assert "application/soap+xml" in msg.root.params["type"]
    assert msg.part("cid:doc1@test").body == BINARY  # CRLFs and a boundary-like line inside stay intact
    assert msg.part("cid:doc%202@test").body == b"second"  # RFC 2392 URL-encoded cid
    assert msg.problems == []


def test_lf_only_line_endings_are_accepted() -> None:
    ctype, body = _message()
    msg = parse_mtom(ctype, body.replace(b"\r\n", b"\n"))
    assert msg.root.body == SOAP.replace(b"\r\n", b"\n")


def test_content_type_parameters_are_parsed_with_quotes() -> None:
    mime, params = parse_content_type('multipart/related; boundary="a;b"; type="application/xop+xml"; start="<x@y>"')
    assert mime == "multipart/related" and params["boundary"] == "a;b" and params["start"] == "<x@y>"


@pytest.mark.parametrize("mutate, rule", [
    (lambda c, b: ("text/xml", b), "DMP.MTOM.content_type"),
    (lambda c, b: (c.replace("boundary=", "x-boundary="), b), "DMP.MTOM.boundary"),
    (lambda c, b: (c, b.replace(b"--MIME", b"--XXXX")), "DMP.MTOM.boundary"),
    (lambda c, b: (c, b[: len(b) // 2]), "DMP.MTOM.truncated"),
    (lambda c, b: (c, b[: b.rindex(b"--MIME")]), "DMP.MTOM.truncated"),
])
def test_unreadable_messages_are_rejected_with_a_rule(mutate, rule) -> None:
    ctype, body = mutate(*_message(boundary="MIMEBoundary_test"))
    with pytest.raises(MtomRejected) as exc:
        parse_mtom(ctype, body)
    assert exc.value.rule == rule and exc.value.reason and exc.value.reason_en


def test_limits_bound_parts_count_and_sizes() -> None:
    many = [Attachment(f"p{i}@t", b"x") for i in range(70)]
    ctype, body = build_mtom(SOAP, many)
    with pytest.raises(MtomRejected, match="too many"):
        parse_mtom(ctype, body)
    ctype, body = build_mtom(SOAP, [Attachment("big@t", b"x" * 5000)])
    with pytest.raises(MtomRejected, match="too large"):
        parse_mtom(ctype, body, MtomLimits(max_part_bytes=1000))
    with pytest.raises(MtomRejected, match="too large"):
        parse_mtom(ctype, body, MtomLimits(max_body=100))
    huge_header = body.replace(b"Content-ID: <big@t>", b"Content-ID: <big@t>\r\nX-Pad: " + b"a" * 20000)
    with pytest.raises(MtomRejected, match="headers too long"):
        parse_mtom(ctype, huge_header)


def test_soft_problems_are_listed_not_fatal() -> None:
    ctype, body = build_mtom(SOAP, [Attachment("dup@t", b"1"), Attachment("dup@t", b"2")])
    body = body.replace(b"Content-Transfer-Encoding: binary\r\nContent-ID: <dup@t>\r\n\r\n2",
                        b"Content-Transfer-Encoding: base64\r\nContent-ID: <dup@t>\r\n\r\n!!!")
    msg = parse_mtom(ctype.replace('start="<', 'start="<nope'), body)
    rules = {p[0] for p in msg.problems}
    assert {"DMP.MTOM.cid", "DMP.MTOM.base64", "DMP.MTOM.start"} <= rules
    assert msg.root.body == SOAP  # fell back to the first part


def test_missing_part_and_bad_xml_become_findings_in_the_request() -> None:
    env = (b'<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope" xmlns:xdsb="urn:ihe:iti:xds-b:2007" '
           b'xmlns:xop="http://www.w3.org/2004/08/xop/include"><soap:Body><xdsb:ProvideAndRegisterDocumentSetRequest>'
           b'<xdsb:Document id="D1"><xop:Include href="cid:absent@t"/></xdsb:Document>'
           b'</xdsb:ProvideAndRegisterDocumentSetRequest></soap:Body></soap:Envelope>')
    ctype, body = build_mtom(env, [])
    req = parse_request(body, ctype, artefact="x.http")
    rules = {f.rule for f in req.problems}
    assert "DMP.MTOM.missing_part" in rules and "DMP.XDS.no_submit" in rules
    assert req.documents == {"D1": None}
    for hostile in (b'<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>', b"<a>" * 300 + b"</a>" * 300, b"<unclosed>"):
        ctype, body = build_mtom(hostile, [])
        req = parse_request(body, ctype, artefact="h.http")
        assert [f.rule for f in req.problems] == ["DMP.SOAP.unreadable"] and req.submission is None


def test_http_capture_with_chunked_body() -> None:
    ctype, body = _message()
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 100]), body[i:i + 100]) for i in range(0, len(body), 100))
    raw = (b"POST /dmp/repository HTTP/1.1\r\nHost: x\r\nContent-Type: " + ctype.encode() +
           b"\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n")
    method, path, headers, got = parse_http_capture(raw)
    assert (method, path, got) == ("POST", "/dmp/repository", body)
    assert headers["content-type"] == ctype


def test_unreadable_capture_is_a_finding() -> None:
    req = load_artefact("dmp/bad.http", b"\x00\x01 garbage without headers")
    assert [f.rule for f in req.problems] == ["DMP.HTTP.unreadable"]
