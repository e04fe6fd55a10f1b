"""Each ITI-41 check: a correct submission passes it, a deliberately broken one fails with the expected rule."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from lxml import etree
from segur_reference_dui import dmp_client

from conformance.dmp import checks, ns
from conformance.dmp.checks import CheckContext
from conformance.dmp.iti41 import Iti41Request, load_artefact, parse_request
from conformance.dmp.mtom import Attachment, build_mtom, parse_mtom
from conformance.dmp.pki import default_pki
from conformance.dmp.samples import PATIENT_CX, synthetic_cda, unique_id_of

TO = "https://127.0.0.1:1/dmp/repository"
SHARED = Path(os.environ.get("SEGUR_SHARED") or Path(__file__).resolve().parents[2] / "shared")
KIT = SHARED / "cisis-kit"
RIM = f"{{{ns.RIM}}}"


def build(cda: bytes | None = None, *, defects: frozenset[str] = frozenset(), replaces_uuid: str | None = None,
          patient: str = PATIENT_CX) -> tuple[str, bytes]:
    cda = cda or synthetic_cda()
    facts = dmp_client.read_cda(cda)
    ident = dmp_client.vihf_identity(facts, patient)
    ctype, body, _ = dmp_client.build_iti41(cda, facts, patient_cx=patient, source_patient_id="IPP1^^^&1.2.3&ISO^PI",
                                            to=TO, keypair=dmp_client.cachet_for(ident.structure_id),
                                            defects=defects, replaces_uuid=replaces_uuid)
    return ctype, body


def request(cda: bytes | None = None, **kw) -> Iti41Request:
    ctype, body = build(cda, **kw)
    return parse_request(body, ctype, artefact="dmp/test.http", http_headers={"content-type": ctype})


def mutated(edit: Callable[[etree._Element], None], *, cda: bytes | None = None, parts=None, **kw) -> Iti41Request:
    """Rebuild a good request after editing its SOAP envelope (the VIHF signature only covers the assertion)."""
    ctype, body = build(cda, **kw)
    msg = parse_mtom(ctype, body)
    root = etree.fromstring(msg.root.body)
    edit(root)
    attachments = [Attachment(p.content_id, p.body, p.mime_type) for cid, p in msg.parts.items() if p is not msg.root]
    if parts is not None:
        attachments = parts(attachments)
    ctype, body = build_mtom(etree.tostring(root), attachments, action=ns.ACTION_ITI41)
    return parse_request(body, ctype, artefact="dmp/test.http", http_headers={"content-type": ctype})


def errors(findings) -> set[str]:
    return {f.rule for f in findings if f.is_error}


def warnings(findings) -> set[str]:
    return {f.rule for f in findings if f.severity.value == "warning"}


def ctx(**kw) -> CheckContext:
    # the harness's test CA (its own builders) and the reference DUI's own CA (it signs with its own PKI)
    reference_ca = x509.load_pem_x509_certificates(dmp_client.trust_anchors_pem())
    return CheckContext(trust=[default_pki().ca.cert, *reference_ca], **kw)


def _find(root: etree._Element, xpath: str) -> list[etree._Element]:
    return root.xpath(xpath, namespaces={"rim": ns.RIM, "wsa": ns.WSA, "xdsb": ns.XDSB, "s": ns.SOAP12})


def _drop(root: etree._Element, xpath: str) -> None:
    for el in _find(root, xpath):
        el.getparent().remove(el)


def _scheme(name: str, doc: str = "Document01") -> str:
    return f"//rim:ExtrinsicObject[@id='{doc}']/rim:Classification[@classificationScheme='{ns.DE_SCHEMES[name]}']"


# ---------------------------------------------------------------------------------------------
def test_a_correct_submission_has_no_error() -> None:
    req = request()
    found = checks.check_submission(req, ctx())
    assert not errors(found), [f for f in found if f.is_error]
    assert not warnings(found), [f for f in found if f.severity.value == "warning"]
    assert "DMP.META.consistent" in {f.rule for f in found}


def test_transport() -> None:
    assert not errors(checks.check_transport(request()))
    ctype, body = build()
    bad = parse_request(body, ctype.replace('type="application/xop+xml"', 'type="text/xml"'), artefact="t",
                        http_headers={"content-type": "x"})
    assert "DMP.MTOM.type" in errors(checks.check_transport(bad))
    bad = parse_request(body, ctype.replace('start-info="application/soap+xml"', 'start-info="text/xml"'),
                        artefact="t", http_headers={"content-type": "x"})
    assert "DMP.MTOM.start_info" in errors(checks.check_transport(bad))


def test_plain_soap_with_inline_documents() -> None:
    ctype, body = build()
    msg = parse_mtom(ctype, body)
    root = etree.fromstring(msg.root.body)
    import base64

    for doc in _find(root, "//xdsb:Document"):
        inc = doc[0]
        doc.remove(inc)
        doc.text = base64.b64encode(msg.part(inc.get("href")).body).decode()
    req = parse_request(etree.tostring(root), "application/soap+xml", artefact="t",
                        http_headers={"content-type": "application/soap+xml"})
    found = checks.check_transport(req)
    assert errors(found) == {"DMP.MTOM.content_type"}
    assert not errors(checks.check_hash_size(req)) and not errors(checks.check_signature(req, ctx()))


def test_envelope_only_capture_reports_missing_parts_as_warnings() -> None:
    ctype, body = build()
    xml = parse_mtom(ctype, body).root.body
    req = load_artefact("dmp/envelope.xml", xml)
    assert {f.rule for f in req.problems} == {"DMP.MTOM.missing_part"}
    assert not errors(req.problems)
    assert "DMP.MTOM.not_captured" in {f.rule for f in checks.check_transport(req)}
    assert not errors(checks.check_submission(req, ctx()))


@pytest.mark.parametrize("edit, rule", [
    (lambda r: _drop(r, "//wsa:Action"), "DMP.WSA.action"),
    (lambda r: _drop(r, "//wsa:MessageID"), "DMP.WSA.message_id"),
    (lambda r: _drop(r, "//wsa:To"), "DMP.WSA.to"),
])
def test_addressing(edit, rule) -> None:
    assert not errors(checks.check_addressing(request()))
    assert rule in errors(checks.check_addressing(mutated(edit)))


def test_soap_11_envelope_is_refused() -> None:
    ctype, body = build()
    soap11 = body.replace(ns.SOAP12.encode(), ns.SOAP11.encode())
    req = parse_request(soap11, ctype, artefact="t", http_headers={"content-type": ctype})
    assert "DMP.SOAP.version" in errors(checks.check_addressing(req))


def test_vihf_defects() -> None:
    assert not errors(checks.check_vihf(request(), ctx()))
    assert errors(checks.check_vihf(request(defects=frozenset({"vihf_unsigned"})), ctx())) == {"DMP.VIHF.unsigned"}
    found = checks.check_vihf(request(defects=frozenset({"vihf_missing_attribute"})), ctx())
    assert errors(found) == {"DMP.VIHF.attribute_missing"}


def test_patient_identifiers_agree() -> None:
    assert not errors(checks.check_patient_ids(request(), ctx()))
    other = "190017512345633^^^&1.2.250.1.213.1.4.10&ISO^NH"

    def one_entry_other_patient(root):
        for ext in _find(root, f"//rim:ExtrinsicObject[@id='Document01']/rim:ExternalIdentifier"
                               f"[@identificationScheme='{ns.DE_IDENTIFIERS['patientId']}']"):
            ext.set("value", other)

    assert "DMP.XDS.patient_mismatch" in errors(checks.check_patient_ids(mutated(one_entry_other_patient), ctx()))

    def everything_other_patient(root):
        for ext in _find(root, "//rim:ExternalIdentifier"):
            if ext.get("value") == PATIENT_CX:
                ext.set("value", other)

    found = errors(checks.check_patient_ids(mutated(everything_other_patient), ctx()))
    assert "DMP.INS.vihf_vs_patient" in found


def test_authorship_is_a_warning() -> None:
    assert not warnings(checks.check_authorship(request()))

    def other_institution(root):
        for slot in _find(root, "//rim:Slot[@name='authorInstitution']/rim:ValueList/rim:Value"):
            slot.text = "Autre^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^1990000000"

    found = checks.check_authorship(mutated(other_institution))
    assert warnings(found) == {"DMP.AUTH.structure"} and not errors(found)


@pytest.mark.parametrize("edit, rule", [
    (lambda r: _drop(r, _scheme("typeCode")), "DMP.XDS.typeCode"),
    (lambda r: _drop(r, _scheme("healthcareFacilityTypeCode")), "DMP.XDS.healthcareFacilityTypeCode"),
    (lambda r: [v.__setattr__("text", "2024-03-12") for v in
                _find(r, "//rim:ExtrinsicObject[@id='Document01']/rim:Slot[@name='creationTime']//rim:Value")],
     "DMP.XDS.creationTime"),
    (lambda r: [c.set("nodeRepresentation", "MASQUE_PS") for c in _find(r, _scheme("confidentialityCode"))],
     "DMP.XDS.confidentialityCode_first"),
    (lambda r: [s.__setattr__("text", "9.9.9") for s in
                _find(r, _scheme("classCode") + "/rim:Slot/rim:ValueList/rim:Value")], "DMP.XDS.classCode_system"),
    (lambda r: [e.set("value", "pas-un-oid") for e in _find(
        r, f"//rim:ExternalIdentifier[@identificationScheme='{ns.SS_IDENTIFIERS['uniqueId']}']")],
     "DMP.XDS.ss_uniqueId"),
    (lambda r: _drop(r, "//rim:ExtrinsicObject[@id='Document01']/rim:Slot[@name='legalAuthenticator']"),
     "DMP.XDS.legalAuthenticator"),
    (lambda r: [e.set("objectType", "urn:uuid:0") for e in _find(r, "//rim:ExtrinsicObject")],
     "DMP.XDS.object_type"),
])
def test_metadata(edit, rule) -> None:
    assert not errors(checks.check_metadata(request(), ctx()))
    assert rule in errors(checks.check_metadata(mutated(edit), ctx()))


def test_codes_outside_the_kit_value_sets_are_errors() -> None:
    if not (KIT / "jeuxDeValeurs").is_dir():
        pytest.skip(f"kit CI-SIS absent ({KIT}) : jeux de valeurs officiels non disponibles")
    cda = synthetic_cda(type_code=("99999-9", "2.16.840.1.113883.6.1", "Inconnu"))
    found = checks.check_metadata(request(cda), ctx(kit=KIT))
    assert "DMP.XDS.typeCode_valueset" in errors(found)
    assert not errors(checks.check_metadata(request(), ctx(kit=KIT)))
    builtin = checks.check_metadata(request(cda), ctx())
    assert "DMP.XDS.typeCode_valueset" in warnings(builtin) and "DMP.XDS.typeCode_valueset" not in errors(builtin)


def test_hash_size_and_documents() -> None:
    assert not errors(checks.check_hash_size(request()))
    assert errors(checks.check_hash_size(request(defects=frozenset({"hash_mismatch"})))) == {"DMP.XDS.hash"}

    def wrong_size(root):
        for v in _find(root, "//rim:ExtrinsicObject[@id='Document01']/rim:Slot[@name='size']//rim:Value"):
            v.text = "1"

    assert errors(checks.check_hash_size(mutated(wrong_size))) == {"DMP.XDS.size"}
    no_metadata = mutated(lambda r: _drop(r, "//rim:ExtrinsicObject[@id='Document01']"))
    assert "DMP.XDS.missing_metadata" in errors(checks.check_hash_size(no_metadata))
    no_document = mutated(lambda r: _drop(r, "//xdsb:Document[@id='Document01']"))
    assert "DMP.XDS.missing_document" in errors(checks.check_hash_size(no_document))


def test_associations() -> None:
    assert not errors(checks.check_associations(request()))
    no_status = mutated(lambda r: _drop(r, "//rim:Association[@id='Assoc01']/rim:Slot"))
    assert errors(checks.check_associations(no_status)) == {"DMP.XDS.submission_set_status"}
    no_member = mutated(lambda r: _drop(r, "//rim:Association[@id='Assoc01']"))
    assert errors(checks.check_associations(no_member)) == {"DMP.XDS.has_member"}


def test_metadata_against_the_cda_header() -> None:
    assert not errors(checks.check_against_cda(request()))
    found = errors(checks.check_against_cda(request(defects=frozenset({"metadata_mismatch"}))))
    assert found == {"DMP.META.title", "DMP.META.creationTime"}


def test_signature_document() -> None:
    assert not errors(checks.check_signature(request(), ctx()))
    assert errors(checks.check_signature(request(defects=frozenset({"no_signature_document"})), ctx())) == {
        "DMP.DSG.missing"}
    no_signs = mutated(lambda r: _drop(r, f"//rim:Association[@associationType='{ns.ASSOC_SIGNS}']"))
    assert errors(checks.check_signature(no_signs, ctx())) == {"DMP.DSG.signs"}

    def wrong_type(root):
        for c in _find(root, _scheme("typeCode", "Signature01")):
            c.set("nodeRepresentation", "X")

    found = checks.check_signature(mutated(wrong_type), ctx())
    assert not errors(found) and "DMP.DSG.typeCode" in warnings(found)

    def other_document(parts):  # the CDA sent is not the one the signature covers
        return [Attachment(parts[0].content_id, parts[0].data + b"<!-- -->", parts[0].mime_type), parts[1]]

    assert "DMP.DSG.digest_mismatch" in errors(checks.check_signature(mutated(lambda r: None, parts=other_document),
                                                                      ctx()))


def test_documents_are_cda() -> None:
    assert not errors(checks.check_cda_format(request()))

    def pdf(parts):
        return [Attachment(parts[0].content_id, b"%PDF-1.4 not xml", "application/pdf"), parts[1]]

    def pdf_mime(root):
        for e in _find(root, "//rim:ExtrinsicObject[@id='Document01']"):
            e.set("mimeType", "application/pdf")

    found = errors(checks.check_cda_format(mutated(pdf_mime, parts=pdf)))
    assert found == {"DMP.CDA.mime_type", "DMP.CDA.unreadable"}
    not_cda = mutated(lambda r: None, parts=lambda p: [Attachment(p[0].content_id, b"<html/>", "text/xml"), p[1]])
    assert errors(checks.check_cda_format(not_cda)) == {"DMP.CDA.not_cda"}


def test_replacement() -> None:
    old = synthetic_cda()
    old_uid = unique_id_of(old)
    new = synthetic_cda(replaces=old_uid)
    target = "urn:uuid:11111111-2222-3333-4444-555555555555"
    known = {target: {"uniqueId": old_uid, "status": ns.STATUS_APPROVED, "patientId": PATIENT_CX}}
    good = request(new, replaces_uuid=target)
    assert not errors(checks.check_replacement(good, ctx(known_entries=known, registry_known=True)))
    assert errors(checks.check_replacement(good, ctx(registry_known=True))) == {"DMP.RPLC.unknown_target"}
    assert warnings(checks.check_replacement(good, ctx())) == {"DMP.RPLC.unknown_target"}  # artefact mode
    deprecated = {target: dict(known[target], status=ns.STATUS_DEPRECATED)}
    assert errors(checks.check_replacement(good, ctx(known_entries=deprecated, registry_known=True))) == {
        "DMP.RPLC.deprecated_target"}
    other = {target: dict(known[target], uniqueId="1.2.3.4")}
    assert errors(checks.check_replacement(good, ctx(known_entries=other, registry_known=True))) == {
        "DMP.RPLC.related_document"}
    assert errors(checks.check_replacement(request(new), ctx())) == {"DMP.RPLC.missing"}
    assert errors(checks.check_replacement(request(old, replaces_uuid=target),
                                           ctx(known_entries=known, registry_known=True))) == {
        "DMP.RPLC.no_related_document"}


def test_registry_error_codes() -> None:
    assert checks.registry_error_for([]) is None
    assert checks.registry_error_for(checks.check_hash_size(request(defects=frozenset({"hash_mismatch"}))))[0] == \
        "XDSRepositoryMetadataError"
    assert checks.registry_error_for(checks.check_metadata(mutated(lambda r: _drop(r, _scheme("typeCode"))),
                                                           ctx()))[0] == "XDSRegistryMetadataError"


def test_official_vsm_example_through_the_reference_client() -> None:
    vsm = KIT / "ExemplesCDA" / "VSM_1.4_2022.01.xml"
    if not vsm.is_file():
        pytest.skip(f"exemple officiel absent ({vsm}) : SEGUR_SHARED ou ../shared requis")
    found = checks.check_submission(request(vsm.read_bytes(), patient="279035121518989^^^&1.2.250.1.213.1.4.10&ISO^NH"),
                                    ctx(kit=KIT))
    assert not errors(found), [f for f in found if f.is_error]
    # a hospital example: the medico-social expectations are warnings, not errors
    assert {"DMP.XDS.healthcareFacilityTypeCode_ms", "DMP.XDS.practiceSettingCode_ms"} <= warnings(found)


def test_archived_capture_is_judged_at_capture_time_not_today() -> None:
    """Artefact mode: a capture whose test certificates have since expired still verifies at its
    IssueInstant; judged 'today' (two years on) it fails on certificate validity."""
    import datetime as dt

    req = request()
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=730)
    assert "DMP.VIHF.cert_validity" in errors(checks.check_vihf(req, CheckContext(now=later)))
    at_capture = CheckContext(at_capture_time=True)
    captured = at_capture.clock(req)
    assert captured is not None and abs((captured - dt.datetime.now(dt.UTC)).total_seconds()) < 600
    assert "DMP.VIHF.cert_validity" not in errors(checks.check_vihf(req, at_capture))
