"""Layer 1: CDA_extended.xsd validation (lxml), on a synthetic schema and on the official kit."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from lxml import etree

from conformance.cda.kit import Kit
from conformance.cda.xsd import MAX_ERRORS, RULE, XsdValidator
from conformance.findings import NotEvaluated, Severity
from conformance.safexml import parse_bytes, parse_file

SHARED = Path(os.environ.get("SEGUR_SHARED") or Path(__file__).resolve().parents[2] / "shared")
OFFICIAL = SHARED / "cisis-kit"
needs_kit = pytest.mark.skipif(
    not OFFICIAL.is_dir(), reason=f"official CI-SIS kit absent ({OFFICIAL}); set SEGUR_SHARED"
)
HL7 = "urn:hl7-org:v3"

TINY_XSD = """<?xml version="1.0"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:hl7-org:v3"
  xmlns="urn:hl7-org:v3" elementFormDefault="qualified">
  <xs:element name="ClinicalDocument"><xs:complexType><xs:sequence>
    <xs:element name="title" type="xs:string"/>
    <xs:element name="effectiveTime" minOccurs="0"><xs:complexType>
      <xs:attribute name="value"><xs:simpleType><xs:restriction base="xs:string">
        <xs:pattern value="[0-9]{8,14}"/></xs:restriction></xs:simpleType></xs:attribute>
    </xs:complexType></xs:element>
    <xs:element name="item" minOccurs="0" maxOccurs="unbounded" type="xs:string"/>
  </xs:sequence></xs:complexType></xs:element>
</xs:schema>
"""


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEGUR_CONFORMANCE_CACHE", str(tmp_path / "cache"))


def tiny_kit(root: Path, xsd: str = TINY_XSD) -> Kit:
    (root / "infrastructure/cda").mkdir(parents=True)
    (root / "infrastructure/cda/CDA_extended.xsd").write_text(xsd)
    (root / "schematrons").mkdir()
    return Kit.open(root)


def doc(body: str) -> etree._ElementTree:
    return parse_bytes(f'<ClinicalDocument xmlns="{HL7}">\n{body}\n</ClinicalDocument>'.encode())


def test_valid_document_has_no_finding(tmp_path: Path) -> None:
    v = XsdValidator(tiny_kit(tmp_path / "k"))
    assert v.validate(doc('<title>t</title><effectiveTime value="20240101"/>'), "ok.xml") == []


def test_unexpected_element_and_bad_value(tmp_path: Path) -> None:
    v = XsdValidator(tiny_kit(tmp_path / "k"))
    out = v.validate(doc('<effectiveTime value="20240101"/>\n<title>t</title>'), "order.xml")
    assert len(out) == 1 and out[0].severity is Severity.ERROR and out[0].rule == RULE
    assert out[0].line == 2 and out[0].xpath == "/cda:ClinicalDocument[1]/cda:effectiveTime[1]"
    assert out[0].expected == "title" and out[0].found == "effectiveTime"
    out = v.validate(doc('<title>t</title>\n<effectiveTime value="2024-01-01"/>'), "bad.xml")
    assert len(out) == 1 and out[0].line == 3
    assert out[0].found == "2024-01-01" and "CDA_extended.xsd" in out[0].message and out[0].message_en
    assert out[0].artefact == "bad.xml"


def test_error_cap(tmp_path: Path) -> None:
    v = XsdValidator(tiny_kit(tmp_path / "k"))
    body = "<title>t</title>" + "".join(f"\n<item bad=\"{i}\">x</item>" for i in range(MAX_ERRORS + 50))
    out = v.validate(doc(body), "many.xml")
    assert len(out) <= MAX_ERRORS + 1
    assert "non détaillées" in out[-1].message


def test_not_cda_and_wrapped_cda(tmp_path: Path) -> None:
    v = XsdValidator(tiny_kit(tmp_path / "k"))
    out = v.validate(parse_bytes(b"<html/>"), "x.html")
    assert [f.rule for f in out] == [RULE] and "ClinicalDocument" in out[0].message
    wrapped = parse_bytes(
        f'<wrapper xmlns="urn:x">\n<ClinicalDocument xmlns="{HL7}">\n<bad/>\n</ClinicalDocument></wrapper>'.encode()
    )
    out = v.validate(wrapped, "w.xml")
    assert any("encapsulé" in f.message and f.line == 3 for f in out), out


def test_schema_is_compiled_once_per_kit(tmp_path: Path) -> None:
    kit = tiny_kit(tmp_path / "k")
    assert XsdValidator(kit)._schema is XsdValidator(kit)._schema


def test_unusable_schema_is_not_evaluated(tmp_path: Path) -> None:
    with pytest.raises(NotEvaluated) as exc:
        XsdValidator(tiny_kit(tmp_path / "k", xsd="<xs:schema xmlns:xs='http://www.w3.org/2001/XMLSchema'><xs:element/></xs:schema>"))
    assert "XSD" in exc.value.reason


@needs_kit
@pytest.mark.parametrize(
    "name",
    [
        "VSM_1.4_2022.01.xml",
        "DLU-EHPAD-DLU_2022.01.xml",
        "DLU-EHPAD-FLUDR_2022.01.xml",
        "DLU-EHPAD-FLUDT_2022.01.xml",
        "IPS-FR_2024.01.xml",
        "IPS-FR_2024.01_DLU.xml",
        "BIO-CR-BIO_2021.01_Auto-Presentable.xml",
    ],
)
def test_official_examples_are_valid(name: str) -> None:
    v = XsdValidator(Kit.open(OFFICIAL))
    assert v.validate(parse_file(str(OFFICIAL / "ExemplesCDA" / name)), name) == []


@needs_kit
def test_official_examples_extra_are_valid() -> None:
    v = XsdValidator(Kit.open(OFFICIAL))
    for p in sorted((SHARED / "examples-extra").glob("*.xml")):
        assert v.validate(parse_file(str(p)), p.name) == [], p.name


@needs_kit
def test_official_mutants_are_caught() -> None:
    """baseline.md §6: M05 (author removed), M06 (bad timestamp), M07 (custodian removed)."""
    v = XsdValidator(Kit.open(OFFICIAL))
    path = str(OFFICIAL / "ExemplesCDA" / "VSM_1.4_2022.01.xml")
    for what in ("author", "effectiveTime", "custodian"):
        tree = parse_file(path)
        root = tree.getroot()
        el = root.find(f"{{{HL7}}}{what}")
        if what == "effectiveTime":
            el.set("value", "2020-03-12T11:17:00+01:00")
        else:
            root.remove(el)
        out = v.validate(tree, f"M-{what}.xml")
        assert out and all(f.rule == RULE and f.line for f in out), what
        if what == "effectiveTime":
            assert out[0].found == "2020-03-12T11:17:00+01:00"
        else:
            assert what in out[0].expected or what in out[0].message
