"""Header reading (shared with the DMP and MSSanté rooms), type detection and the N1 body checks."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from segur_reference_dui.documents import make_pdf, render

from conformance.cda.detect import N1_GENERIC, UNKNOWN, detect, doc_type_for_code, header_format_code
from conformance.cda.n1 import check_n1_body, check_pdf, decode_base64
from conformance.ihe.cda_header import read_header, to_utc
from conformance.ins.matricule import make_matricule
from conformance.safexml import parse_bytes

SHARED = Path(os.environ.get("SEGUR_SHARED") or Path(__file__).resolve().parents[2] / "shared")
EXAMPLES = SHARED / "cisis-kit" / "ExemplesCDA"
EXTRA = SHARED / "examples-extra"
needs_shared = pytest.mark.skipif(not EXAMPLES.is_dir(), reason=f"../shared absent ({SHARED}); set SEGUR_SHARED")

RESIDENT = {"id": "R1", "status": "QUAL", "used_name": "MARTIN", "used_given_name": "MARIE",
            "ins": {"matricule": make_matricule("2380463113123"), "oid": "1.2.250.1.213.1.4.10"},
            "traits": {"birth_name": "DUPONT", "given_names": ["MARIE", "LOUISE"], "first_given_name": "MARIE",
                       "birth_date": "1938-04-12", "sex": "F", "birthplace_code": "63113"}}


@needs_shared
def test_read_header_of_the_official_dlu() -> None:
    h = read_header(parse_bytes((EXAMPLES / "DLU-EHPAD-DLU_2022.01.xml").read_bytes()))
    assert h.type_code is not None and (h.type_code.code, h.type_code.system) == ("74207-2", "2.16.840.1.113883.6.1")
    assert h.title == "DOCUMENT DE LIAISON D'URGENCE"
    assert h.creation_time == "20200327153500+0100" and h.creation_time_utc == "20200327143500"
    assert h.confidentiality_code.code == "N" and h.language == "fr-FR"
    assert h.healthcare_facility_type_code.code == "SA17" and h.practice_setting_code.code == "ETABLISSEMENT"
    assert h.service_start == "20200327153500+0100" and h.service_stop == "20200327155500+0100"
    assert h.unique_id == "1.2.250.1.213.1.1.1.22.2022.1.1" and h.set_id == "1.2.250.1.213.1.1.1.22.2022.1"
    assert h.version == "1" and h.patient_id == ("1.2.250.1.213.1.4.10", "279035121518989")
    assert h.ins == ("1.2.250.1.213.1.4.10", "279035121518989")
    assert h.authors[0].id_extension == "801234567897" and h.authors[0].organization.id_extension == "1750803447"
    assert h.legal_authenticator.family == "BOILEAU" and h.related_document is None
    assert h.structured and header_format_code(h) == "urn:asip:ci-sis:dlu:2015"
    assert [c.code for c in h.event_codes] == ["34117-2"]


@needs_shared
def test_read_header_of_n1_and_replacement_examples() -> None:
    n1 = read_header(parse_bytes((EXAMPLES / "DOC_NON_STRUCTURE_CDA-R2-N1.xml").read_bytes()))
    assert not n1.structured and n1.media_type == "application/pdf" and n1.representation == "B64"
    assert header_format_code(n1) == "urn:ihe:iti:xds-sd:pdf:2008"
    ips = read_header(parse_bytes((EXAMPLES / "IPS-FR_2024.01.xml").read_bytes()))
    assert ips.related_document == "8D5E778C-E155-4685-95C6-5FF65A362964" and ips.related_document_type == "RPLC"
    assert header_format_code(ips) == "urn:ihe:pcc:ips:2020"


def test_read_header_never_raises_on_a_bare_document() -> None:
    h = read_header(parse_bytes(b'<ClinicalDocument xmlns="urn:hl7-org:v3"/>'))
    assert h.type_code is None and h.unique_id == "" and h.patient_id is None and h.authors == ()
    assert h.creation_time_utc is None


@pytest.mark.parametrize("value, utc", [
    ("20200327153500+0100", "20200327143500"), ("20200101003000+0200", "20191231223000"),
    ("202003271535-0500", "202003272035"), ("20200327", "20200327"), ("20200327153500", None),
    ("garbage", None), ("20201340120000+0100", None),
])
def test_to_utc(value: str, utc: str | None) -> None:
    assert to_utc(value) == utc


@needs_shared
@pytest.mark.parametrize("path, doc_type, structured", [
    (EXAMPLES / "VSM_1.4_2022.01.xml", "VSM", True),
    (EXAMPLES / "DLU-EHPAD-DLU_2022.01.xml", "DLU", True),
    (EXAMPLES / "DLU-EHPAD-FLUDT_2022.01.xml", "FLUDT", True),
    (EXAMPLES / "DLU-EHPAD-FLUDR_2022.01.xml", "FLUDR", True),
    (EXAMPLES / "IPS-FR_2024.01.xml", "IPS-FR", True),
    (EXAMPLES / "IPS-FR_2024.01_DLU.xml", "IPS-FR", True),
    (EXAMPLES / "DOC_NON_STRUCTURE_CDA-R2-N1.xml", N1_GENERIC, False),
    (EXTRA / "PPS-PAERPA_2021.01.xml", "PPS", True),
    (EXTRA / "CDA_TDDUI_Exemple_v1.0.1.xml", "EXPORT-DUI", True),
])
def test_detect_official_examples(path: Path, doc_type: str, structured: bool) -> None:
    d = detect(parse_bytes(path.read_bytes()))
    assert (d.doc_type, d.structured) == (doc_type, structured)


@pytest.mark.parametrize("doc_type", ["PPA", "DLU", "VSM", "IPS-FR", "PPS", "GRILLE-EVAL", "PAI"])
def test_detect_generated_documents(doc_type: str) -> None:
    d = detect(parse_bytes(render(doc_type, RESIDENT, [])))
    assert d.doc_type == doc_type and d.notes == ()


def test_detect_conflicts_and_unknowns() -> None:
    wrong = detect(parse_bytes(render("DLU", RESIDENT, ["wrong_code"])))
    assert wrong.doc_type == "DLU" and "inattendu" in wrong.notes[0]
    unknown = detect(parse_bytes(b'<ClinicalDocument xmlns="urn:hl7-org:v3"><templateId root="1.2.3"/>'
                                 b'<code code="74207-2"/></ClinicalDocument>'))
    assert unknown.doc_type == UNKNOWN and "DLU" in unknown.notes[0]
    assert detect(parse_bytes(b"<other/>")).doc_type == UNKNOWN
    assert doc_type_for_code("80788-3") == "PPA" and doc_type_for_code("74207-2") == "DLU"
    assert doc_type_for_code("99999-9") is None


def _n1(text: bytes | str, media: str = "application/pdf") -> bytes:
    body = text if isinstance(text, str) else base64.b64encode(text).decode()
    return (f'<ClinicalDocument xmlns="urn:hl7-org:v3"><component><nonXMLBody><text mediaType="{media}" '
            f'representation="B64">{body}</text></nonXMLBody></component></ClinicalDocument>').encode()


def _rules(data: bytes) -> set[str]:
    return {f.rule for f in check_n1_body(parse_bytes(data).getroot(), "n1.xml", ("SC.DOC/va1.04",))
            if f.is_error}


def test_n1_body_good_pdf_passes() -> None:
    findings = check_n1_body(parse_bytes(_n1(make_pdf(["Bonjour (test) \\ é"]))).getroot(), "n1.xml")
    assert not [f for f in findings if f.is_error]
    assert {f.rule for f in findings} >= {"CDA.N1.pdf.ok", "CDA.N1.pdf.pdfa"}


@pytest.mark.parametrize("data, rule", [
    (_n1(make_pdf(["x"])[:200]), "CDA.N1.pdf.eof"),
    (_n1(b"GIF89a not a pdf"), "CDA.N1.body.mediaType"),
    (_n1("@@@ not base64 @@@"), "CDA.N1.body.base64"),
    (_n1(""), "CDA.N1.body.empty"),
    (_n1(make_pdf(["x"]), "text/plain"), "CDA.N1.body.mediaType"),
])
def test_n1_body_broken_inputs_fail(data: bytes, rule: str) -> None:
    assert rule in _rules(data)


def test_pdf_that_looks_complete_but_does_not_open() -> None:
    pytest.importorskip("pypdf", reason="pypdf absent: only the structural PDF checks run")
    assert "CDA.N1.pdf.open" in _rules(_n1(b"%PDF-1.4\n1 0 obj << >> endobj\nstartxref\n0\n%%EOF\n"))


def test_pdf_checks_without_a_pdf_header() -> None:
    assert [f.rule for f in check_pdf(b"hello")] == ["CDA.N1.pdf.header"]


def test_base64_size_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    import conformance.cda.n1 as n1

    monkeypatch.setattr(n1, "MAX_DECODED_BYTES", 10)
    with pytest.raises(ValueError, match="volumineux"):
        decode_base64(base64.b64encode(b"x" * 100))
