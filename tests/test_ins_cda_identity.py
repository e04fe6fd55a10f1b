"""The recordTarget identity of a CDA: INS root and key, traits with BR/CL qualifiers, Règle 28, and
hostile documents (one finding, never a traceback)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conformance.findings import Severity
from conformance.ins.cda_identity import check_cda_identity, extract_identity
from conformance.ins.insi import fixtures as fx
from conformance.safexml import parse_bytes

IDENT = fx.identity("qualifiable")
RESIDENT = {"id": "R1", "status": "QUAL", "traits": IDENT.traits(),
            "ins": {"matricule": IDENT.matricule, "oid": IDENT.oid}}


def cda(*, ins: tuple[str, str] | None = (IDENT.matricule, IDENT.oid), family_br: str | None = IDENT.birth_name,
        given: str | None = "MARIE-CLAIRE ANNE", given_br: str | None = "MARIE-CLAIRE", birth: str | None = "19410512",
        gender: str | None = "F", county: str | None = "63113", targets: int = 1, extra_ids: str = "") -> bytes:
    def opt(tag: str, value: str | None, attr: str = "") -> str:
        if value is None:
            return ""
        return f"<{tag} {attr}/>".replace("{v}", value) if "{v}" in attr else f"<{tag}>{value}</{tag}>"

    ins_id = f'<id root="{ins[1]}" extension="{ins[0]}"/>' if ins else ""
    name = "".join([
        f'<family qualifier="BR">{family_br}</family>' if family_br is not None else "",
        f"<given>{given}</given>" if given is not None else "",
        f'<given qualifier="BR">{given_br}</given>' if given_br is not None else "",
        '<family qualifier="CL">LAFONTAINE</family><given qualifier="CL">MARIE</given>',
    ])
    patient = "".join([
        f"<name>{name}</name>",
        f'<administrativeGenderCode code="{gender}" codeSystem="2.16.840.1.113883.5.1"/>' if gender is not None else "",
        f'<birthTime value="{birth}"/>' if birth is not None else "",
        f"<birthplace><place><addr><county>{county}</county></addr></place></birthplace>" if county is not None else "",
    ])
    target = (f'<recordTarget><patientRole>{ins_id}<id root="1.2.3.4.5" extension="IPP1"/>{extra_ids}'
              f"<patient>{patient}</patient></patientRole></recordTarget>")
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<ClinicalDocument xmlns="urn:hl7-org:v3">\n'
            f'<realmCode code="FR"/>\n{target * targets}\n</ClinicalDocument>').encode()


def errors(findings):
    return [f.rule for f in findings if f.severity is Severity.ERROR]


def test_good_document_passes_alone_and_against_the_resident() -> None:
    assert errors(check_cda_identity(cda(), "good.xml")) == []
    findings = check_cda_identity(cda(), "good.xml", resident=RESIDENT, requirements=("SC.INS/va1.53",))
    assert errors(findings) == []
    assert any(f.rule == "INS.CDA.ok" and f.requirements == ("SC.INS/va1.53",) for f in findings)


def test_unqualified_resident_document_without_ins_passes() -> None:
    for status in ("PROV", "RECUP", "VALI"):
        resident = {**RESIDENT, "status": status, "ins": None if status != "RECUP" else RESIDENT["ins"]}
        assert errors(check_cda_identity(cda(ins=None), "x.xml", resident=resident)) == []


@pytest.mark.parametrize("status", ["PROV", "RECUP", "VALI"])
def test_ins_for_a_non_qualified_identity_fails_regle_28(status: str) -> None:
    findings = check_cda_identity(cda(), "x.xml", resident={**RESIDENT, "status": status})
    assert errors(findings) == ["INS.CDA.unqualified"]
    f = [x for x in findings if x.is_error][0]
    assert "Règle 28" in f.message and "Rule 28" in f.message_en and f.line == 4 and "recordTarget" in f.xpath


@pytest.mark.parametrize("kw,rule", [
    ({"family_br": None}, "INS.CDA.trait.birth_name"),
    ({"given": None}, "INS.CDA.trait.given_names"),
    ({"given_br": None}, "INS.CDA.trait.first_given_name"),
    ({"birth": None}, "INS.CDA.trait.birth_time"),
    ({"gender": None}, "INS.CDA.trait.gender"),
    ({"county": None}, "INS.CDA.trait.birthplace"),
    ({"county": "   "}, "INS.CDA.trait.birthplace"),
    ({"gender": "X"}, "INS.CDA.trait.gender.code"),
    ({"county": "PARIS"}, "INS.CDA.trait.birthplace.code"),
    ({"ins": ("241056311390131", IDENT.oid)}, "INS.MAT.key"),
    ({"ins": ("24105631139013", IDENT.oid)}, "INS.MAT.length"),
    ({"ins": (IDENT.matricule, "1.2.250.1.213.1.4.2")}, "INS.OID.insc"),
    ({"targets": 2}, "INS.CDA.recordTarget"),
    ({"targets": 0}, "INS.CDA.recordTarget"),
])
def test_broken_documents_fail_with_the_rule(kw: dict, rule: str) -> None:
    assert rule in errors(check_cda_identity(cda(**kw), "bad.xml"))


def test_traits_must_equal_the_stored_identity() -> None:
    recased = cda(family_br="D'Essai-Lafontaine")
    findings = check_cda_identity(recased, "x.xml", resident=RESIDENT)
    assert "INS.CDA.trait-mismatch.birth_name" in errors(findings)
    other = {**RESIDENT, "ins": {"matricule": "279035121518989", "oid": IDENT.oid}}
    assert "INS.CDA.ins-mismatch" in errors(check_cda_identity(cda(), "x.xml", resident=other))


def test_inferred_rules_are_warnings() -> None:
    findings = check_cda_identity(cda(given="Marie-Claire Anne", given_br="Anne"), "x.xml")
    assert errors(findings) == []
    warned = {f.rule for f in findings if f.severity is Severity.WARNING}
    assert {"INS.CDA.format.given_names", "INS.CDA.trait.consistency"} <= warned
    qual_without = check_cda_identity(cda(ins=None), "x.xml", resident=RESIDENT)
    assert errors(qual_without) == [] and any(f.rule == "INS.CDA.qual-without-ins" for f in qual_without)
    two = check_cda_identity(cda(extra_ids=f'<id root="{IDENT.oid}" extension="{IDENT.matricule}"/>'), "x.xml")
    assert any(f.rule == "INS.CDA.ins-count" for f in two)


def test_extract_identity() -> None:
    ident = extract_identity(parse_bytes(cda()))
    assert ident.ins == (IDENT.matricule, IDENT.oid)
    assert ident.birth_name.value == IDENT.birth_name and ident.used_name.value == "LAFONTAINE"
    assert ident.given_names.value == "MARIE-CLAIRE ANNE" and ident.used_given_name.value == "MARIE"
    assert ident.other_ids == [("1.2.3.4.5", "IPP1")]


@pytest.mark.parametrize("data,rule", [
    (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]><ClinicalDocument xmlns="urn:hl7-org:v3">&e;'
     b"</ClinicalDocument>", "INS.CDA.parse"),
    (b"<ClinicalDocument xmlns='urn:hl7-org:v3'><recordTarget>", "INS.CDA.parse"),
    (b"", "INS.CDA.parse"),
    (b"\xff\xfe garbage", "INS.CDA.parse"),
    (b"<a>" * 300 + b"</a>" * 300, "INS.CDA.parse"),
    (b"<html><body>not a cda</body></html>", "INS.CDA.root"),
])
def test_hostile_documents_give_one_finding(data: bytes, rule: str) -> None:
    findings = check_cda_identity(data, "hostile.xml")
    assert [f.rule for f in findings] == [rule] and findings[0].artefact == "hostile.xml"


def test_oversize_document_is_rejected_with_a_finding() -> None:
    big = cda().replace(b"</ClinicalDocument>", b"<!--" + b"x" * (51 * 1024 * 1024) + b"--></ClinicalDocument>")
    assert errors(check_cda_identity(big, "big.xml")) == ["INS.CDA.parse"]


def test_non_ascii_traits_are_handled() -> None:
    findings = check_cda_identity(cda(family_br="ŒUF-ÉTÉ", given="ZOË", given_br="ZOË"), "x.xml")
    assert errors(findings) == []
    assert any(f.severity is Severity.WARNING for f in findings)


@pytest.mark.needs_shared
def test_official_dlu_and_dui_examples() -> None:
    env = os.environ.get("SEGUR_SHARED")
    shared = Path(env) if env else Path(__file__).resolve().parents[2] / "shared"
    if not shared.is_dir():
        pytest.skip("../shared absent (SEGUR_SHARED non défini) : exemples officiels indisponibles")
    examples = sorted((shared / "cisis-kit" / "ExemplesCDA").glob("DLU-EHPAD-*.xml"))
    assert examples
    for path in examples:
        findings = check_cda_identity(path.read_bytes(), path.name)
        assert errors(findings) == [], path.name
        ident = extract_identity(parse_bytes(path.read_bytes()))
        assert ident.ins == ("279035121518989", "1.2.250.1.213.1.4.10")
