"""DMP checks against inputs the harness did not build (issue 12, items 6 to 11): a VIHF written by hand and
signed with signxml directly, certificates made with cryptography directly, XAdES made with signxml's
XAdESSigner directly, ITI-41 captures written by hand from IHE ITI TF. See tests/data/dmp/README.md."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import SimpleNamespace

import pytest

from conformance.dmp import checks, xades
from conformance.dmp.iti41 import load_artefact
from conformance.dmp.pki import default_pki, load_certificates
from conformance.dmp.trust import TrustConfigError, load_anchors, resolve_anchors
from conformance.dmp.valuesets import load_valuesets
from conformance.ihe.cda_header import read_header
from conformance.ihe.metadata_vs_cda import compare_metadata_with_cda
from conformance.safexml import parse_bytes

DATA = Path(__file__).parent / "data" / "dmp"
SIGNED_AT = dt.datetime(2026, 1, 15, 10, tzinfo=dt.UTC)
PATIENT = "279035121518989^^^&1.2.250.1.213.1.4.10&ISO^NH"
DOCUMENT = b"<ClinicalDocument xmlns='urn:hl7-org:v3'/>"


def rules(findings, severity: str = "error") -> set[str]:
    return {f.rule for f in findings if f.severity.value == severity}


def vihf_findings(name: str, trust=None):
    req = load_artefact(name, (DATA / name).read_bytes())
    return checks.check_vihf(req, checks.CheckContext(trust=trust, at_capture_time=True))


@pytest.fixture(scope="module")
def third_party_ca():
    return load_anchors(DATA / "third-party-ca.pem")


# ---------------------------------------------------------------------------------------------
# item 7: trust
# ---------------------------------------------------------------------------------------------
def test_third_party_vihf_is_trusted_only_through_its_declared_anchor(third_party_ca) -> None:
    trusted = vihf_findings("vihf-third-party.xml", third_party_ca)
    assert rules(trusted) == set() and "DMP.VIHF.trusted" in rules(trusted, "info")
    other = vihf_findings("vihf-third-party.xml", [default_pki().ca.cert])
    assert rules(other) == {"DMP.VIHF.untrusted"}
    assert "DMP.VIHF.trusted" not in rules(other, "info")


def test_without_anchor_the_chain_is_not_evaluated_and_says_what_to_configure() -> None:
    found = vihf_findings("vihf-third-party.xml")
    assert rules(found) == set() and "DMP.VIHF.trusted" not in rules(found, "info")
    [warn] = [f for f in found if f.rule == "DMP.VIHF.trust_not_evaluated"]
    assert "--dmp-trust" in warn.message and "SEGUR_DMP_TRUST" in warn.message_en


def test_self_signed_vihf_is_never_trusted(third_party_ca) -> None:
    assert rules(vihf_findings("vihf-self-signed.xml", third_party_ca)) == {"DMP.VIHF.untrusted"}
    assert rules(vihf_findings("vihf-self-signed.xml", [default_pki().ca.cert])) == {"DMP.VIHF.untrusted"}
    assert "DMP.VIHF.trust_not_evaluated" in rules(vihf_findings("vihf-self-signed.xml"), "warning")


def test_certificate_must_be_valid_at_signing_time(third_party_ca) -> None:
    req = load_artefact("v.xml", (DATA / "vihf-third-party.xml").read_bytes())
    before = checks.check_vihf(req, checks.CheckContext(trust=third_party_ca, now=dt.datetime(2024, 6, 1, tzinfo=dt.UTC)))
    assert "DMP.VIHF.cert_validity" in rules(before)


def test_xades_made_with_signxml_directly(third_party_ca) -> None:
    docs = {"1.2.3.4.5": DOCUMENT}
    good = (DATA / "xades-third-party.xml").read_bytes()
    assert rules(xades.check_signature_document(good, docs, trust=third_party_ca, now=SIGNED_AT)) == set()
    assert rules(xades.check_signature_document(good, docs, trust=[default_pki().ca.cert], now=SIGNED_AT)) \
        == {"DMP.DSG.untrusted"}
    assert "DMP.DSG.trust_not_evaluated" in rules(xades.check_signature_document(good, docs, now=SIGNED_AT),
                                                  "warning")
    self_signed = (DATA / "xades-self-signed.xml").read_bytes()
    assert rules(xades.check_signature_document(self_signed, docs, trust=third_party_ca, now=SIGNED_AT)) \
        == {"DMP.DSG.untrusted"}
    assert "DMP.DSG.digest_mismatch" in rules(xades.check_signature_document(
        good, {"1.2.3.4.5": DOCUMENT + b" "}, trust=third_party_ca, now=SIGNED_AT))


def test_anchor_resolution_order(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("SEGUR_DMP_TRUST", raising=False)
    assert resolve_anchors(SimpleNamespace(dmp_trust=None, artefacts_dir=None, sandbox_url=None)) == (None, "")
    declared, source = resolve_anchors(SimpleNamespace(dmp_trust=DATA / "third-party-ca.pem", artefacts_dir=None,
                                                       sandbox_url="reference"))
    assert len(declared) == 1 and "--dmp-trust" in source
    (tmp_path / "dmp" / "trust").mkdir(parents=True)
    (tmp_path / "dmp" / "trust" / "ca.pem").write_bytes((DATA / "third-party-ca.pem").read_bytes())
    in_folder, _ = resolve_anchors(SimpleNamespace(dmp_trust=None, artefacts_dir=tmp_path, sandbox_url=None))
    assert in_folder == declared
    embedded, _ = resolve_anchors(SimpleNamespace(dmp_trust=None, artefacts_dir=None, sandbox_url="reference"))
    # the embedded reference DUI signs with its own test PKI (not the harness's), declared through its entry point
    from conformance.reference import load_reference

    assert embedded == load_certificates(load_reference().dmp_trust_anchors_pem())
    assert embedded != [default_pki().ca.cert]
    (tmp_path / "empty.pem").write_bytes(b"not a certificate")
    with pytest.raises(TrustConfigError):
        load_anchors(tmp_path / "empty.pem")


def test_validate_takes_trust_anchors(tmp_path: Path, capsys) -> None:
    from conformance.cli import main

    body = (DATA / "vihf-third-party.xml").read_bytes()
    capture = tmp_path / "vihf.http"
    capture.write_bytes(b"POST /repository HTTP/1.1\r\nContent-Type: application/soap+xml\r\n"
                        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    main(["validate", str(capture)])
    without = capsys.readouterr().out
    assert "DMP.VIHF.trust_not_evaluated" in without and "--dmp-trust" in without
    main(["validate", "--dmp-trust", str(DATA / "self-signed-leaf.pem"), str(capture)])
    wrong = capsys.readouterr().out
    assert "DMP.VIHF.untrusted" in wrong
    main(["validate", "--dmp-trust", str(DATA / "third-party-ca.pem"), str(capture)])
    right = capsys.readouterr().out
    assert "DMP.VIHF.untrusted" not in right and "DMP.VIHF.trust_not_evaluated" not in right


# ---------------------------------------------------------------------------------------------
# item 6: signature wrapping
# ---------------------------------------------------------------------------------------------
def test_forged_assertion_after_the_signed_one_is_an_error(third_party_ca) -> None:
    assert "DMP.VIHF.multiple_assertions" in rules(vihf_findings("vihf-wrapped.xml", third_party_ca))


def test_forged_assertion_first_is_read_and_found_unsigned(third_party_ca) -> None:
    text = (DATA / "vihf-wrapped.xml").read_text(encoding="utf-8")
    start = text.index("<saml:Assertion", text.index("</saml:Assertion>"))
    forged = text[start:text.index("</saml:Assertion>", start) + len("</saml:Assertion>")]
    first = text.replace(forged, "").replace("<wsse:Security", "<wsse:Security", 1)
    at = first.index(">", first.index("<wsse:Security")) + 1
    swapped = first[:at] + forged + first[at:]
    req = load_artefact("swapped.xml", swapped.encode())
    found = rules(checks.check_vihf(req, checks.CheckContext(trust=third_party_ca, at_capture_time=True)))
    assert {"DMP.VIHF.multiple_assertions", "DMP.VIHF.unsigned"} <= found


def test_signed_content_must_be_the_content_read(third_party_ca) -> None:
    """Editing a signed attribute after signing breaks the digest: the forged value is never accepted."""
    text = (DATA / "vihf-third-party.xml").read_text(encoding="utf-8").replace(">INDIRECTE<", ">DIRECTE<")
    req = load_artefact("edited.xml", text.encode())
    assert "DMP.VIHF.signature" in rules(checks.check_vihf(req, checks.CheckContext(trust=third_party_ca,
                                                                                     at_capture_time=True)))


# ---------------------------------------------------------------------------------------------
# items 8 to 11
# ---------------------------------------------------------------------------------------------
def test_content_length_larger_than_the_body_is_reported() -> None:
    req = load_artefact("short.http", (DATA / "iti41-short-body.http").read_bytes())
    [short] = [f for f in req.problems if f.rule == "DMP.HTTP.content_length"]
    assert short.is_error and short.found == "4096" and int(short.expected) < 4096
    full = (DATA / "iti41-short-body.http").read_bytes()
    head, _, body = full.partition(b"\r\n\r\n")
    exact = head.replace(b"Content-Length: 4096", b"Content-Length: " + str(len(body)).encode()) + b"\r\n\r\n" + body
    assert "DMP.HTTP.content_length" not in rules(load_artefact("exact.http", exact).problems)


def test_document_relationships_target_the_registry_not_the_submission() -> None:
    req = load_artefact("assoc.xml", (DATA / "iti41-associations.xml").read_bytes())
    dangling = [f for f in checks.check_associations(req) if f.rule == "DMP.XDS.dangling_association"]
    # APND, XFRM, XFRM_RPLC, IsSnapshotOf to registry entries are fine; a HasMember to a missing object and an
    # APND whose *source* is missing are not
    assert sorted(f.xpath.split("'")[1] for f in dangling) == ["as06", "as07"]


def test_language_code_is_compared_case_insensitively() -> None:
    req = load_artefact("assoc.xml", (DATA / "iti41-associations.xml").read_bytes())
    entry = req.submission.entries[0].metadata()
    header = read_header(parse_bytes((DATA / "cda-en-us.xml").read_bytes()))
    assert "DMP.META.languageCode" not in rules(compare_metadata_with_cda(entry, header))
    french = read_header(parse_bytes((DATA / "cda-en-us.xml").read_bytes().replace(b"en-US", b"fr-FR")))
    assert "DMP.META.languageCode" in rules(compare_metadata_with_cda(entry, french))


def test_td02_request_is_checked_for_its_patient() -> None:
    body = (DATA / "vihf-third-party.xml").read_bytes().replace(
        b"<soap:Body/>", b"<soap:Body><td0:TD02Request xmlns:td0='urn:segur-conformance:dmp-simulator:td0' "
        b"ins='279035121518989^^^&amp;1.2.250.1.213.1.4.10&amp;ISO^NH'/></soap:Body>")
    assert rules(checks.check_td02(body, "application/soap+xml", PATIENT), "info") == {"DMP.TD02.body_ok"}
    other = "248039263001064^^^&1.2.250.1.213.1.4.10&ISO^NH"
    assert rules(checks.check_td02(body, "application/soap+xml", other)) == {"DMP.TD02.patient"}
    assert rules(checks.check_td02(b"not xml", "application/soap+xml", PATIENT)) == {"DMP.TD02.unreadable"}
    no_vihf = (DATA / "iti41-associations.xml").read_bytes()
    assert "DMP.TD02.no_vihf" in rules(checks.check_td02(no_vihf, "application/soap+xml", PATIENT))


SVS = """<?xml version="1.0" encoding="UTF-8"?>
<RetrieveValueSetResponse xmlns="urn:ihe:iti:svs:2008"><ValueSet id="1.2.250.1.213.1.1.5.462" displayName="JDV_J06">
<ConceptList><Concept code="10" codeSystem="1.2.250.1.213.1.1.4.1"/><Concept code="11" codeSystem="1.2.250.1.213.1.1.4.1"/>
</ConceptList></ValueSet></RetrieveValueSetResponse>"""


def test_value_sets_come_from_the_kit_when_it_has_them_and_say_their_source(tmp_path: Path) -> None:
    builtin = load_valuesets(None)
    assert builtin.source["classCode"].startswith("intégré : JDV_J06")
    assert builtin.contains("contentTypeCode", "07", "1.2.250.1.213.2.2") is None  # a TRE_R209 code: not judged
    assert builtin.contains("contentTypeCode", "07", "9.9.9") is False  # outside J03's systems
    (tmp_path / "jeuxDeValeurs").mkdir()
    (tmp_path / "jeuxDeValeurs" / "JDV_J06_XdsClassCode_CISIS.xml").write_text(SVS, encoding="utf-8")
    kit = load_valuesets(tmp_path)
    assert kit.authoritative("classCode") and kit.contains("classCode", "44", "1.2.250.1.213.1.1.4.1") is False
    assert "absent(s) du kit" in kit.source["contentTypeCode"] and not kit.authoritative("contentTypeCode")
    shared = Path(__file__).resolve().parents[2] / "shared" / "cisis-kit"
    if shared.is_dir():  # the published kit holds none of J06/J57, J03/J59, J10/J60: built-in, and said so
        real = load_valuesets(shared)
        assert not real.authoritative("classCode") and "absent(s) du kit" in real.source["classCode"]


def test_content_type_outside_j03_is_named_with_its_source() -> None:
    req = load_artefact("assoc.xml", (DATA / "iti41-associations.xml").read_bytes().replace(
        b'<rim:RegistryPackage id="SubmissionSet01">', b'<rim:RegistryPackage id="SubmissionSet01">'
        b'<rim:Classification id="ct01" classifiedObject="SubmissionSet01" '
        b'classificationScheme="urn:uuid:aa543740-bdda-424e-8c96-df4873be8500" nodeRepresentation="99">'
        b'<rim:Slot name="codingScheme"><rim:ValueList><rim:Value>9.9.9</rim:Value></rim:ValueList></rim:Slot>'
        b'</rim:Classification>'))
    found = [f for f in checks.check_metadata(req, checks.CheckContext()) if f.rule == "DMP.XDS.contentTypeCode_valueset"]
    assert found and found[0].severity.value == "warning" and "JDV_J03" in found[0].message
