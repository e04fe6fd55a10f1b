"""How the third-party DMP test inputs of this folder were made (run once; kept for provenance).

Nothing here uses the harness's own builders (conformance.dmp.vihf, conformance.pki, ...): the SOAP
envelope and the SAML assertion are written by hand from the ANS VIHF attribute table and IHE ITI TF-2
(ITI-41, WS-Security SAML token), the certificates are made with ``cryptography`` directly, and the
assertion is signed with ``signxml.XMLSigner`` directly. Run: ``python tests/data/dmp/make_data.py``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml import XMLSigner, methods

HERE = Path(__file__).resolve().parent
START = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
END = dt.datetime(2045, 1, 1, tzinfo=dt.UTC)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Editeur tiers (TEST)"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject: x509.Name, key: rsa.RSAPrivateKey, issuer: x509.Name, issuer_key: rsa.RSAPrivateKey,
          ca: bool) -> x509.Certificate:
    usage = x509.KeyUsage(digital_signature=not ca, content_commitment=not ca, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, key_cert_sign=ca, crl_sign=ca,
                          encipher_only=False, decipher_only=False)
    b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
         .serial_number(x509.random_serial_number()).not_valid_before(START).not_valid_after(END)
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
         .add_extension(usage, critical=True)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
    if issuer != subject:
        b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                            critical=False)
    return b.sign(issuer_key, hashes.SHA256())


ENVELOPE = """<?xml version="1.0" encoding="UTF-8"?>
<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope" xmlns:wsa="http://www.w3.org/2005/08/addressing">
  <soap:Header>
    <wsa:Action soap:mustUnderstand="true">urn:ihe:iti:2007:ProvideAndRegisterDocumentSet-b</wsa:Action>
    <wsa:MessageID>urn:uuid:6f1c3a52-7d3e-4c1a-9d7b-2b0c8f6e5a11</wsa:MessageID>
    <wsa:To soap:mustUnderstand="true">https://dmp.example/repository</wsa:To>
    <wsse:Security xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd">
      ASSERTION
    </wsse:Security>
  </soap:Header>
  <soap:Body/>
</soap:Envelope>
"""

ASSERTION = """<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ID="_a1b2c3d4-0000-4000-8000-000000000001" IssueInstant="2026-01-15T10:00:00.000Z" Version="2.0">
  <saml:Issuer Format="urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName">ISSUER</saml:Issuer>
  <saml:Subject><saml:NameID>810100000001</saml:NameID></saml:Subject>
  <saml:AuthnStatement AuthnInstant="2026-01-15T10:00:00.000Z"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>
  <saml:AttributeStatement>
    <saml:Attribute Name="VIHF_Version"><saml:AttributeValue>3.0</saml:AttributeValue></saml:Attribute>
    <saml:Attribute Name="Authentification_Mode"><saml:AttributeValue>INDIRECTE</saml:AttributeValue></saml:Attribute>
    <saml:Attribute Name="Identifiant_Structure"><saml:AttributeValue>1750000000</saml:AttributeValue></saml:Attribute>
    <saml:Attribute Name="Secteur_Activite"><saml:AttributeValue>SA17^1.2.250.1.71.4.2.4</saml:AttributeValue></saml:Attribute>
    <saml:Attribute Name="urn:oasis:names:tc:xspa:1.0:subject:subject-id"><saml:AttributeValue>MARTIN Camille</saml:AttributeValue></saml:Attribute>
    <saml:Attribute Name="urn:oasis:names:tc:xacml:2.0:subject:role"><saml:AttributeValue><Role xmlns="urn:hl7-org:v3" xsi:type="CE" code="10" codeSystem="1.2.250.1.71.1.2.7" displayName="Médecin"/></saml:AttributeValue><saml:AttributeValue><Role xmlns="urn:hl7-org:v3" xsi:type="CE" code="SM26" codeSystem="1.2.250.1.71.4.2.5" displayName="Médecine générale"/></saml:AttributeValue></saml:Attribute>
    <saml:Attribute Name="urn:oasis:names:tc:xspa:1.0:subject:purposeofuse"><saml:AttributeValue><PurposeOfUse xmlns="urn:hl7-org:v3" xsi:type="CE" code="normal" codeSystem="1.2.250.1.213.1.1.4.248" displayName="Accès normal"/></saml:AttributeValue></saml:Attribute>
    <saml:Attribute Name="urn:oasis:names:tc:xacml:2.0:resource:resource-id"><saml:AttributeValue>PATIENT</saml:AttributeValue></saml:Attribute>
    <saml:Attribute Name="Ressource_URN"><saml:AttributeValue>urn:dmp</saml:AttributeValue></saml:Attribute>
    <saml:Attribute Name="LPS_Nom"><saml:AttributeValue>Logiciel tiers</saml:AttributeValue></saml:Attribute>
    <saml:Attribute Name="LPS_Version"><saml:AttributeValue>2.1</saml:AttributeValue></saml:Attribute>
    <saml:Attribute Name="LPS_ID_HOMOLOGATION_DMP"><saml:AttributeValue>TIERS-0001</saml:AttributeValue></saml:Attribute>
  </saml:AttributeStatement>
</saml:Assertion>"""

FORGED = ASSERTION.replace("_a1b2c3d4-0000-4000-8000-000000000001", "_forged").replace(
    "810100000001", "899999999999").replace("INDIRECTE", "DIRECTE")


def signed(leaf_key: rsa.RSAPrivateKey, leaf: x509.Certificate, patient: str) -> etree._Element:
    text = ASSERTION.replace("ISSUER", leaf.subject.rfc4514_string()).replace("PATIENT", patient)
    return XMLSigner(method=methods.enveloped, signature_algorithm="rsa-sha256", digest_algorithm="sha256",
                     c14n_algorithm="http://www.w3.org/2001/10/xml-exc-c14n#").sign(
        etree.fromstring(text.encode()), key=leaf_key.private_bytes(serialization.Encoding.PEM,
                                                                     serialization.PrivateFormat.PKCS8,
                                                                     serialization.NoEncryption()),
        cert=leaf.public_bytes(serialization.Encoding.PEM).decode(), reference_uri="#_a1b2c3d4-0000-4000-8000-000000000001",
        id_attribute="ID", always_add_key_value=False)


DOCUMENT = b"<ClinicalDocument xmlns='urn:hl7-org:v3'/>"  # the bytes the manifest covers (urn:oid:1.2.3.4.5)


def xades(key: rsa.RSAPrivateKey, cert: x509.Certificate) -> bytes:
    """An enveloping XAdES-BES over an IHE DSG-style ds:Manifest, with signxml's XAdESSigner directly."""
    import base64
    import hashlib

    from signxml.xades import XAdESSigner

    ds = "http://www.w3.org/2000/09/xmldsig#"
    manifest = etree.Element(f"{{{ds}}}Manifest", {"Id": "IHEManifest"}, nsmap={"ds": ds})
    ref = etree.SubElement(manifest, f"{{{ds}}}Reference", URI="urn:oid:1.2.3.4.5")
    etree.SubElement(ref, f"{{{ds}}}DigestMethod", Algorithm="http://www.w3.org/2001/04/xmlenc#sha256")
    etree.SubElement(ref, f"{{{ds}}}DigestValue").text = base64.b64encode(hashlib.sha256(DOCUMENT).digest()).decode()
    sig = XAdESSigner(method=methods.enveloping, signature_algorithm="rsa-sha256", digest_algorithm="sha256",
                      c14n_algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315").sign(
        manifest, key=key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()),
        cert=cert.public_bytes(serialization.Encoding.PEM).decode(), always_add_key_value=False)
    return etree.tostring(sig, xml_declaration=True, encoding="UTF-8")


def envelope(assertions: list[str]) -> bytes:
    return ENVELOPE.replace("ASSERTION", "\n      ".join(assertions)).encode()


def main() -> None:
    patient = "279035121518989^^^&amp;1.2.250.1.213.1.4.10&amp;ISO^NH"  # INS of the ANS VSM example, XML-escaped
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca = _cert(_name("AC tierce de test"), ca_key, _name("AC tierce de test"), ca_key, ca=True)
    leaf_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    leaf = _cert(_name("Structure tierce - cachet 1750000000"), leaf_key, ca.subject, ca_key, ca=False)
    self_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    self_signed = _cert(_name("Cachet auto-signé"), self_key, _name("Cachet auto-signé"), self_key, ca=False)
    (HERE / "third-party-ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (HERE / "self-signed-leaf.pem").write_bytes(self_signed.public_bytes(serialization.Encoding.PEM))
    good = etree.tostring(signed(leaf_key, leaf, patient)).decode()
    (HERE / "vihf-third-party.xml").write_bytes(envelope([good]))
    (HERE / "vihf-self-signed.xml").write_bytes(envelope([etree.tostring(signed(self_key, self_signed, patient))
                                                          .decode()]))
    (HERE / "xades-self-signed.xml").write_bytes(xades(self_key, self_signed))
    (HERE / "xades-third-party.xml").write_bytes(xades(leaf_key, leaf))
    forged = FORGED.replace("ISSUER", leaf.subject.rfc4514_string()).replace("PATIENT", patient)
    (HERE / "vihf-wrapped.xml").write_bytes(envelope([good, forged]))


if __name__ == "__main__":
    main()
