"""XDS.b metadata as ebRIM 3.0, written by the reference DUI from IHE ITI TF-3 (§4.2.3 metadata attributes,
§4.2.5 Table 4.2.5-1 classification schemes and identifiers, §4.2.2 associations), for its ITI-41 submissions
(DMP) and the METADATA.XML of its XDM packages (MSSanté).

The values a metadata mapping carries are plain Python: ``{"code", "scheme", "display"}`` for a coded value
(ebRIM Classification: nodeRepresentation, codingScheme slot, Name), lists of strings for slots, HL7 v2
strings (CX, XCN, XON) already formatted by the caller.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from lxml import etree

RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
LCM = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
QUERY = "urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0"
RS = "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0"

# ITI TF-3 Table 4.2.5-1
STABLE_DOCUMENT_ENTRY = "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"
SUBMISSION_SET_NODE = "urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd"
REGISTRY_PACKAGE = "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:RegistryPackage"
CLASSIFICATION = "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:Classification"
ENTRY_AUTHOR = "urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d"
ENTRY_CODES = (  # (metadata attribute, classification scheme), in the order TF-3 lists them
    ("classCode", "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a"),
    ("confidentialityCode", "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f"),
    ("eventCodeList", "urn:uuid:2c6b8cb7-8b2a-4051-b291-b1ae6a575ef4"),
    ("formatCode", "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d"),
    ("healthcareFacilityTypeCode", "urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1"),
    ("practiceSettingCode", "urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead"),
    ("typeCode", "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983"),
)
ENTRY_PATIENT_ID = "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427"
ENTRY_UNIQUE_ID = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"
SET_AUTHOR = "urn:uuid:a7058bb9-b4e4-4307-ba5b-e3f0ab85e12d"
SET_CONTENT_TYPE = "urn:uuid:aa543740-bdda-424e-8c96-df4873be8500"
SET_PATIENT_ID = "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446"
SET_SOURCE_ID = "urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832"
SET_UNIQUE_ID = "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8"
# ITI TF-3 §4.2.2
HAS_MEMBER = "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember"
RPLC = "urn:ihe:iti:2007:AssociationType:RPLC"
SIGNS = "urn:ihe:iti:2007:AssociationType:signs"
APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
FIND_DOCUMENTS = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"
SUCCESS = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"

# the ebRIM 3.0 slots of a DocumentEntry, in the order this DUI writes them (ebRIM: all Slots before Name)
ENTRY_SLOTS = ("creationTime", "hash", "languageCode", "legalAuthenticator", "serviceStartTime", "serviceStopTime",
               "size", "sourcePatientId", "sourcePatientInfo", "URI")


def _rim(tag: str) -> str:
    return f"{{{RIM}}}{tag}"


def slot(parent: etree._Element, name: str, values: Iterable[Any]) -> None:
    kept = [str(v) for v in values if v not in (None, "")]
    if kept:
        value_list = etree.SubElement(etree.SubElement(parent, _rim("Slot"), name=name), _rim("ValueList"))
        for value in kept:
            etree.SubElement(value_list, _rim("Value")).text = value


def _name(parent: etree._Element, text: str, tag: str = "Name") -> None:
    if text:
        etree.SubElement(etree.SubElement(parent, _rim(tag)), _rim("LocalizedString"), value=text)


def _classification(parent: etree._Element, owner: str, scheme: str, coded: Mapping[str, str], cid: str) -> None:
    cl = etree.SubElement(parent, _rim("Classification"), id=cid, objectType=CLASSIFICATION,
                          classificationScheme=scheme, classifiedObject=owner,
                          nodeRepresentation=coded["code"])
    slot(cl, "codingScheme", [coded.get("scheme", "")])
    _name(cl, coded.get("display") or coded["code"])


def _author(parent: etree._Element, owner: str, scheme: str, author: Mapping[str, Sequence[str]], cid: str) -> None:
    # TF-3 §4.2.3.1.4: an author is a Classification with an empty nodeRepresentation and its slots
    cl = etree.SubElement(parent, _rim("Classification"), id=cid, objectType=CLASSIFICATION,
                          classificationScheme=scheme, classifiedObject=owner, nodeRepresentation="")
    for name in ("authorPerson", "authorInstitution", "authorRole", "authorSpecialty", "authorTelecommunication"):
        slot(cl, name, author.get(name) or [])


def _identifier(parent: etree._Element, owner: str, scheme: str, value: str, label: str, eid: str) -> None:
    ext = etree.SubElement(parent, _rim("ExternalIdentifier"), id=eid, identificationScheme=scheme,
                           registryObject=owner, value=value)
    _name(ext, label)


def document_entry(entry_id: str, md: Mapping[str, Any]) -> etree._Element:
    """The ExtrinsicObject of one stable DocumentEntry (TF-3 §4.2.3.2)."""
    eo = etree.Element(_rim("ExtrinsicObject"), id=entry_id, mimeType=md["mimeType"],
                       objectType=STABLE_DOCUMENT_ENTRY)
    for name in ENTRY_SLOTS:
        value = md.get(name)
        slot(eo, name, value if isinstance(value, list | tuple) else [value])
    _name(eo, md.get("title") or "")
    n = 0
    for author in md.get("authors") or []:
        n += 1
        _author(eo, entry_id, ENTRY_AUTHOR, author, f"{entry_id}.c{n}")
    for attribute, scheme in ENTRY_CODES:
        for coded in md.get(attribute) or []:
            if coded.get("code"):
                n += 1
                _classification(eo, entry_id, scheme, coded, f"{entry_id}.c{n}")
    _identifier(eo, entry_id, ENTRY_PATIENT_ID, md["patientId"], "XDSDocumentEntry.patientId", f"{entry_id}.e1")
    _identifier(eo, entry_id, ENTRY_UNIQUE_ID, md["uniqueId"], "XDSDocumentEntry.uniqueId", f"{entry_id}.e2")
    return eo


def submission_set(set_id: str, md: Mapping[str, Any]) -> etree._Element:
    """The RegistryPackage of a SubmissionSet, its SubmissionSet classification inside (TF-3 §4.2.3.3)."""
    rp = etree.Element(_rim("RegistryPackage"), id=set_id, objectType=REGISTRY_PACKAGE)
    slot(rp, "submissionTime", [md["submissionTime"]])
    slot(rp, "intendedRecipient", md.get("intendedRecipient") or [])
    _name(rp, md.get("title") or "")
    n = 0
    for author in md.get("authors") or []:
        n += 1
        _author(rp, set_id, SET_AUTHOR, author, f"{set_id}.c{n}")
    for coded in md.get("contentTypeCode") or []:
        n += 1
        _classification(rp, set_id, SET_CONTENT_TYPE, coded, f"{set_id}.c{n}")
    etree.SubElement(rp, _rim("Classification"), id=f"{set_id}.node", objectType=CLASSIFICATION,
                     classifiedObject=set_id, classificationNode=SUBMISSION_SET_NODE)
    _identifier(rp, set_id, SET_UNIQUE_ID, md["uniqueId"], "XDSSubmissionSet.uniqueId", f"{set_id}.e1")
    _identifier(rp, set_id, SET_SOURCE_ID, md["sourceId"], "XDSSubmissionSet.sourceId", f"{set_id}.e2")
    _identifier(rp, set_id, SET_PATIENT_ID, md["patientId"], "XDSSubmissionSet.patientId", f"{set_id}.e3")
    return rp


def association(assoc_id: str, kind: str, source: str, target: str, *, original: bool = False) -> etree._Element:
    el = etree.Element(_rim("Association"), id=assoc_id, associationType=kind, sourceObject=source,
                       targetObject=target)
    if original:  # TF-3 §4.2.2.1.1: a HasMember from the SubmissionSet to a new entry says it is Original
        slot(el, "SubmissionSetStatus", ["Original"])
    return el


def submit_objects_request(objects: Iterable[etree._Element]) -> etree._Element:
    req = etree.Element(f"{{{LCM}}}SubmitObjectsRequest", nsmap={"lcm": LCM, "rim": RIM})
    registry_objects = etree.SubElement(req, _rim("RegistryObjectList"))
    registry_objects.extend(objects)
    return req


def find_documents_query(patient_cx: str) -> etree._Element:
    """ITI-18 FindDocuments for the approved entries of one patient, LeafClass (TF-2 §3.18.4.1.2.3.7.1)."""
    req = etree.Element(f"{{{QUERY}}}AdhocQueryRequest", nsmap={"query": QUERY, "rim": RIM})
    etree.SubElement(req, f"{{{QUERY}}}ResponseOption", returnComposedObjects="true", returnType="LeafClass")
    query = etree.SubElement(req, _rim("AdhocQuery"), id=FIND_DOCUMENTS)
    slot(query, "$XDSDocumentEntryPatientId", [f"'{patient_cx}'"])
    slot(query, "$XDSDocumentEntryStatus", [f"('{APPROVED}')"])
    return req


def unique_ids_to_entries(payload: etree._Element) -> dict[str, str]:
    """uniqueId → entryUUID of the DocumentEntries of a query answer."""
    out = {}
    for eo in payload.iter(_rim("ExtrinsicObject")):
        for ext in eo.iter(_rim("ExternalIdentifier")):
            if ext.get("identificationScheme") == ENTRY_UNIQUE_ID:
                out[ext.get("value") or ""] = eo.get("id") or ""
    return out
