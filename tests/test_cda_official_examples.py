"""Issue 12: the built-in rules are never stricter than the official chain without a cited source.

* Every published ANS example that the official chain accepts (XSD + schematrons, measured: 83 of the 96
  files of ../shared, see OFFICIAL_REJECTS) has no ERROR on the built-in rules.
* Every built-in rule carries its basis, source and scope; ``inferred`` rules only warn.
* Volet versions, header data types and the N1 judgement: one clear finding each.

The examples are read from ../shared (never copied here); the tests skip with the reason when it is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conformance.cda.models import BASES, load_models, timestamp_problem
from conformance.cda.validate import validate_document

SHARED = Path(os.environ.get("SEGUR_SHARED") or Path(__file__).resolve().parents[2] / "shared")
KIT_EXAMPLES = SHARED / "cisis-kit" / "ExemplesCDA"
EXTRA = SHARED / "examples-extra"

# What the official chain itself refuses (measured with conformance.cda.xsd + schematron on kit 3.0 as
# shipped): those examples are not evidence that a built-in rule is too strict.
OFFICIAL_REJECTS = {
    "01_Modèles_contenus_CDA.xml",  # CI-SIS_VSM_2023.01.sch#Entete_VSM_2023
    "BIO-CR-BIO_2021.01_Auto-Presentable.xml",  # an XSLT wrapper, not a ClinicalDocument
    "BIO-CR-BIO_2021.01_Auto-Presentable_avec-image.xml",
    "CANCER-PPS_2022.01_Autopresentable.xml",
    "BIO-CR-BIO_2023.01_Electrophorese.xml",  # its schematron is not evaluable (missing includes in the kit)
    "CANCER-FRCP_2022.01_Appareil.xml",  # CI-SIS_ModelesDeContenusCDA.sch#JDV_assignedAuthorCode
    "CANCER-FRCP_2022.01_Transversale.xml",
    "TLM-DA_2022.01_TCG.xml",
    "TLM-DA_2022.01_TCG_anamnèse-non-structurée.xml",
    "TLM-DA_2022.01_TE1_anamnèse-non-structurée.xml",
    "eDISP-MED_2024.01.xml",  # StrucMin
    "CDA_TDDUI_Exemple_v1.0.1.xml",  # IHE.sch / ModelesDeContenusCDA (written for another kit)
    "PPS-PAERPA_2021.01.xml",  # StrucMin RNIV, JDV_problemCodes (kit 2.41 example)
}
# Rules of the INS room, stricter than the official chain on the INS referential's word (the matricule key is
# 97 - NIR mod 97): the ANS examples carry invented matricules whose key is wrong. Sourced, so not demoted here.
INS_SOURCED = {"INS.MAT.key"}


def _accepted() -> list[Path]:
    if not KIT_EXAMPLES.is_dir():
        return []
    files = sorted(KIT_EXAMPLES.glob("*.xml")) + sorted(EXTRA.glob("*.xml"))
    return [p for p in files if p.name not in OFFICIAL_REJECTS]


@pytest.mark.skipif(not KIT_EXAMPLES.is_dir(), reason=f"ANS examples absent ({KIT_EXAMPLES}); set SEGUR_SHARED")
def test_examples_the_official_chain_accepts_conform_on_builtin_rules() -> None:
    files = _accepted()
    assert len(files) >= 80, len(files)
    problems: dict[str, list[str]] = {}
    ins_only = 0
    for path in files:
        result = validate_document(path.read_bytes(), path.name, layers=("models",))
        assert "models" in result.layers_run, path.name
        errors = {f.rule for f in result.errors}
        if errors and errors <= INS_SOURCED:
            ins_only += 1
        elif errors:
            problems[path.name] = sorted(errors)
    assert problems == {}
    assert ins_only <= 11  # measured; a new INS finding on an example must be looked at, not absorbed


@pytest.mark.skipif(not KIT_EXAMPLES.is_dir(), reason=f"ANS examples absent ({KIT_EXAMPLES}); set SEGUR_SHARED")
def test_2025_volet_and_rules_demoted_by_issue_12_only_warn() -> None:
    """The 2025 CSE example: no author organisation id and a date without offset only warn."""
    data = (KIT_EXAMPLES / "CSE-CS24_2025.01.xml").read_bytes()
    data = data.replace(b'<effectiveTime value="20210803113623+0100"/>', b'<effectiveTime value="20210803"/>', 1)
    result = validate_document(data, "cse.xml", layers=("models",))
    warned = {f.rule for f in result.warnings}
    assert "CDA.HDR.effectiveTime.tz" in warned
    assert not {f.rule for f in result.errors} - INS_SOURCED


def test_every_builtin_rule_has_basis_source_and_scope() -> None:
    models = load_models()
    count = 0
    for model in models:
        stack = list(model.rules)
        while stack:
            rule = stack.pop()
            stack.extend(rule.rules)
            if rule.kind == "when":
                continue
            count += 1
            assert rule.basis in BASES, rule.id
            assert rule.source.strip() and rule.scope.strip(), rule.id
    assert count > 150


def test_loader_refuses_a_rule_without_scope(tmp_path: Path) -> None:
    from conformance.cda.models import ModelError

    (tmp_path / "m.yaml").write_text(
        'model: M\nsource: "x"\nbasis: official\napplies_to: {doc_types: ["*"]}\n'
        'rules:\n  - {id: R.1, kind: exists, xpath: "h:code", message: a, message_en: b}\n', encoding="utf-8")
    with pytest.raises(ModelError, match="missing scope"):
        load_models(tmp_path, strict=True)


def test_inferred_basis_never_errors(tmp_path: Path) -> None:
    from conformance.cda.models import ModelLibrary, load_builtin_valuesets, run_models
    from conformance.safexml import parse_bytes

    (tmp_path / "m.yaml").write_text(
        'model: M\nsource: "x"\nscope: "y"\nbasis: inferred\napplies_to: {doc_types: ["*"]}\n'
        'rules:\n  - {id: R.1, kind: exists, xpath: "h:nothing", message: a, message_en: b}\n', encoding="utf-8")
    lib = ModelLibrary(load_models(tmp_path, strict=True), load_builtin_valuesets())
    tree = parse_bytes(b'<ClinicalDocument xmlns="urn:hl7-org:v3"/>')
    findings, _ = run_models(tree, "a.xml", "X", True, library=lib)
    assert [f.severity.value for f in findings if f.rule == "R.1"] == ["warning"]


@pytest.mark.parametrize(("value", "bad"), [
    ("20260230", True), ("20261301", True), ("202612072500+0100", True), ("20261207", False),
    ("20240229", False), ("20230229", True), ("20240106113623+100", False), ("20240106113623+1600", True),
    ("2026", False), ("291812011200+0100", False),
])
def test_timestamps_are_real_dates(value: str, bad: bool) -> None:
    problem = timestamp_problem(value)
    assert (problem is not None and problem[2]) is bad, (value, problem)


def test_malformed_offset_only_warns_and_impossible_date_errors() -> None:
    from segur_reference_dui import documents

    who = {"id": "R1", "traits": {"birth_name": "TEST", "given_names": ["ALICE"], "first_given_name": "ALICE",
                                  "birth_date": "1941-06-15", "sex": "F", "birthplace_code": "75056"}}
    data = documents.render("DLU", who, [])
    bad = data.replace(b'<languageCode code="fr-FR"/>', b'<languageCode code="xx-XX"/>', 1)
    assert bad != data
    result = validate_document(bad, "d.xml", layers=("models",))
    assert "CDA.HDR.languageCode.bcp47" in {f.rule for f in result.errors}


def test_volet_version_not_implemented_is_one_finding() -> None:
    from segur_reference_dui import documents

    who = {"id": "R1", "traits": {"birth_name": "TEST", "given_names": ["ALICE"], "first_given_name": "ALICE",
                                  "birth_date": "1941-06-15", "sex": "F", "birthplace_code": "75056"}}
    data = documents.render("DLU", who, ["missing_section"])
    newer = data.replace(b'root="1.2.250.1.213.1.1.1.22" extension="2022.01"',
                         b'root="1.2.250.1.213.1.1.1.22" extension="2026.01"', 1)
    assert newer != data
    result = validate_document(newer, "d.xml", layers=("models",))
    assert [f.rule for f in result.warnings if f.rule == "CDA.MODEL.VOLET_VERSION"] == ["CDA.MODEL.VOLET_VERSION"]
    assert "DLU" not in result.models
    assert not [f for f in result.errors if f.rule.startswith("CDA.DLU.")]
    # the same document in its real version is judged by the DLU model
    assert "CDA.DLU.section.3.19" in {f.rule for f in validate_document(data, "d.xml", layers=("models",)).errors}


@pytest.mark.parametrize(("doc_type", "severity"), [("PPS", "info"), ("GRILLE-EVAL", "info"), ("DLU", "warning")])
def test_n1_form_is_judged_per_type(doc_type: str, severity: str) -> None:
    from conformance.cda.models import ModelLibrary
    from conformance.cda.validate import n1_form_findings

    found = n1_form_findings(doc_type, "MS1", ModelLibrary.default(), "x.xml")
    assert [f.severity.value for f in found] == [severity]
    assert found[0].rule == "CDA.N1.form" and "rem.md" in found[0].message


def test_pdfa_identification_is_read_from_xmp() -> None:
    """Issue 12 item 16: the PDF/A identification is read from the XMP metadata by pypdf (a PDF written by
    pypdf itself, not by our builders); its absence warns, PDF/A-1 declared is recorded, conformance is manual."""
    import io

    from pypdf import PdfWriter
    from pypdf.xmp import XmpInformation

    from conformance.cda.n1 import check_pdf, pdfa_identification

    def pdf(part: str | None) -> bytes:
        writer = PdfWriter()
        writer.add_blank_page(200, 200)
        if part:
            xmp = XmpInformation.create()
            xmp.pdfaid_part, xmp.pdfaid_conformance = part, "B"
            writer.xmp_metadata = xmp
        out = io.BytesIO()
        writer.write(out)
        return out.getvalue()

    assert pdfa_identification(pdf("1")) == ("1", "B")
    severities = {f.rule: f.severity.value for f in check_pdf(pdf("1"))}
    assert severities["CDA.N1.pdf.pdfa"] == "info"
    assert {f.rule: f.severity.value for f in check_pdf(pdf("2"))}["CDA.N1.pdf.pdfa"] == "warning"
    assert {f.rule: f.severity.value for f in check_pdf(pdf(None))}["CDA.N1.pdf.pdfa"] == "warning"
