"""VIHF: a good assertion passes; each broken one fails with the expected rule (D2, D3)."""

from __future__ import annotations

import datetime as dt

import pytest
from lxml import etree

from conformance.dmp import ns
from conformance.dmp.pki import TestPki, default_pki
from conformance.dmp.samples import PATIENT_CX
from conformance.dmp.vihf import (
    A_RESOURCE,
    A_ROLE,
    A_SECTOR,
    A_VERSION,
    G15_PROFESSION,
    R01_SAVOIR_FAIRE,
    VihfIdentity,
    build_assertion,
    build_vihf,
    check_resource_id,
    check_vihf,
    sign_assertion,
)

SAML = f"{{{ns.SAML}}}"


def identity(**kw) -> VihfIdentity:
    base = dict(name_id="810100000001", subject_id="MARTIN Camille", structure_id="1750000000",
                sector="SA17^1.2.250.1.71.4.2.4", resource_id=PATIENT_CX,
                roles=[("10", G15_PROFESSION, "Médecin"), ("SM26", R01_SAVOIR_FAIRE, "Médecine générale")])
    base.update(kw)
    return VihfIdentity(**base)


@pytest.fixture(scope="module")
def pki() -> TestPki:
    return default_pki()


@pytest.fixture(scope="module")
def cachet(pki):
    return pki.cachet("1750000000")


def errors(findings) -> set[str]:
    return {f.rule for f in findings if f.is_error}


def test_good_vihf_passes(pki, cachet) -> None:
    found = check_vihf(build_vihf(identity(), cachet), trust=[pki.ca.cert], artefact="a")
    assert not errors(found)
    assert "DMP.VIHF.signature_ok" in {f.rule for f in found}
    # serialised and re-parsed inside an envelope, it still verifies (exc-c14n)
    env = etree.fromstring(b'<e xmlns:x="urn:unrelated">' + etree.tostring(build_vihf(identity(), cachet)) + b"</e>")
    assert not errors(check_vihf(env[0], trust=[pki.ca.cert]))


def test_missing_and_unsigned(cachet) -> None:
    assert errors(check_vihf(None)) == {"DMP.VIHF.missing"}
    assert errors(check_vihf(build_vihf(identity(), cachet, signed=False))) == {"DMP.VIHF.unsigned"}


def test_tampered_assertion_fails_the_signature(cachet) -> None:
    a = build_vihf(identity(), cachet)
    a.find(f"{SAML}Subject/{SAML}NameID").text = "899999999999"
    assert errors(check_vihf(a)) == {"DMP.VIHF.signature"}


def test_signature_must_cover_the_assertion(cachet) -> None:
    a = build_assertion(identity(), cachet.subject_dn)
    stmt = a.find(f"{SAML}AttributeStatement")
    stmt.set("ID", "_other")
    signed = sign_assertion(a, cachet)
    ref = signed.find(f".//{{{ns.DS}}}Reference")
    assert ref.get("URI") == f"#{signed.get('ID')}"
    # re-sign over the statement only: the assertion itself is then not covered
    from signxml import XMLSigner, methods

    bare = build_assertion(identity(), cachet.subject_dn)
    bare.find(f"{SAML}AttributeStatement").set("ID", "_stmt")
    only = XMLSigner(method=methods.enveloped, signature_algorithm="rsa-sha256", digest_algorithm="sha256",
                     c14n_algorithm="http://www.w3.org/2001/10/xml-exc-c14n#").sign(
        bare, key=cachet.key_pem, cert=cachet.cert_pem.decode(), reference_uri="#_stmt", id_attribute="ID")
    assert "DMP.VIHF.signature_scope" in errors(check_vihf(only))


def test_untrusted_and_expired_certificates(pki) -> None:
    other = TestPki("another CA").cachet()
    assert errors(check_vihf(build_vihf(identity(), other), trust=[pki.ca.cert])) == {"DMP.VIHF.untrusted"}
    no_trust = check_vihf(build_vihf(identity(), other))
    not_evaluated = [f for f in no_trust if f.rule == "DMP.VIHF.trust_not_evaluated"]
    assert not errors(no_trust) and not_evaluated and "--dmp-trust" in not_evaluated[0].message
    assert errors(check_vihf(build_vihf(identity(), pki.cachet()), trust=[pki.ca.cert])) == set()
    expired = pki.expired_cachet()
    assert errors(check_vihf(build_vihf(identity(), expired), trust=[pki.ca.cert])) == {"DMP.VIHF.cert_validity"}
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=400)
    assert "DMP.VIHF.cert_validity" in errors(check_vihf(build_vihf(identity(), pki.cachet()), now=later))


@pytest.mark.parametrize("omit", [A_SECTOR, A_ROLE, A_RESOURCE, A_VERSION])
def test_each_missing_attribute_is_named(cachet, omit) -> None:
    found = [f for f in check_vihf(build_vihf(identity(), cachet, omit=(omit,))) if f.is_error]
    assert [f.rule for f in found] == ["DMP.VIHF.attribute_missing"] and found[0].expected == omit


@pytest.mark.parametrize("change, rule", [
    (dict(sector="SA17"), "DMP.VIHF.sector"),
    (dict(auth_mode="CPS"), "DMP.VIHF.auth_mode"),
    (dict(version="2.0"), "DMP.VIHF.version"),
    (dict(roles=[("10", G15_PROFESSION, "Médecin")]), "DMP.VIHF.second_role"),
    (dict(roles=[("10", "pas-un-oid", "Médecin"), ("SM26", R01_SAVOIR_FAIRE, "")]), "DMP.VIHF.role"),
    (dict(resource_id="279035121518988^^^&1.2.250.1.213.1.4.10&ISO^NH"), "INS.MAT.key"),
    (dict(resource_id="279035121518989^^^&1.2.250.1.213.1.4.2&ISO^NH"), "DMP.INS.oid"),
    (dict(resource_id="279035121518989"), "DMP.INS.cx"),
    (dict(purpose=("normal", "1.2.3", "x")), "DMP.VIHF.purpose"),
    (dict(subject_id=""), "DMP.VIHF.subject_id"),
    (dict(name_id=""), "DMP.VIHF.name_id"),
])
def test_bad_values_fail_with_their_rule(cachet, change, rule) -> None:
    assert rule in errors(check_vihf(build_vihf(identity(**change), cachet)))


def test_unconfirmed_points_are_warnings(cachet) -> None:
    found = check_vihf(build_vihf(identity(version="4.0", sector="SA99^1.2.250.1.71.4.2.4"), cachet))
    warnings = {f.rule for f in found if f.severity.value == "warning"}
    assert {"DMP.VIHF.version", "DMP.VIHF.sector_code"} <= warnings and not errors(found)


def test_audience_restriction_is_forbidden(cachet) -> None:
    a = build_assertion(identity(), cachet.subject_dn)
    cond = etree.Element(f"{SAML}Conditions")
    etree.SubElement(cond, f"{SAML}AudienceRestriction")
    a.insert(2, cond)
    assert "DMP.VIHF.audience" in errors(check_vihf(sign_assertion(a, cachet)))


def test_resource_id_helper_uses_the_ins_room() -> None:
    assert not [f for f in check_resource_id(PATIENT_CX) if f.is_error]
