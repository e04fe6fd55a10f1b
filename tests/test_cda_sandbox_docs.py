"""The reference sandbox's documents: every type it produces passes the built-in models with no error,
the INS appears only for a qualified identity, and every defect switch of documents.py is caught by
the layer-3 checks (then, end to end, by the CDA suite run against the real sandbox server)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from segur_reference_dui import documents
from segur_reference_dui.defects import all_defects

from conformance.cda.detect import detect
from conformance.cda.validate import check_replacement, validate_document
from conformance.ins.matricule import make_matricule
from conformance.safexml import parse_bytes

TRAITS = {"birth_name": "DUPONT", "given_names": ["MARIE", "LOUISE"], "first_given_name": "MARIE",
          "birth_date": "1938-04-12", "sex": "F", "birthplace_code": "63113"}
INS = {"matricule": make_matricule("2380463113123"), "oid": "1.2.250.1.213.1.4.10"}


def resident(status: str = "QUAL", ins: dict[str, str] | None = INS) -> dict[str, Any]:
    return {"id": "R00042", "traits": TRAITS, "used_name": "MARTIN", "used_given_name": "MARIE", "status": status,
            "ins": ins}


class Stored:
    def __init__(self, cda: bytes) -> None:
        self.cda = cda


def validate(doc_type: str, who: dict[str, Any], defects: tuple[str, ...] = (), replaces: Any = None) -> Any:
    data = documents.render(doc_type, who, defects, replaces=replaces)
    return validate_document(data, f"{doc_type}.xml", expected_type=doc_type, dui=True, resident=who,
                             test_environment=True)


@pytest.mark.parametrize("doc_type", documents.SUPPORTED_TYPES)
def test_every_generated_type_passes_layer_3_with_no_error(doc_type: str) -> None:
    result = validate(doc_type, resident())
    assert result.doc_type == doc_type
    assert result.errors == [], [(f.rule, f.message) for f in result.errors]
    unexpected = {f.rule for f in result.warnings} - {"CDA.N1.pdf.pdfa"}  # no PDF/A claim: see benchmarks note
    assert not unexpected


KIT = Path(os.environ.get("SEGUR_SHARED") or Path(__file__).resolve().parents[2] / "shared") / "cisis-kit"


@pytest.mark.skipif(not (KIT / "schematrons").is_dir(), reason=f"CI-SIS kit absent ({KIT}); set SEGUR_SHARED")
def test_every_generated_type_passes_the_official_kit_layers() -> None:
    """Layers 1 (XSD) and 2 (official schematrons) on every type the sandbox produces, INS or not."""
    from conformance.cda.validate import open_kit, schematron_runner

    kit = open_kit(KIT)
    runner = schematron_runner(kit)
    cases = [(resident(), t) for t in documents.SUPPORTED_TYPES] + [(resident("PROV", None), t) for t in ("PPA", "DLU")]
    for who, doc_type in cases:
        result = validate_document(documents.render(doc_type, who, ()), f"{doc_type}.xml", kit, runner,
                                   layers=("xsd", "schematron"))
        assert result.layers_run == ["xml", "xsd", "schematron"]
        assert result.errors == [], (doc_type, [(f.rule, f.message[:200]) for f in result.errors])


def test_ins_only_for_a_qualified_identity() -> None:
    qualified = parse_bytes(documents.render("DLU", resident(), []))
    assert detect(qualified).doc_type == "DLU"
    ids = qualified.getroot().xpath("//h:patientRole/h:id/@root", namespaces={"h": "urn:hl7-org:v3"})
    assert INS["oid"] in ids
    for status in ("PROV", "RECUP", "VALI"):
        doc = parse_bytes(documents.render("DLU", resident(status), []))
        ids = doc.getroot().xpath("//h:patientRole/h:id/@root", namespaces={"h": "urn:hl7-org:v3"})
        assert INS["oid"] not in ids, status
        assert validate("PPA", resident(status)).errors == []


def test_names_are_escaped_and_traits_kept_exactly() -> None:
    who = resident()
    who["traits"] = dict(TRAITS, birth_name="D'ESSAI-<&>")
    doc = parse_bytes(documents.render("PPA", who, []))
    family = doc.getroot().xpath("//h:family[@qualifier='BR']/text()", namespaces={"h": "urn:hl7-org:v3"})
    assert family == ["D'ESSAI-<&>"]


# defect → (a document type, a rule that must be an ERROR, how to build the resident)
DEFECT_CASES: dict[str, tuple[str, str, str]] = {
    "missing_section": ("DLU", "CDA.DLU.section.3.19", "QUAL"),
    "wrong_code": ("PPA", "CDA.PPA.code", "QUAL"),
    "ins_without_traits": ("VSM", "INS.CDA.trait.birth_name", "QUAL"),
    "ins_for_unqualified": ("PPA", "INS.CDA.unqualified", "RECUP"),
    "author_time_day_first": ("IPS-FR", "CDA.HDR.timestamps", "QUAL"),
    "generic_title": ("DLU", "CDA.TITLE.generic", "QUAL"),
    "xsd_invalid_element": ("DLU", "CDA.XSD", "QUAL"),
    "schematron_violation": ("DLU", "ASIP-STRUCT-MIN", "QUAL"),
    "missing_document_type": ("PPA", "", "QUAL"),
    "wrong_facility_type": ("FLUDT", "CDA.HDR.facility.medicoSocial", "QUAL"),
    "bad_n1_pdf": ("PPA", "CDA.N1.pdf.eof", "QUAL"),
    "n1_wrong_media_type": ("PPA", "CDA.N1.body.mediaType", "QUAL"),
    "two_legal_authenticators": ("FLUDR", "CDA.HDR.legalAuthenticator.count", "QUAL"),
    "gir_out_of_valueset": ("GRILLE-EVAL", "CDA.EVAL.aggir.gir", "QUAL"),
    "replacement_without_link": ("PPA", "CDA.RPLC.missing", "QUAL"),
}


def test_every_documents_defect_has_a_case_and_is_registered() -> None:
    assert set(DEFECT_CASES) == set(documents.DEFECTS)
    registry = all_defects()
    assert all(registry[name][0] == "documents" for name in documents.DEFECTS)
    assert all(text[0].isupper() for text in documents.DEFECTS.values())


H = {"h": "urn:hl7-org:v3"}
KIT = Path(__file__).resolve().parents[2] / "shared" / "cisis-kit"


def _generic_title(doc_type: str, who: Any) -> None:
    """Judged by the CDA suite (SC.CDA/META.01): the title is the bare type label, the models stay clean."""
    root = parse_bytes(documents.render(doc_type, who, ["generic_title"])).getroot()
    assert root.findtext("h:title", namespaces=H) == root.find("h:code", H).get("displayName")
    assert validate(doc_type, who, ("generic_title",)).errors == []


def _xsd_invalid(doc_type: str, who: Any) -> None:
    """Only the kit's XSD sees it: the built-in models stay clean, CDA_extended.xsd refuses it."""
    data = documents.render(doc_type, who, ["xsd_invalid_element"])
    assert validate(doc_type, who, ("xsd_invalid_element",)).errors == []
    if not KIT.is_dir():
        pytest.skip(f"official CI-SIS kit absent ({KIT}): XSD verdict not checked")
    from conformance.cda.validate import validate_document

    result = validate_document(data, "x.xml", KIT, layers=("xsd",))
    assert "CDA.XSD" in {f.rule for f in result.errors}, [f.rule for f in result.findings]


def _schematron_only(doc_type: str, who: Any) -> None:
    """Only StrucMin sees it (at most one given name in the legal authenticator's name): XSD-valid, models clean;
    the official verdict is measured end to end with --cisis-kit (defect_proofs.yaml)."""
    root = parse_bytes(documents.render(doc_type, who, ["schematron_violation"])).getroot()
    assert len(root.findall("h:legalAuthenticator/h:assignedEntity/h:assignedPerson/h:name/h:given", H)) == 2
    assert validate(doc_type, who, ("schematron_violation",)).errors == []


def _missing_type(doc_type: str, who: Any) -> None:
    assert doc_type not in documents.declared_types(["missing_document_type"])
    assert doc_type in documents.declared_types()
    with pytest.raises(documents.UnsupportedDocumentType):
        documents.render(doc_type, who, ["missing_document_type"])


OFFICIAL_ONLY = {"generic_title": _generic_title, "xsd_invalid_element": _xsd_invalid,
                 "schematron_violation": _schematron_only, "missing_document_type": _missing_type}


@pytest.mark.parametrize("defect", sorted(DEFECT_CASES))
def test_each_defect_is_caught(defect: str) -> None:
    doc_type, rule, status = DEFECT_CASES[defect]
    who = resident(status)
    if defect in OFFICIAL_ONLY:
        OFFICIAL_ONLY[defect](doc_type, who)
        return
    if defect == "replacement_without_link":
        first = documents.render(doc_type, who, [])
        second = documents.render(doc_type, who, [defect], replaces=Stored(first))
        findings = check_replacement(parse_bytes(second), parse_bytes(first), "v2.xml")
    else:
        findings = validate(doc_type, who, (defect,)).errors
    assert rule in {f.rule for f in findings if f.is_error}, [(f.rule, f.message) for f in findings]


def test_replacement_keeps_set_id_and_increments_version() -> None:
    first = documents.render("DLU", resident(), [])
    second = documents.render("DLU", resident(), [], replaces=Stored(first))
    assert [f.rule for f in check_replacement(parse_bytes(second), parse_bytes(first), "v2.xml")] == ["CDA.RPLC.ok"]
    assert validate("DLU", resident(), replaces=Stored(first)).errors == []


def test_generated_pdf_opens() -> None:
    pypdf = pytest.importorskip("pypdf")
    import io

    pdf = documents.make_pdf(["Projet personnalisé d'accompagnement", "(parenthèses) et \\ barre"])
    reader = pypdf.PdfReader(io.BytesIO(pdf), strict=True)
    assert len(reader.pages) == 1
    assert "accompagnement" in reader.pages[0].extract_text()


def test_unknown_type_is_refused() -> None:
    with pytest.raises(documents.UnsupportedDocumentType):
        documents.render("NOPE", resident(), [])


# -- end to end: the shipped CDA suite against the real reference sandbox -------------------------------
def run_suite(pytester: pytest.Pytester, *defects: str) -> dict[str, dict[str, Any]]:
    report = pytester.path / ("rep-" + ("-".join(defects) or "compliant"))
    args = ["--pyargs", "conformance.suites.test_cda", "--sandbox-url", "reference", "--segur-profile", "MS1",
            "--segur-report", str(report), "-p", "no:cacheprovider", "-p", "no:benchmark", "-q"]
    for d in defects:
        args += ["--segur-defect", d]
    pytester.runpytest_inprocess(*args)
    results = json.loads((Path(report) / "results.json").read_text(encoding="utf-8"))
    return {r["id"]: r for r in results["requirements"] if r["section"] in ("DOC", "CDA")}


def test_suite_passes_on_the_compliant_sandbox_and_fails_on_defects(pytester: pytest.Pytester) -> None:
    verdicts = {rid: r["verdict"] for rid, r in run_suite(pytester).items()}
    for rid in ("DOC/AUTO.03", "DOC/AUTO.04", "DOC/AUTO.05", "DOC/AUTO.06", "SC.DOC/va1.04", "SC.CDA/META.01"):
        assert verdicts[rid] == "passed", (rid, verdicts[rid])
    assert verdicts["DOC/AUTO.01"] == "not_run" and verdicts["SC.CDA/MSS.01"] == "manual"
    broken = run_suite(pytester, "missing_section", "replacement_without_link", "bad_n1_pdf")
    assert broken["DOC/AUTO.03"]["verdict"] == "failed"
    assert broken["DOC/AUTO.06"]["verdict"] == "failed"
    assert broken["SC.DOC/va1.04"]["verdict"] == "failed"
    failing = {f["rule"] for f in broken["DOC/AUTO.03"]["findings"] if f["severity"] == "error"}
    assert "CDA.DLU.section.3.19" in failing and "CDA.VSM.section.2.32" in failing


def test_artefact_mode_checks_every_file_and_goes_on_after_bad_ones(pytester: pytest.Pytester) -> None:
    folder = pytester.path / "artefacts" / "cda"
    folder.mkdir(parents=True)
    (folder / "a_ppa.xml").write_bytes(documents.render("PPA", resident(), ()))
    (folder / "b_dlu_missing_section.xml").write_bytes(documents.render("DLU", resident(), ("missing_section",)))
    (folder / "c_hostile.xml").write_bytes(b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM '
                                           b'"file:///etc/passwd">]><ClinicalDocument>&e;</ClinicalDocument>')
    (folder / "d_vsm.xml").write_bytes(documents.render("VSM", resident(), ()))
    report = pytester.path / "rep-artefacts"
    pytester.runpytest_inprocess("--pyargs", "conformance.suites.test_cda", "--artefacts",
                                 str(pytester.path / "artefacts"), "--segur-report", str(report),
                                 "-p", "no:cacheprovider", "-p", "no:benchmark", "-q")
    results = json.loads((report / "results.json").read_text(encoding="utf-8"))
    by_id = {r["id"]: r for r in results["requirements"]}
    content = by_id["DOC/AUTO.03"]
    assert content["verdict"] == "failed"
    failing = {f["artefact"]: f["rule"] for f in content["findings"] if f["severity"] == "error"}
    assert failing == {"cda/b_dlu_missing_section.xml": "CDA.DLU.section.3.19", "cda/c_hostile.xml": "CDA.XML"}
    checked = {f["artefact"] for r in results["requirements"] for f in r["findings"] if f["rule"] == "CDA.DETECT"}
    assert {"cda/a_ppa.xml", "cda/d_vsm.xml"} <= checked  # the files after the hostile one were checked too
    assert by_id["DOC/AUTO.06"]["verdict"] == "not_run"  # replacement needs a live sandbox
