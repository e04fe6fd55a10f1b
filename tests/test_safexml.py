"""The one hardened XML parser: refusals with clear reasons, and a large N1 body still accepted."""

from __future__ import annotations

import base64

import pytest

from conformance.safexml import Limits, XmlRejected, parse_bytes


def test_a_large_embedded_pdf_over_libxml2_text_limit_is_accepted() -> None:
    body = base64.b64encode(b"%PDF-1.4\n" + b"0" * (9 * 1024 * 1024)).decode()
    doc = f'<ClinicalDocument xmlns="urn:hl7-org:v3"><text>{body}</text></ClinicalDocument>'.encode()
    tree = parse_bytes(doc)
    assert len(tree.getroot()[0].text) == len(body)


def test_depth_is_still_bounded_when_the_text_limit_is_lifted() -> None:
    big = "A" * (11 * 1024 * 1024)
    doc = ("<r><t>" + big + "</t>" + "<a>" * 300 + "</a>" * 300 + "</r>").encode()  # long text first
    with pytest.raises(XmlRejected) as err:
        parse_bytes(doc)
    assert "profonde" in err.value.reason


@pytest.mark.parametrize("data, needle", [
    (b'<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>', "DOCTYPE"),
    (b"<a><b></a>", "mal form"),
    (b"", "mal form"),
    (b"<a>" * 300 + b"</a>" * 300, "mal form"),
])
def test_hostile_or_malformed_xml_is_refused_with_a_reason(data: bytes, needle: str) -> None:
    with pytest.raises(XmlRejected) as err:
        parse_bytes(data)
    assert needle in err.value.reason


def test_size_bound() -> None:
    with pytest.raises(XmlRejected) as err:
        parse_bytes(b"<a/>" + b" " * 200, Limits(max_bytes=100))
    assert "volumineux" in err.value.reason
