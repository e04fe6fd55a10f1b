"""The invented professionals look like PSC users but can be no one."""

from __future__ import annotations

import pytest
from stdnum import luhn

from conformance.psc import professionals


def test_national_ids_are_invented_unique_and_well_formed() -> None:
    ids = [p.subject_name_id for p in professionals.PROFESSIONALS.values()]
    assert len(set(ids)) == len(ids)
    for national_id in ids:
        assert len(national_id) == 12 and national_id.startswith("899999")  # 8 + RPPS-like, unallocated range
        assert luhn.is_valid(national_id[1:])
    with pytest.raises(ValueError):
        professionals.rpps_like("123")


def test_userinfo_claims_follow_the_psc_shape_and_scope() -> None:
    pro = professionals.by_key("medco-ehpad")
    full = pro.userinfo()
    assert full["SubjectNameID"] == full["preferred_username"] == pro.subject_name_id
    exercice = full["SubjectRefPro"]["exercices"][0]
    assert exercice["codeProfession"] == "10" and exercice["codeSavoirFaire"] == "SM54"
    assert [a["codeSecteurDactivite"] for a in exercice["activities"]] == ["SA17", "SA07"]
    assert full["SubjectRole"] == ["10^1.2.250.1.71.1.2.7"] and full["Secteur_Activite"] == "SA17^1.2.250.1.71.4.2.4"
    identity_only = pro.userinfo(scope="openid")
    assert "SubjectRefPro" not in identity_only and identity_only["SubjectNameID"] == pro.subject_name_id
    full["SubjectRefPro"]["exercices"].clear()  # callers get copies, never the catalogue itself
    assert pro.userinfo()["SubjectRefPro"]["exercices"]


def test_lookups() -> None:
    assert professionals.by_subject_name_id("899999000120") is professionals.by_key("ide-ehpad")
    assert professionals.by_subject_name_id("800000000000") is None
    with pytest.raises(KeyError, match="known"):
        professionals.by_key("personne")
    shared = [p for p in professionals.PROFESSIONALS.values() if p.email == "soins@ehpad-tilleuls.test"]
    assert len(shared) == 2  # the identity scenario relies on two people sharing one mailbox
