"""Matricule INS: our key against python-stdnum (differential), hypothesis over generated matricules
(Corsica 2A/2B included), structure and OID rules, and the official examples' INS."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.fr import nir

from conformance.findings import Severity
from conformance.ins.matricule import (
    OID_INS_C,
    OID_INS_NIA,
    OID_INS_NIR,
    OID_INS_NIR_DEMO,
    OID_INS_NIR_TEST,
    MatriculeError,
    check_matricule,
    compute_key,
    corrupt_key,
    is_valid_matricule,
    make_matricule,
    parse_matricule,
)


def _shared() -> Path | None:
    env = os.environ.get("SEGUR_SHARED")
    path = Path(env) if env else Path(__file__).resolve().parents[2] / "shared"
    return path if path.is_dir() else None


def rules(findings, severity=Severity.ERROR):
    return {f.rule for f in findings if f.severity is severity}


# 13 characters: sex, year, month, department (2 digits, 2A/2B, or 97x/98x with a 2-digit commune), commune, order
departments = st.one_of(
    st.integers(1, 95).map(lambda d: f"{d:02d}"),
    st.sampled_from(["2A", "2B"]),
)
numbers13 = st.builds(
    lambda sex, year, month, dep, commune, order: f"{sex}{year:02d}{month:02d}{dep}{commune:03d}{order:03d}",
    st.sampled_from("12"), st.integers(0, 99), st.integers(1, 12), departments, st.integers(1, 999),
    st.integers(1, 999),
)
any13 = st.one_of(numbers13, st.text("0123456789", min_size=13, max_size=13))


@settings(max_examples=400, deadline=None)
@given(any13)
def test_key_matches_stdnum_on_any_13_digits(number: str) -> None:
    assert compute_key(number) == nir.calc_check_digits(number)
    full = make_matricule(number)
    assert is_valid_matricule(full) == nir.is_valid(full) is True


@settings(max_examples=300, deadline=None)
@given(numbers13, st.integers(0, 99))
def test_validity_matches_stdnum_for_every_key(number: str, key: int) -> None:
    candidate = f"{number}{key:02d}"
    assert is_valid_matricule(candidate) == nir.is_valid(candidate)
    errors = rules(check_matricule(candidate, OID_INS_NIR_TEST))
    assert ("INS.MAT.key" in errors) == (not nir.is_valid(candidate))


@settings(max_examples=200, deadline=None)
@given(numbers13)
def test_a_corrupted_key_is_always_caught(number: str) -> None:
    good = make_matricule(number)
    bad = corrupt_key(good)
    assert bad != good and len(bad) == 15
    assert not nir.is_valid(bad)
    assert "INS.MAT.key" in rules(check_matricule(bad, OID_INS_NIR_TEST))


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["2A", "2B"]), st.integers(0, 99), st.integers(1, 12), st.integers(1, 999))
def test_corsica_letters_count_as_19_and_18(dep: str, year: int, month: int, order: int) -> None:
    number = f"1{year:02d}{month:02d}{dep}004{order:03d}"
    digits = number[:5] + ("19" if dep == "2A" else "18") + number[7:]
    assert compute_key(number) == f"{97 - int(digits) % 97:02d}"
    m = parse_matricule(make_matricule(number))
    assert m.corsica and m.department == dep and m.key_is_valid


def test_stdnum_doctest_examples_and_the_ans_examples() -> None:
    for value in ("253072B07300470", "253072A07300443", "279035121518989", "277076322082910"):
        assert is_valid_matricule(value), value
        assert rules(check_matricule(value, OID_INS_NIR_TEST)) == set()
        assert rules(check_matricule(value), Severity.INFO) == {"INS.MAT.valid"}


def test_stricter_than_stdnum_where_an_ins_must_be_exact() -> None:
    assert nir.is_valid("253072b07300470")  # stdnum upper-cases
    assert "INS.MAT.format" in rules(check_matricule("253072b07300470"))
    assert nir.is_valid("2 53 07 2B 073 004 70")  # stdnum strips separators
    assert "INS.MAT.length" in rules(check_matricule("2 53 07 2B 073 004 70"))
    assert "INS.MAT.format" in rules(check_matricule(" 53072B07300470"))
    assert "INS.MAT.length" in rules(check_matricule("27903512151898"))
    assert "INS.MAT.length" in rules(check_matricule(""))
    assert "INS.MAT.format" in rules(check_matricule("253072C07300443"))
    with pytest.raises(MatriculeError):
        parse_matricule("1234")
    assert check_matricule(None)[0].rule == "INS.MAT.format"  # type: ignore[arg-type]


def test_parts_overseas_abroad_and_number() -> None:
    overseas = parse_matricule(make_matricule("2550197105905"))
    assert (overseas.department, overseas.commune) == ("971", "05")
    abroad = parse_matricule(make_matricule("1481199139904"))
    assert abroad.born_abroad and abroad.commune == "139"
    assert abroad.number == "1481199139904"


@pytest.mark.parametrize("oid,expected", [
    (OID_INS_NIR, set()), (OID_INS_NIA, set()), (OID_INS_NIR_TEST, set()), (OID_INS_NIR_DEMO, set()),
    (OID_INS_C, {"INS.OID.insc"}), ("1.2.3.4", {"INS.OID.unknown"}), ("", {"INS.OID.unknown"}),
])
def test_oids(oid: str, expected: set[str]) -> None:
    assert rules(check_matricule("279035121518989", oid)) == expected


def test_production_oid_in_a_test_run_is_flagged_as_a_warning() -> None:
    findings = check_matricule("279035121518989", OID_INS_NIR, test_environment=True)
    assert rules(findings) == set()
    assert "INS.OID.production" in rules(findings, Severity.WARNING)
    assert "INS.OID.production" not in rules(check_matricule("279035121518989", OID_INS_NIR_TEST,
                                                             test_environment=True), Severity.WARNING)


@pytest.mark.parametrize("number,rule,severity", [
    ("5790351215189", "INS.MAT.sex", Severity.ERROR),       # impossible first digit
    ("3790351215189", "INS.MAT.sex", Severity.WARNING),     # provisional number: unconfirmed
    ("2791551215189", "INS.MAT.month", Severity.WARNING),   # month 15: neither real nor pseudo
    ("2790000215189", "INS.MAT.department", Severity.WARNING),
    ("2790399050189", "INS.MAT.country", Severity.WARNING),  # 99 + country 050
    ("2790397912189", "INS.MAT.department", Severity.WARNING),  # overseas 979
    ("2790351215000", "INS.MAT.order", Severity.WARNING),
])
def test_structure_rules(number: str, rule: str, severity: Severity) -> None:
    findings = check_matricule(make_matricule(number), OID_INS_NIR_TEST)
    assert rule in rules(findings, severity), [f.rule for f in findings]
    assert "INS.MAT.key" not in rules(findings)


def test_pseudo_months_and_nia_digits_pass() -> None:
    assert rules(check_matricule(make_matricule("1793051215189"), OID_INS_NIR_TEST), Severity.WARNING) == set()
    nia = make_matricule("7790351215189")
    assert rules(check_matricule(nia, OID_INS_NIA), Severity.WARNING) == set()
    assert "INS.MAT.sex" in rules(check_matricule(nia, OID_INS_NIR_TEST), Severity.WARNING)


def test_findings_are_bilingual_and_located() -> None:
    f = [x for x in check_matricule("279035121518988", OID_INS_NIR_TEST, artefact="a.xml", xpath="/x", line=7,
                                    requirements=("SC.INS/va1.01",)) if x.is_error][0]
    assert f.message and f.message_en and f.message != f.message_en
    assert (f.artefact, f.xpath, f.line, f.requirements) == ("a.xml", "/x", 7, ("SC.INS/va1.01",))
    assert f.expected == "279035121518989" and f.found == "279035121518988"


@pytest.mark.needs_shared
def test_official_examples_ins_keys() -> None:
    """The ANS examples of our document types carry valid INS keys; a few other official examples do not
    (we report them: the key rule is the INS rule, the official schematron does not check it)."""
    shared = _shared()
    if shared is None:
        pytest.skip("../shared absent (SEGUR_SHARED non défini) : exemples officiels indisponibles")
    from conformance.ins.cda_identity import check_cda_identity

    folder = shared / "cisis-kit" / "ExemplesCDA"
    for name in ("DLU-EHPAD-DLU_2022.01.xml", "VSM_1.4_2022.01.xml", "IPS-FR_2024.01.xml"):
        findings = check_cda_identity((folder / name).read_bytes(), name)
        assert not [f for f in findings if f.is_error], name
    tddui = shared / "examples-extra" / "CDA_TDDUI_Exemple_v1.0.1.xml"
    errors = [f for f in check_cda_identity(tddui.read_bytes(), tddui.name) if f.is_error]
    assert [f.rule for f in errors] == ["INS.MAT.key"] and errors[0].found == "147720425367411"
