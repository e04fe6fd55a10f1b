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


# ---------------------------------------------------------------------------------------------
# issue 15: node count, XInclude, encodings (hand-written inputs in tests/data/hostile/)
# ---------------------------------------------------------------------------------------------
from pathlib import Path  # noqa: E402

from conformance.safexml import MAX_NODES, NODE_FLOOR, document_encoding  # noqa: E402

HOSTILE = Path(__file__).resolve().parent / "data" / "hostile"
KIT_DLU = Path(__file__).resolve().parents[2] / "shared" / "cisis-kit" / "ExemplesCDA" / "DLU-EHPAD-DLU_2022.01.xml"


def test_a_dense_document_is_refused_on_its_node_count_before_any_tree_is_built() -> None:
    # 700,000 empty siblings in 2.8 MB: 31x the bytes as a libxml2 tree; the budget is one node per 14 bytes
    doc = b"<a>" + b"<b/>" * 700_000 + b"</a>"
    with pytest.raises(XmlRejected) as err:
        parse_bytes(doc)
    assert "trop dense" in err.value.reason and "too dense" in err.value.reason_en
    assert "200000" in err.value.reason  # the budget for this size (2,800,007 // 14), named


def test_the_absolute_node_cap_holds_whatever_the_size() -> None:
    doc = b'<a x="1">' + b"<b/>" * 5000 + b"</a>"
    with pytest.raises(XmlRejected) as err:
        parse_bytes(doc, Limits(max_nodes=4000))
    assert "4000" in err.value.reason
    assert parse_bytes(doc, Limits(max_nodes=6000)).getroot().tag == "a"


def test_a_small_or_ordinary_document_is_never_refused_for_its_nodes() -> None:
    assert MAX_NODES == 2_000_000
    small = b"<a>" + b"<b/>" * (NODE_FLOOR // 2 - 10) + b"</a>"  # dense but under the floor
    assert len(parse_bytes(small).getroot()) == NODE_FLOOR // 2 - 10
    if KIT_DLU.is_file():  # a published example: counted with the streaming pass too
        parse_bytes(KIT_DLU.read_bytes(), Limits(max_nodes=10**9))
        parse_bytes(KIT_DLU.read_bytes())


def test_attributes_and_texts_count_as_nodes() -> None:
    # 12,000 elements but 60,001 nodes: each attribute is two nodes (the attribute and its value)
    doc = b"<a>" + b'<b c="1" d="2"/>' * 12_000 + b"</a>"
    with pytest.raises(XmlRejected):
        parse_bytes(doc, Limits(max_nodes=50_000))
    assert parse_bytes(doc, Limits(max_nodes=70_000)) is not None
    texts = b"<a>" + b"<b/>t" * 12_000 + b"</a>"  # 24,001 nodes: each text between two tags is one
    with pytest.raises(XmlRejected):
        parse_bytes(texts, Limits(max_nodes=20_000))
    assert parse_bytes(texts, Limits(max_nodes=30_000)) is not None


def test_an_xinclude_element_is_refused_with_its_line() -> None:
    with pytest.raises(XmlRejected) as err:
        parse_bytes((HOSTILE / "xinclude-cda.xml").read_bytes())
    assert "XInclude" in err.value.reason and err.value.line == 8


@pytest.mark.parametrize("name, encoding", [("utf16-cda.xml", "UTF-16LE"), ("latin1-cda.xml", "ISO-8859-1")])
def test_a_cda_not_in_utf8_is_refused_citing_the_ci_sis(name: str, encoding: str) -> None:
    data = (HOSTILE / name).read_bytes()
    assert document_encoding(data) == encoding
    with pytest.raises(XmlRejected) as err:
        parse_bytes(data)
    assert f"encodé en {encoding}" in err.value.reason
    assert "Structuration minimale" in err.value.reason and "UTF-8" in err.value.reason_en


def test_other_xml_may_use_another_encoding_and_utf8_declarations_pass() -> None:
    assert parse_bytes('<?xml version="1.0" encoding="ISO-8859-1"?><Envelope>\xe9</Envelope>'.encode("latin-1")) \
        is not None
    for decl in (b'<?xml version="1.0" encoding="utf-8"?>', b"\xef\xbb\xbf", b""):
        parse_bytes(decl + b'<ClinicalDocument xmlns="urn:hl7-org:v3"/>')


@pytest.mark.skipif(not KIT_DLU.is_file(), reason="CI-SIS kit not in ../shared")
def test_the_official_dlu_example_reencoded_in_latin1_is_refused() -> None:
    text = KIT_DLU.read_text(encoding="utf-8").replace('encoding="UTF-8"', 'encoding="ISO-8859-1"', 1)
    parse_bytes(KIT_DLU.read_bytes())  # as published: accepted
    with pytest.raises(XmlRejected) as err:
        parse_bytes(text.encode("latin-1", "replace"))
    assert "ISO-8859-1" in err.value.reason


def test_the_cda_layer_turns_each_refusal_into_a_clear_finding() -> None:
    from conformance.cda.validate import validate_document

    for name, needle in (("xinclude-cda.xml", "XInclude"), ("utf16-cda.xml", "UTF-8 obligatoire")):
        result = validate_document((HOSTILE / name).read_bytes(), name, layers=("models",))
        assert [f.rule for f in result.errors] == ["CDA.XML"]
        assert needle in result.errors[0].message
    dense = b'<ClinicalDocument xmlns="urn:hl7-org:v3">' + b"<b/>" * 300_000 + b"</ClinicalDocument>"
    result = validate_document(dense, "dense.xml", layers=("models",))
    assert [f.rule for f in result.errors] == ["CDA.XML"] and "trop dense" in result.errors[0].message
