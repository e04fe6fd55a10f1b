"""Builders shared by the MSSanté tests: a small valid CDA header, residents, documents and messages.

Why not the official examples only: most MSS tests must run without ../shared (a fresh clone has none),
and they need a document whose patient matches the resident of the test. The CDA below carries exactly
what the MSS checks and the XDS comparison read (header, INS + traits when qualified, RPLC when asked).
The few tests of this file pin the builders themselves.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass, field
from typing import Any

from conformance.ins.matricule import OID_INS_NIR_TEST, make_matricule

MATRICULE = make_matricule("2410563113901")
SENDER = "bal-applicative-test@dui.test-ci-sis.mssante.fr"
PRO = "dr.martin@test-ci-sis.mssante.fr"
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@dataclass
class Resident:
    id: str = "R1"
    status: str = "QUAL"
    ins: dict[str, str] | None = field(default_factory=lambda: {"matricule": MATRICULE, "oid": OID_INS_NIR_TEST})
    traits: dict[str, Any] = field(default_factory=lambda: {
        "birth_name": "D'ESSAI-LAFONTAINE", "given_names": ["MARIE-CLAIRE", "ANNE"],
        "first_given_name": "MARIE-CLAIRE", "birth_date": "1941-05-12", "sex": "F", "birthplace_code": "63113"})

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "status": self.status, "ins": self.ins, "traits": self.traits}


@dataclass
class Document:
    id: str
    type: str
    resident_id: str
    cda: bytes
    mss_status: str = "not_sent"
    mss_error: str | None = None
    mss_message_id: str | None = None
    mdn: dict[str, Any] | None = None


def cda(resident: Resident | Any | None = None, *, doc_id: str | None = None, set_id: str | None = None,
        version: int = 1, replaces: str | None = None, code: str = "74207-2",
        title: str = "Dossier de liaison d'urgence") -> bytes:
    """A small CDA R2 N1 document for ``resident`` (INS only when the identity is qualified, Règle 28)."""
    resident = resident or Resident()
    traits = getattr(resident, "traits", None) or Resident().traits
    status = getattr(resident, "status", "QUAL")
    ins = getattr(resident, "ins", None)
    doc_id = doc_id or str(uuid.uuid4().int % 10**12)
    set_id = set_id or f"S{doc_id}"
    ins_id = (f'<id root="{ins["oid"]}" extension="{ins["matricule"]}"/>' if status == "QUAL" and ins else "")
    given = " ".join(traits["given_names"])
    related = (f'<relatedDocument typeCode="RPLC"><parentDocument><id root="1.2.250.1.999.2" extension="{replaces}"/>'
               f"</parentDocument></relatedDocument>" if replaces else "")
    born = str(traits["birth_date"]).replace("-", "")
    pdf = base64.b64encode(PDF).decode("ascii")
    xml = f"""<?xml version="1.0" encoding="UTF-8"?>
<ClinicalDocument xmlns="urn:hl7-org:v3">
  <realmCode code="FR"/>
  <typeId root="2.16.840.1.113883.1.3" extension="POCD_HD000040"/>
  <templateId root="2.16.840.1.113883.2.8.2.1"/>
  <templateId root="1.2.250.1.213.1.1.1.1"/>
  <id root="1.2.250.1.999.2" extension="{doc_id}"/>
  <code code="{code}" codeSystem="2.16.840.1.113883.6.1" displayName="{title}"/>
  <title>{title}</title>
  <effectiveTime value="20240312101500+0100"/>
  <confidentialityCode code="N" codeSystem="2.16.840.1.113883.5.25" displayName="Normal"/>
  <languageCode code="fr-FR"/>
  <setId root="1.2.250.1.999.3" extension="{set_id}"/>
  <versionNumber value="{version}"/>
  <recordTarget><patientRole>
    {ins_id}
    <id root="1.2.250.1.999.4" extension="IPP{getattr(resident, 'id', 'R1')}"/>
    <patient classCode="PSN">
      <name><family qualifier="BR">{traits["birth_name"]}</family><given>{given}</given>
        <given qualifier="BR">{traits["first_given_name"]}</given></name>
      <administrativeGenderCode code="{traits["sex"]}" codeSystem="2.16.840.1.113883.5.1"/>
      <birthTime value="{born}"/>
      <birthplace><place><addr><county>{traits["birthplace_code"]}</county></addr></place></birthplace>
    </patient>
  </patientRole></recordTarget>
  <author><time value="20240312101500+0100"/><assignedAuthor>
    <id root="1.2.250.1.71.4.2.1" extension="810000000001"/>
    <code code="SM26" codeSystem="1.2.250.1.71.1.2.7" displayName="Qualifié en médecine générale"/>
    <assignedPerson><name><family>MEDECIN</family><given>Paul</given></name></assignedPerson>
    <representedOrganization><id root="1.2.250.1.71.4.2.2" extension="1750000001"/><name>EHPAD TEST</name>
    </representedOrganization></assignedAuthor></author>
  <custodian><assignedCustodian><representedCustodianOrganization>
    <id root="1.2.250.1.71.4.2.2" extension="1750000001"/><name>EHPAD TEST</name>
  </representedCustodianOrganization></assignedCustodian></custodian>
  <legalAuthenticator><time value="20240312101500+0100"/><signatureCode code="S"/><assignedEntity>
    <id root="1.2.250.1.71.4.2.1" extension="810000000001"/>
    <assignedPerson><name><family>MEDECIN</family><given>Paul</given></name></assignedPerson>
  </assignedEntity></legalAuthenticator>
  <documentationOf><serviceEvent>
    <effectiveTime><low value="20240312090000+0100"/><high value="20240312100000+0100"/></effectiveTime>
    <performer typeCode="PRF"><assignedEntity><id root="1.2.250.1.71.4.2.1" extension="810000000001"/>
      <representedOrganization><standardIndustryClassCode code="ESSMS" codeSystem="1.2.250.1.213.1.1.4.9"
        displayName="Établissement ou service social ou médico-social"/></representedOrganization>
    </assignedEntity></performer>
  </serviceEvent></documentationOf>
  {related}
  <componentOf><encompassingEncounter><effectiveTime value="20240312090000+0100"/>
    <location><healthCareFacility><code code="SA17" codeSystem="1.2.250.1.71.4.2.4"
      displayName="Établissement pour personnes âgées"/></healthCareFacility></location>
  </encompassingEncounter></componentOf>
  <component><nonXMLBody><text mediaType="application/pdf" representation="B64">{pdf}</text></nonXMLBody></component>
</ClinicalDocument>
"""
    return xml.encode("utf-8")


def document(resident: Resident | None = None, **kw: Any) -> Document:
    resident = resident or Resident()
    return Document(id=f"D{uuid.uuid4().hex[:6]}", type="DLU", resident_id=resident.id, cda=cda(resident, **kw))


def options(**kw: Any) -> dict[str, Any]:
    base = {"recipients": [PRO], "to_patient": False, "read_receipt": False, "no_reply": False}
    base.update(kw)
    return base


def endpoint() -> dict[str, Any]:
    """A dummy endpoint for building messages without a simulator."""
    return {"host": "127.0.0.1", "port": 1, "sender": SENDER, "ca_pem": ""}


def message(resident: Resident | None = None, defects: frozenset[str] = frozenset(), **opts: Any) -> bytes:
    """A message as the reference DUI builds it (compliant unless ``defects`` say otherwise)."""
    from segur_reference_dui import mss_client

    resident = resident or Resident()
    opts = options(**opts)
    recipients = list(opts["recipients"]) + ([f"{resident.ins['matricule']}@patient.mssante.fr"]
                                              if opts.get("to_patient") and resident.ins else [])
    raw, _ = mss_client.build_message(cda(resident), resident, endpoint(), defects, opts, recipients)
    return raw


# ---------------------------------------------------------------------------------------------
# the builders themselves
# ---------------------------------------------------------------------------------------------
def test_cda_carries_ins_only_for_a_qualified_identity() -> None:
    from conformance.ins.cda_identity import check_cda_identity, extract_identity
    from conformance.safexml import parse_bytes

    qualified = parse_bytes(cda(Resident()))
    assert extract_identity(qualified).ins == (MATRICULE, OID_INS_NIR_TEST)
    assert not [f for f in check_cda_identity(qualified) if f.is_error]
    assert extract_identity(parse_bytes(cda(Resident(status="PROV", ins=None)))).ins is None


def test_reference_message_is_clean() -> None:
    from conformance.mss.checks import MessageContext, check_message

    raw = message(to_patient=True, no_reply=True, read_receipt=True)
    ctx = MessageContext(options=options(to_patient=True, no_reply=True, read_receipt=True),
                         resident=Resident().to_json(), sender=SENDER, applicative=True)
    findings = check_message(raw, "ref.eml", ctx)
    assert not [f for f in findings if f.is_error], [f.message for f in findings if f.is_error]
