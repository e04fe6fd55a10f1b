"""ebRIM model and HL7 v2 datatypes: parsers, and the builder as the parser's exact inverse."""

from __future__ import annotations

import datetime as dt

from lxml import etree

from conformance.dmp import ns
from conformance.ihe import ebrim
from conformance.ihe.xds import (
    hl7_ts_to_dtm,
    is_oid,
    parse_cx,
    parse_dtm,
    parse_submit_objects,
    parse_xcn,
    parse_xon,
)

INS_CX = "279035121518989^^^&1.2.250.1.213.1.4.10&ISO^NH"


def test_cx_xcn_xon() -> None:
    cx = parse_cx(INS_CX)
    assert (cx.id, cx.authority_oid, cx.authority_type, cx.id_type) == (
        "279035121518989", "1.2.250.1.213.1.4.10", "ISO", "NH")
    assert cx.problems() == []
    assert parse_cx("123^^^&notanoid&ISO^NH").problems() == ["CX.4.2 n'est pas un OID : notanoid"]
    assert len(parse_cx("").problems()) == 3
    xcn = parse_xcn("810100000001^MARTIN^Camille^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS")
    assert (xcn.id, xcn.family, xcn.given, xcn.authority_oid, xcn.name_type, xcn.id_type) == (
        "810100000001", "MARTIN", "Camille", "1.2.250.1.71.4.2.1", "D", "IDNPS")
    xon = parse_xon("EHPAD^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^1750000000")
    assert (xon.name, xon.authority_oid, xon.id_type, xon.id) == ("EHPAD", "1.2.250.1.71.4.2.2", "IDNST", "1750000000")
    assert is_oid("1.2.250.1.213.1.4.10") and not is_oid("1.2.03") and not is_oid("urn:oid:1.2")


def test_dtm_and_cda_time_conversion() -> None:
    assert parse_dtm("20240312101700") == dt.datetime(2024, 3, 12, 10, 17, tzinfo=dt.UTC)
    assert parse_dtm("2024") is not None and parse_dtm("202403") is not None
    assert parse_dtm("20241312") is None and parse_dtm("2024-03-12") is None and parse_dtm("2024031") is None
    assert hl7_ts_to_dtm("20240312111700+0100") == ("20240312101700", True)
    assert hl7_ts_to_dtm("20240101003000+0200") == ("20231231223000", True)  # crosses a year
    assert hl7_ts_to_dtm("20240312111700") == ("20240312111700", False)
    assert hl7_ts_to_dtm("20240312") == ("20240312", False)
    assert hl7_ts_to_dtm("garbage") == ("", False)


def _metadata() -> dict:
    coded = lambda code, scheme, display="": [{"code": code, "scheme": scheme, "display": display}]  # noqa: E731
    return {
        "uniqueId": "1.2.3.4", "patientId": INS_CX, "sourcePatientId": "IPP1^^^&1.2.3&ISO^PI",
        "sourcePatientInfo": ["PID-5|PAT^DOM^^^^^L", "PID-7|19790305", "PID-8|F"],
        "title": "Titre", "mimeType": "text/xml", "languageCode": "fr-FR", "creationTime": "20240312101700",
        "serviceStartTime": "20240301080000", "serviceStopTime": "20240312100000", "hash": "ab" * 20, "size": "12",
        "legalAuthenticator": "1^A^B^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS", "repositoryUniqueId": "",
        "authors": [{"authorPerson": ["1^A^B^^^^^^&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS"],
                     "authorInstitution": ["E^^^^^&1.2.250.1.71.4.2.2&ISO^IDNST^^^1750000000"],
                     "authorRole": ["ATTPHYS^Médecin^2.16.840.1.113883.5.88"], "authorSpecialty": [],
                     "authorTelecommunication": []}],
        "classCode": coded("44", "1.2.250.1.213.1.1.4.1", "Plan de soins"),
        "typeCode": coded("80788-3", "2.16.840.1.113883.6.1", "PPA"),
        "formatCode": coded("urn:ihe:iti:xds-sd:pdf:2008", "1.3.6.1.4.1.19376.1.2.3", "PDF"),
        "confidentialityCode": coded("N", "2.16.840.1.113883.5.25", "Normal") + coded("MASQUE_PS",
                                                                                      "1.2.250.1.213.1.1.4.13"),
        "healthcareFacilityTypeCode": coded("SA17", "1.2.250.1.71.4.2.4", "Personnes âgées"),
        "practiceSettingCode": coded("ESSMS", "1.2.250.1.213.1.1.4.9", "ESSMS"),
        "eventCodeList": [],
    }


def test_builder_and_parser_are_inverse() -> None:
    md = _metadata()
    objects = [ebrim.extrinsic_object("Doc1", md)]
    objects += ebrim.submission_set("SS1", {"uniqueId": "1.2.9", "sourceId": "1.2.8", "patientId": INS_CX,
                                            "submissionTime": "20240312101800",
                                            "contentTypeCode": [{"code": "07", "scheme": "1.2.250.1.213.2.2"}],
                                            "authors": md["authors"]})
    objects.append(ebrim.association("A1", ns.ASSOC_HAS_MEMBER, "SS1", "Doc1", {"SubmissionSetStatus": ["Original"]}))
    xml = etree.tostring(ebrim.submit_objects_request(objects))
    sub = parse_submit_objects(etree.fromstring(xml))
    assert sub.problems == []
    entry = sub.entry("Doc1")
    got = entry.metadata()
    for key, value in md.items():
        if key == "confidentialityCode":  # a coded value without display name gets its code as Name
            assert [(c["code"], c["display"]) for c in got[key]] == [("N", "Normal"), ("MASQUE_PS", "MASQUE_PS")]
        elif key == "authors":
            assert got[key][0]["authorPerson"] == value[0]["authorPerson"]
            assert got[key][0]["authorInstitution"] == value[0]["authorInstitution"]
        elif key == "repositoryUniqueId":
            assert got[key] == ""
        else:
            assert got[key] == value, key
    ss = sub.submission_set
    assert ss.id == "SS1" and ss.unique_id == "1.2.9" and ss.identifiers["sourceId"] == "1.2.8"
    assert ss.patient_id == INS_CX and ss.slot("submissionTime") == "20240312101800"
    assert sub.associations[0].slot("SubmissionSetStatus") == "Original"
    assert sub.documents == [entry] and sub.signature_entries == []


def test_tolerant_parsing_notes_oddities() -> None:
    sub = parse_submit_objects(etree.fromstring(b"<x/>"))
    assert [p[0] for p in sub.problems] == ["DMP.XDS.no_objects"]
    folder = ebrim.submit_objects_request([etree.Element(f"{{{ns.RIM}}}RegistryPackage", id="F1")])
    sub = parse_submit_objects(folder)
    assert [p[0] for p in sub.problems] == ["DMP.XDS.folder"] and sub.submission_set is None
    many = ebrim.submit_objects_request([etree.Element(f"{{{ns.RIM}}}ExtrinsicObject", id=f"E{i}")
                                         for i in range(600)])
    sub = parse_submit_objects(many)
    assert "DMP.XDS.too_many" in [p[0] for p in sub.problems] and len(sub.entries) == 500
