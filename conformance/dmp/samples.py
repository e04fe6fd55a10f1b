"""A small synthetic medico-social CDA (N1, PDF body) for the DMP tests, benchmarks and demos.

Why synthetic: the DMP checks need a CDA whose header is known field by field, independent of the
CI-SIS kit (which users download; a fresh clone has none) and of the CDA room's generator. Every value
is invented: the INS is the ANS test NIR of the VSM example (OID .10, test range), the professionals
and the structure are fictitious.
"""

from __future__ import annotations

import base64
import uuid

INS = "279035121518989"
INS_OID = "1.2.250.1.213.1.4.10"
PATIENT_CX = f"{INS}^^^&{INS_OID}&ISO^NH"
AUTHOR_ID = "810100000001"  # 8 + RPPS (invented)
STRUCTURE_ID = "1750000000"  # 1 + FINESS (invented)
PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj "
       b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")


def synthetic_cda(*, unique_root: str | None = None, title: str = "Projet personnalisé d'accompagnement",
                  effective_time: str = "20240312111700+0100", replaces: str | None = None,
                  type_code: tuple[str, str, str] = ("80788-3", "2.16.840.1.113883.6.1",
                                                     "Projet personnalisé d'accompagnement"),
                  facility: str = "SA17", padding: int = 0) -> bytes:
    """A CDA R2 N1 document; ``replaces`` (root[^ext]) adds a relatedDocument RPLC; ``padding`` grows the PDF."""
    root = unique_root or f"1.2.250.1.999.3.{uuid.uuid4().int % 10**12}"
    pdf = base64.b64encode(PDF + b"%" + b"0" * padding + b"\n").decode("ascii")
    related = ""
    if replaces:
        r_root, _, r_ext = replaces.partition("^")
        ext = f' extension="{r_ext}"' if r_ext else ""
        related = (f'<relatedDocument typeCode="RPLC"><parentDocument><id root="{r_root}"{ext}/>'
                   f"</parentDocument></relatedDocument>")
    code, system, display = type_code
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<ClinicalDocument xmlns="urn:hl7-org:v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <realmCode code="FR"/>
  <typeId root="2.16.840.1.113883.1.3" extension="POCD_HD000040"/>
  <templateId root="2.16.840.1.113883.2.8.2.1"/>
  <templateId root="1.2.250.1.213.1.1.1.1"/>
  <templateId root="1.3.6.1.4.1.19376.1.2.20"/>
  <id root="{root}"/>
  <code code="{code}" codeSystem="{system}" displayName="{display}"/>
  <title>{title}</title>
  <effectiveTime value="{effective_time}"/>
  <confidentialityCode code="N" codeSystem="2.16.840.1.113883.5.25" displayName="Normal"/>
  <languageCode code="fr-FR"/>
  <setId root="{root}.1"/>
  <versionNumber value="1"/>
  <recordTarget>
    <patientRole>
      <id root="{INS_OID}" extension="{INS}"/>
      <id root="1.2.250.1.999.2.1" extension="IPP0001"/>
      <patient>
        <name><family qualifier="BR">PAT-TROIS</family><given>DOMINIQUE</given></name>
        <administrativeGenderCode code="F" codeSystem="2.16.840.1.113883.5.1"/>
        <birthTime value="19790305"/>
      </patient>
    </patientRole>
  </recordTarget>
  <author>
    <functionCode code="ATTPHYS" displayName="Médecin responsable" codeSystem="2.16.840.1.113883.5.88"/>
    <time value="{effective_time}"/>
    <assignedAuthor>
      <id root="1.2.250.1.71.4.2.1" extension="{AUTHOR_ID}"/>
      <code code="G15_10/SM26" codeSystem="1.2.250.1.213.1.1.4.5" displayName="Médecin - Qualifié en Médecine Générale (SM)"/>
      <assignedPerson><name><given>Camille</given><family>MARTIN</family></name></assignedPerson>
      <representedOrganization>
        <id root="1.2.250.1.71.4.2.2" extension="{STRUCTURE_ID}"/>
        <name>EHPAD Les Tilleuls (fictif)</name>
      </representedOrganization>
    </assignedAuthor>
  </author>
  <custodian><assignedCustodian><representedCustodianOrganization>
    <id root="1.2.250.1.71.4.2.2" extension="{STRUCTURE_ID}"/><name>EHPAD Les Tilleuls (fictif)</name>
  </representedCustodianOrganization></assignedCustodian></custodian>
  <legalAuthenticator>
    <time value="{effective_time}"/>
    <signatureCode code="S"/>
    <assignedEntity>
      <id root="1.2.250.1.71.4.2.1" extension="{AUTHOR_ID}"/>
      <assignedPerson><name><given>Camille</given><family>MARTIN</family></name></assignedPerson>
    </assignedEntity>
  </legalAuthenticator>
  <documentationOf>
    <serviceEvent>
      <effectiveTime><low value="20240301090000+0100"/><high value="20240312110000+0100"/></effectiveTime>
      <performer typeCode="PRF">
        <assignedEntity>
          <id root="1.2.250.1.71.4.2.1" extension="{AUTHOR_ID}"/>
          <representedOrganization>
            <id root="1.2.250.1.71.4.2.2" extension="{STRUCTURE_ID}"/>
            <standardIndustryClassCode code="ESSMS" codeSystem="1.2.250.1.213.1.1.4.9" displayName="Etablissement et service social ou médico-social"/>
          </representedOrganization>
        </assignedEntity>
      </performer>
    </serviceEvent>
  </documentationOf>
  {related}
  <componentOf>
    <encompassingEncounter>
      <effectiveTime><low value="20240301090000+0100"/></effectiveTime>
      <location><healthCareFacility>
        <code code="{facility}" codeSystem="1.2.250.1.71.4.2.4" displayName="Etablissement pour personnes âgées"/>
      </healthCareFacility></location>
    </encompassingEncounter>
  </componentOf>
  <component>
    <nonXMLBody><text mediaType="application/pdf" representation="B64">{pdf}</text></nonXMLBody>
  </component>
</ClinicalDocument>
""".encode()


def unique_id_of(cda: bytes) -> str:
    """The ``id/@root`` of a document made by ``synthetic_cda`` (no extension)."""
    start = cda.index(b'<id root="') + len(b'<id root="')
    return cda[start:cda.index(b'"', start)].decode("ascii")
