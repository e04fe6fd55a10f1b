"""Namespaces, SOAP actions and the IHE/ebRIM identifiers, in one place (shared by the DMP and MSS rooms).

Why one module: the simulators, the checks and the reference client must agree on every URI; a typo in
one of them would make the harness agree with itself and disagree with the DMP. Values come from
../shared/specs/protocols.md §1 (IHE ITI TF-3 §4.2, CI-SIS volet "Partage de documents de santé").
The DMP room's own stand-ins (TD0.2/TD0.3) are in ``conformance.dmp.ns``, which extends this module.
"""

from __future__ import annotations


def q(namespace: str, local: str) -> str:
    """Clark notation ``{namespace}local`` (the tag form lxml uses)."""
    return f"{{{namespace}}}{local}"


SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
WSA = "http://www.w3.org/2005/08/addressing"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
DS = "http://www.w3.org/2000/09/xmldsig#"
XADES132 = "http://uri.etsi.org/01903/v1.3.2#"
XADES111 = "http://uri.etsi.org/01903/v1.1.1#"
XADES141 = "http://uri.etsi.org/01903/v1.4.1#"
RIM = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"
LCM = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
RS = "urn:oasis:names:tc:ebxml-regrep:xsd:rs:3.0"
QUERY = "urn:oasis:names:tc:ebxml-regrep:xsd:query:3.0"
XDSB = "urn:ihe:iti:xds-b:2007"
XOP = "http://www.w3.org/2004/08/xop/include"
HL7 = "urn:hl7-org:v3"
XSI = "http://www.w3.org/2001/XMLSchema-instance"

NSMAP = {
    "soap": SOAP12, "wsa": WSA, "wsse": WSSE, "saml": SAML, "ds": DS, "rim": RIM, "lcm": LCM, "rs": RS,
    "query": QUERY, "xdsb": XDSB, "xop": XOP, "hl7": HL7, "xsi": XSI,
}

# --- SOAP actions (WS-Addressing) ---------------------------------------------------------------
ACTION_ITI41 = "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b"
ACTION_ITI41_RESPONSE = "urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-bResponse"
ACTION_ITI18 = "urn:ihe:iti:2007:RegistryStoredQuery"
ACTION_ITI18_RESPONSE = "urn:ihe:iti:2007:RegistryStoredQueryResponse"
ACTION_ITI57 = "urn:ihe:iti:2010:UpdateDocumentSet"
ACTION_ITI57_RESPONSE = "urn:ihe:iti:2010:UpdateDocumentSetResponse"
WSA_FAULT = "http://www.w3.org/2005/08/addressing/soap/fault"

# --- ebRIM object types and classification schemes (ITI TF-3 §4.2.5) -----------------------------
OBJ_STABLE_DE = "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"
OBJ_ONDEMAND_DE = "urn:uuid:34268e47-fdf5-41a6-ba33-82133c465248"
OBJ_REGISTRY_PACKAGE = "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:RegistryPackage"
NODE_SUBMISSION_SET = "urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd"

DE_SCHEMES = {
    "author": "urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d",
    "classCode": "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a",
    "confidentialityCode": "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f",
    "eventCodeList": "urn:uuid:2c6b8cb7-8b2a-4051-b291-b1ae6a575ef4",
    "formatCode": "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d",
    "healthcareFacilityTypeCode": "urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1",
    "practiceSettingCode": "urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead",
    "typeCode": "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983",
}
SS_SCHEMES = {
    "author": "urn:uuid:a7058bb9-b4e4-4307-ba5b-e3f0ab85e12d",
    "contentTypeCode": "urn:uuid:aa543740-bdda-424e-8c96-df4873be8500",
}
DE_IDENTIFIERS = {
    "patientId": "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427",
    "uniqueId": "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab",
}
SS_IDENTIFIERS = {
    "patientId": "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446",
    "sourceId": "urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832",
    "uniqueId": "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8",
}
SCHEME_NAMES = {v: k for k, v in {**DE_SCHEMES, **{f"ss.{k}": v for k, v in SS_SCHEMES.items()}}.items()}

# --- associations and statuses ----------------------------------------------------------------
ASSOC_HAS_MEMBER = "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember"
ASSOC_RPLC = "urn:ihe:iti:2007:AssociationType:RPLC"
ASSOC_SIGNS = "urn:ihe:iti:2007:AssociationType:signs"
ASSOC_UPDATE_STATUS = "urn:ihe:iti:2010:AssociationType:UpdateAvailabilityStatus"
ASSOC_APND = "urn:ihe:iti:2007:AssociationType:APND"
ASSOC_XFRM = "urn:ihe:iti:2007:AssociationType:XFRM"
ASSOC_XFRM_RPLC = "urn:ihe:iti:2007:AssociationType:XFRM_RPLC"
ASSOC_SNAPSHOT = "urn:ihe:iti:2010:AssociationType:IsSnapshotOf"
#: document relationships whose target is an entry already in the registry, not in the submission
#: (IHE ITI TF-3 §4.2.2: RPLC, XFRM, APND, XFRM_RPLC; IsSnapshotOf targets an existing On-Demand entry)
ASSOC_REGISTRY_TARGET = (ASSOC_RPLC, ASSOC_APND, ASSOC_XFRM, ASSOC_XFRM_RPLC, ASSOC_SNAPSHOT)
STATUS_APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
STATUS_DEPRECATED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated"
STATUS_ARCHIVED = "urn:asip:ci-sis:2010:StatusType:Archived"
STATUS_DELETED = "urn:asip:ci-sis:2010:StatusType:Deleted"
AVAILABILITY_STATUSES = (STATUS_APPROVED, STATUS_DEPRECATED, STATUS_ARCHIVED, STATUS_DELETED)

RESPONSE_SUCCESS = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Success"
RESPONSE_FAILURE = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:Failure"
RESPONSE_PARTIAL = "urn:ihe:iti:2007:ResponseStatusType:PartialSuccess"
SEVERITY_ERROR = "urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Error"
SEVERITY_WARNING = "urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Warning"

# --- stored queries (ITI-18) ------------------------------------------------------------------
QUERY_FIND_DOCUMENTS = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"
QUERY_GET_DOCUMENTS = "urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4"
QUERY_FIND_SUBMISSION_SETS = "urn:uuid:f26abbcb-ac74-4422-8a30-edb644bbc1a9"

# --- the DMP signature document (IHE DSG as the DMP uses it; protocols.md §1.3) -----------------
DSG_CLASS = ("urn:oid:1.3.6.1.4.1.19376.1.2.1.1.1", "URN", "Digital Signature")
DSG_TYPE = ("E1762", "ASTM", "Full Document")
DSG_FORMAT = ("http://www.w3.org/2000/09/xmldsig#", "URN", "Default Signature Style")
DSG_EVENT = ("1.2.840.10065.1.12.1.14", "1.2.840.10065.1.12", "Source")
DSG_LANGUAGE = "art"
