"""Traits (INSi format, exact comparison), statuses and the sharing rule, patient ids and mailboxes."""

from __future__ import annotations

import pytest

from conformance.findings import Severity
from conformance.ins.identity import (
    PROV,
    QUAL,
    RECUP,
    VALI,
    ResidentIdentity,
    check_resident,
    expected_status,
    may_share_ins,
)
from conformance.ins.insi import fixtures as fx
from conformance.ins.sharing import check_patient_cx, check_patient_mailbox, expected_patient_cx
from conformance.ins.traits import (
    Traits,
    check_traits,
    compare_traits,
    is_partial_date,
    normalise_for_matching,
)

GOOD = fx.identity("qualifiable").traits()


def errors(findings):
    return {f.rule for f in findings if f.severity is Severity.ERROR}


def warnings(findings):
    return {f.rule for f in findings if f.severity is Severity.WARNING}


def test_good_insi_traits_pass() -> None:
    for ident in fx.IDENTITIES:
        if ident.scenario in ("partial_date",):
            continue
        assert errors(check_traits(ident.traits())) == set(), ident.name


@pytest.mark.parametrize("change,rule", [
    ({"birth_name": "D'Essai-Lafontaine"}, "INS.TRAIT.birth_name"),
    ({"birth_name": ""}, "INS.TRAIT.birth_name"),
    ({"birth_name": " DESSAI"}, "INS.TRAIT.birth_name"),
    ({"birth_name": "DUPONT2"}, "INS.TRAIT.birth_name"),
    ({"birth_name": "X" * 200}, "INS.TRAIT.birth_name"),
    ({"given_names": []}, "INS.TRAIT.given_names"),
    ({"given_names": ["ANNE", ""]}, "INS.TRAIT.given_names"),
    ({"first_given_name": "ANNE"}, "INS.TRAIT.first_given_name.consistency"),
    ({"birth_date": "12/05/1941"}, "INS.TRAIT.birth_date"),
    ({"birth_date": "1941-02-30"}, "INS.TRAIT.birth_date"),
    ({"sex": "U"}, "INS.TRAIT.sex"),
    ({"birthplace_code": "6311"}, "INS.TRAIT.birthplace_code"),
    ({"birthplace_code": "2C004"}, "INS.TRAIT.birthplace_code"),
])
def test_broken_traits_fail_with_the_rule(change: dict, rule: str) -> None:
    assert rule in errors(check_traits({**GOOD, **change}))


def test_unconfirmed_trait_rules_are_warnings() -> None:
    accented = check_traits({**GOOD, "birth_name": "DÉSSAI"})
    assert errors(accented) == set() and "INS.TRAIT.birth_name" in warnings(accented)
    partial = check_traits({**GOOD, "birth_date": "1947-00-00"})
    assert errors(partial) == set() and "INS.TRAIT.birth_date.partial" in warnings(partial)
    nowhere = check_traits({**GOOD, "birthplace_code": ""})
    assert errors(nowhere) == set() and "INS.TRAIT.birthplace_code" in warnings(nowhere)
    local = check_traits({**GOOD, "birth_name": "Dupont"}, insi_format=False)
    assert errors(local) == set() and warnings(local)


def test_hostile_traits_never_crash() -> None:
    for hostile in ({}, {"given_names": "A B"}, {"birth_name": 12, "sex": None, "given_names": [None]},
                    {"birth_date": ["x"], "birthplace_code": 5}, "not a mapping"):
        findings = check_traits(hostile)  # type: ignore[arg-type]
        assert errors(findings)


def test_compare_traits_says_how_a_value_was_altered() -> None:
    assert compare_traits(GOOD, GOOD) == []
    altered = {**GOOD, "birth_name": "D'essai-Lafontaine", "first_given_name": " MARIE-CLAIRE",
               "given_names": ["MARIE-CLAIRE ANNE"], "birthplace_code": ""}
    found = {f.rule: f for f in compare_traits(altered, GOOD, artefact="r")}
    assert set(found) == {"INS.STORE.birth_name", "INS.STORE.first_given_name", "INS.STORE.given_names",
                          "INS.STORE.birthplace_code"}
    assert "casse" in found["INS.STORE.birth_name"].message and "re-cased" in found["INS.STORE.birth_name"].message_en
    assert "espaces" in found["INS.STORE.first_given_name"].message
    assert "découpage" in found["INS.STORE.given_names"].message
    assert "absent" in found["INS.STORE.birthplace_code"].message
    punct = compare_traits({**GOOD, "birth_name": "DESSAI LAFONTAINE"}, GOOD)
    assert "ponctuation" in punct[0].message


def test_helpers() -> None:
    assert normalise_for_matching("D'Éssai-La Fontaine") == "DESSAILAFONTAINE"
    assert is_partial_date("1947-00-00") and is_partial_date("1947-03-00") and not is_partial_date("1947-03-01")
    t = Traits.from_json({**GOOD, "given_names": "MARIE-CLAIRE ANNE"})
    assert t.given_names == ("MARIE-CLAIRE", "ANNE") and t.given_names_text == "MARIE-CLAIRE ANNE"
    assert Traits.from_json(t.to_json()) == t


@pytest.mark.parametrize("retrieved,doc,attrs,status", [
    (False, None, (), PROV), (True, None, (), RECUP), (False, "passeport", (), VALI), (True, "cni", (), QUAL),
    (True, "passeport", ("douteuse",), PROV), (False, "permis", (), PROV),
])
def test_expected_status(retrieved: bool, doc: str | None, attrs: tuple, status: str) -> None:
    assert expected_status(retrieved=retrieved, identity_document=doc, attributes=attrs) == status


def test_only_qualified_shares() -> None:
    assert may_share_ins(QUAL)
    assert not any(may_share_ins(s) for s in (PROV, RECUP, VALI, None, ""))


def _resident(**kw):
    ident = fx.identity("qualifiable")
    base = {"id": "R1", "traits": ident.traits(), "status": QUAL, "identity_document": "passeport",
            "ins": {"matricule": ident.matricule, "oid": ident.oid}, "attributes": []}
    return {**base, **kw}


def test_coherent_resident_passes() -> None:
    assert errors(check_resident(_resident())) == set()
    assert errors(check_resident(_resident(status=PROV, ins=None, identity_document=None))) == set()
    ident = ResidentIdentity.from_json(_resident())
    assert ident.matricule == fx.identity("qualifiable").matricule and ident.oid


@pytest.mark.parametrize("change,rule", [
    ({"status": "QUALIFIEE"}, "INS.STATUS.value"),
    ({"status": PROV}, "INS.STATUS.ins-without-retrieval"),
    ({"status": VALI}, "INS.STATUS.ins-without-retrieval"),
    ({"ins": None}, "INS.STATUS.retrieval-without-ins"),
    ({"attributes": ["fictive"]}, "INS.STATUS.attribute"),
    ({"ins": {"matricule": "241056311390131", "oid": "1.2.250.1.213.1.4.10"}}, "INS.MAT.key"),
    ({"ins": {"matricule": "241056311390130", "oid": "1.2.250.1.213.1.4.2"}}, "INS.OID.insc"),
    ({"traits": {**GOOD, "birth_name": "D'essai"}}, "INS.TRAIT.birth_name"),
])
def test_incoherent_resident_fails(change: dict, rule: str) -> None:
    assert rule in errors(check_resident(_resident(**change)))


def test_qualified_without_document_is_a_warning() -> None:
    findings = check_resident(_resident(identity_document=None))
    assert errors(findings) == set() and "INS.STATUS.qual-without-document" in warnings(findings)


def test_patient_cx() -> None:
    cx = expected_patient_cx("279035121518989", "1.2.250.1.213.1.4.10")
    assert cx == "279035121518989^^^&1.2.250.1.213.1.4.10&ISO^NH"
    assert errors(check_patient_cx(cx, ("279035121518989", "1.2.250.1.213.1.4.10"))) == set()
    assert "INS.CX.format" in errors(check_patient_cx("279035121518989", None))
    assert "INS.CX.cda-mismatch" in errors(check_patient_cx(cx, ("277076322082910", "1.2.250.1.213.1.4.10")))
    assert "INS.MAT.key" in errors(check_patient_cx(cx.replace("989^", "988^"), None))
    assert "INS.CX.type" in errors(check_patient_cx(cx.replace("^NH", "^PI"), None))


def test_patient_mailbox() -> None:
    addr = "279035121518989@patient.mssante.fr"
    assert errors(check_patient_mailbox(addr, qualified=True, matricule="279035121518989")) == set()
    assert "INS.MAIL.unqualified" in errors(check_patient_mailbox(addr, qualified=False))
    assert "INS.MAIL.mismatch" in errors(check_patient_mailbox(addr, qualified=True, matricule="277076322082910"))
    assert "INS.MAT.key" in errors(check_patient_mailbox("279035121518988@patient.mssante.fr", qualified=True))
    assert check_patient_mailbox("dr.x@hopital.mssante.fr", qualified=False) == []
