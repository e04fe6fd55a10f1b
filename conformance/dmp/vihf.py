"""The VIHF: the SAML 2.0 assertion in ``wsse:Security`` that identifies who calls the DMP.

Building (reference client) and checking (harness, simulator) live together so the attribute names
are written once. Facts: protocols.md §1.2 and the ANS mapping (IG volet transmission document CDA R2,
mapping.md, with its full example). Signatures are made and verified with signxml (enveloped XML-DSig,
exc-c14n, RSA-SHA256 as in the ANS example); the trust chain is checked with cryptography against the
anchors the caller gives (the DMP simulator's test CA, IGC-Santé in real life).

Unconfirmed points stay warnings: VIHF_Version 3.0 (ANS examples and code) versus 4.0 (ANS table); the
issuer DN spelling; the JDV_J61 sector list (we only know the J02 SA codes of the CI-SIS kit).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from lxml import etree
from signxml import InvalidInput, InvalidSignature, SignatureConfiguration, XMLSigner, XMLVerifier, methods
from signxml.algorithms import DigestAlgorithm, SignatureMethod
from signxml.exceptions import InvalidCertificate, InvalidDigest, SignXMLException

from conformance.dmp import ns
from conformance.dmp import trust as trust_module
from conformance.dmp.engine import Check, dmp_check
from conformance.dmp.pki import KeyPair
from conformance.dmp.trust import trust_findings
from conformance.findings import Finding
from conformance.ihe.ns import q
from conformance.ihe.xds import is_oid, parse_cx
from conformance.ins.matricule import check_matricule

# attribute names (protocols.md §1.2)
A_VERSION = "VIHF_Version"
A_AUTH_MODE = "Authentification_Mode"
A_STRUCTURE = "Identifiant_Structure"
A_SECTOR = "Secteur_Activite"
A_SUBJECT_ID = "urn:oasis:names:tc:xspa:1.0:subject:subject-id"
A_ROLE = "urn:oasis:names:tc:xacml:2.0:subject:role"
A_PURPOSE = "urn:oasis:names:tc:xspa:1.0:subject:purposeofuse"
A_RESOURCE = "urn:oasis:names:tc:xacml:2.0:resource:resource-id"
A_RESOURCE_URN = "Ressource_URN"
A_CONFIDENTIALITY = "urn:oasis:names:tc:xspa:1.0:resource:patient:hl7:confidentiality-code"
A_LPS_NAME = "LPS_Nom"
A_LPS_VERSION = "LPS_Version"
A_LPS_HOMOLOGATION = "LPS_ID_HOMOLOGATION_DMP"
A_LPS_ID = "LPS_ID"

REQUIRED_ATTRIBUTES = (A_VERSION, A_AUTH_MODE, A_STRUCTURE, A_SECTOR, A_SUBJECT_ID, A_ROLE, A_PURPOSE,
                       A_RESOURCE, A_RESOURCE_URN, A_LPS_NAME, A_LPS_VERSION, A_LPS_HOMOLOGATION)
AUTH_MODES = ("DIRECTE", "INDIRECTE", "INDIRECTE_RENFORCEE")
ISSUER_FORMAT = "urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName"
SECTOR_OID = "1.2.250.1.71.4.2.4"
PURPOSE_SYSTEM = "1.2.250.1.213.1.1.4.248"
G15_PROFESSION = "1.2.250.1.71.1.2.7"
R01_SAVOIR_FAIRE = "1.2.250.1.71.4.2.5"
AUTOMATE_SYSTEM = "1.2.250.1.213.1.1.4.6"
#: first-role codes (TRE_G15) that need a second role: physician 10 (savoir-faire), pharmacist 21.
NEEDS_SECOND_ROLE = {"10": "médecin", "21": "pharmacien"}
DEFAULT_VERSION = "3.0"
KNOWN_VERSIONS = ("3.0", "4.0")
#: JDV_J02 SA codes we know (CI-SIS kit); J61 itself is not in the kit [?].
KNOWN_SECTORS = {f"SA{n:02d}" for n in range(1, 60)}
INS_OIDS = ("1.2.250.1.213.1.4.8", "1.2.250.1.213.1.4.9", "1.2.250.1.213.1.4.10", "1.2.250.1.213.1.4.11")

C14N_EXC = "http://www.w3.org/2001/10/xml-exc-c14n#"


@dataclass
class VihfIdentity:
    """Who calls: what the LPS knows of its user and structure (indirect mode by default)."""

    name_id: str
    subject_id: str
    structure_id: str
    sector: str
    resource_id: str
    roles: list[tuple[str, str, str]] = field(default_factory=list)  # (code, codeSystem, displayName)
    auth_mode: str = "INDIRECTE"
    authn_context: str = "urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified"
    lps_name: str = "segur-conformance DUI de référence"
    lps_version: str = "1.0"
    lps_homologation: str = "TEST-0000"
    lps_id: str = ""
    version: str = DEFAULT_VERSION
    purpose: tuple[str, str, str] = ("normal", PURPOSE_SYSTEM, "Accès normal")


# ---------------------------------------------------------------------------------------------
# building
# ---------------------------------------------------------------------------------------------
def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _attribute(stmt: etree._Element, name: str, values: Iterable[str | etree._Element]) -> None:
    attr = etree.SubElement(stmt, q(ns.SAML, "Attribute"), Name=name)
    for value in values:
        av = etree.SubElement(attr, q(ns.SAML, "AttributeValue"))
        if isinstance(value, str):
            av.text = value
        else:
            av.append(value)


def _ce(tag: str, code: str, system: str, display: str) -> etree._Element:
    el = etree.Element(q(ns.HL7, tag), nsmap={None: ns.HL7, "xsi": ns.XSI})
    el.set("code", code)
    el.set("codeSystem", system)
    if display:
        el.set("displayName", display)
    el.set(q(ns.XSI, "type"), "CE")
    return el


def build_assertion(identity: VihfIdentity, issuer_dn: str, *, omit: Sequence[str] = ()) -> etree._Element:
    """An unsigned VIHF with a signature placeholder after the Issuer (SAML schema order)."""
    aid = f"_{uuid.uuid4()}"
    now = _now()
    a = etree.Element(q(ns.SAML, "Assertion"), nsmap={"saml": ns.SAML, "xsi": ns.XSI},
                      ID=aid, IssueInstant=now, Version="2.0")
    etree.SubElement(a, q(ns.SAML, "Issuer"), Format=ISSUER_FORMAT).text = issuer_dn
    etree.SubElement(a, q(ns.DS, "Signature"), {"Id": "placeholder"}, nsmap={"ds": ns.DS})
    subject = etree.SubElement(a, q(ns.SAML, "Subject"))
    etree.SubElement(subject, q(ns.SAML, "NameID")).text = identity.name_id
    authn = etree.SubElement(a, q(ns.SAML, "AuthnStatement"), AuthnInstant=now)
    ctx = etree.SubElement(authn, q(ns.SAML, "AuthnContext"))
    etree.SubElement(ctx, q(ns.SAML, "AuthnContextClassRef")).text = identity.authn_context
    stmt = etree.SubElement(a, q(ns.SAML, "AttributeStatement"))
    values: dict[str, list[str | etree._Element]] = {
        A_VERSION: [identity.version],
        A_AUTH_MODE: [identity.auth_mode],
        A_SECTOR: [identity.sector],
        A_RESOURCE: [identity.resource_id],
        A_RESOURCE_URN: ["urn:dmp"],
        A_SUBJECT_ID: [identity.subject_id],
        A_STRUCTURE: [identity.structure_id],
        A_LPS_VERSION: [identity.lps_version],
        A_LPS_NAME: [identity.lps_name],
        A_LPS_HOMOLOGATION: [identity.lps_homologation],
        A_PURPOSE: [_ce("PurposeOfUse", *identity.purpose)],
        A_ROLE: [_ce("Role", *r) for r in identity.roles],
    }
    if identity.lps_id:
        values[A_LPS_ID] = [identity.lps_id]
    for name, vals in values.items():
        if name not in omit:
            _attribute(stmt, name, vals)
    return a


def sign_assertion(assertion: etree._Element, keypair: KeyPair) -> etree._Element:
    """Enveloped XML-DSig over the assertion (its ID), exc-c14n, RSA-SHA256, certificate in KeyInfo."""
    signer = XMLSigner(method=methods.enveloped, signature_algorithm="rsa-sha256", digest_algorithm="sha256",
                       c14n_algorithm=C14N_EXC)
    return signer.sign(assertion, key=keypair.key_pem, cert=keypair.cert_pem.decode("ascii"),
                       reference_uri=f"#{assertion.get('ID')}", id_attribute="ID", always_add_key_value=False)


def build_vihf(identity: VihfIdentity, keypair: KeyPair, *, signed: bool = True,
               omit: Sequence[str] = ()) -> etree._Element:
    assertion = build_assertion(identity, keypair.subject_dn, omit=omit)
    if signed:
        return sign_assertion(assertion, keypair)
    for placeholder in assertion.findall(q(ns.DS, "Signature")):
        assertion.remove(placeholder)
    return assertion


# ---------------------------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------------------------
@dataclass
class VihfFacts:
    attributes: dict[str, list[etree._Element]]
    name_id: str
    issuer: str
    issuer_format: str

    def value(self, name: str) -> str:
        values = self.attributes.get(name) or []
        return (values[0].text or "").strip() if values else ""

    def coded(self, name: str) -> list[etree._Element]:
        """The CE children (Role, PurposeOfUse) of an attribute's values."""
        out: list[etree._Element] = []
        for av in self.attributes.get(name) or []:
            out.extend(c for c in av if isinstance(c.tag, str))
        return out


def read_vihf(assertion: etree._Element) -> VihfFacts:
    attrs: dict[str, list[etree._Element]] = {}
    for attr in assertion.iterfind(f"{q(ns.SAML, 'AttributeStatement')}/{q(ns.SAML, 'Attribute')}"):
        attrs.setdefault(attr.get("Name") or "", []).extend(attr.findall(q(ns.SAML, "AttributeValue")))
    issuer = assertion.find(q(ns.SAML, "Issuer"))
    name_id = assertion.find(f"{q(ns.SAML, 'Subject')}/{q(ns.SAML, 'NameID')}")
    return VihfFacts(attrs, (name_id.text or "").strip() if name_id is not None else "",
                     (issuer.text or "").strip() if issuer is not None else "",
                     issuer.get("Format", "") if issuer is not None else "")


# ---------------------------------------------------------------------------------------------
# checking
# ---------------------------------------------------------------------------------------------
_ALL_SIG = frozenset(SignatureMethod)
_ALL_DIGEST = frozenset(DigestAlgorithm)


def _signature_findings(c: Check, assertion: etree._Element, trust: Sequence[x509.Certificate] | None,
                        now: dt.datetime) -> list[Finding]:
    xp = "/Envelope/Header/Security/Assertion/Signature"
    out: list[Finding] = []
    sig = assertion.find(q(ns.DS, "Signature"))
    if sig is None:
        return [c("DMP.VIHF.unsigned", "VIHF non signé : l'assertion SAML ne contient pas de ds:Signature",
                  "unsigned VIHF: the SAML assertion holds no ds:Signature", xpath=xp, line=assertion.sourceline,
                  expected="ds:Signature (XML-DSig)", found="absente")]
    cert_els = sig.findall(f"{q(ns.DS, 'KeyInfo')}/{q(ns.DS, 'X509Data')}/{q(ns.DS, 'X509Certificate')}")
    cert_el = cert_els[0] if cert_els else None
    if cert_el is None or not (cert_el.text or "").strip():
        return [c("DMP.VIHF.no_certificate", "signature du VIHF sans certificat X.509 dans KeyInfo",
                  "VIHF signature without an X.509 certificate in KeyInfo", xpath=xp + "/KeyInfo",
                  line=sig.sourceline)]
    try:
        cert = x509.load_der_x509_certificate(_b64(cert_el.text or ""))
    except ValueError:
        return [c("DMP.VIHF.no_certificate", "certificat de signature du VIHF illisible",
                  "unreadable VIHF signing certificate", xpath=xp + "/KeyInfo", line=cert_el.sourceline)]
    config = SignatureConfiguration(expect_references=True, signature_methods=_ALL_SIG,
                                    digest_algorithms=_ALL_DIGEST, ignore_ambiguous_key_info=True,
                                    verification_time=now)
    try:
        results = XMLVerifier().verify(etree.tostring(assertion), x509_cert=cert, id_attribute="ID",
                                       expect_config=config)
    except InvalidCertificate as exc:
        out.append(c("DMP.VIHF.cert_validity", f"certificat du VIHF invalide à la date de vérification : {exc}",
                     f"VIHF certificate invalid at verification time: {exc}", xpath=xp, line=sig.sourceline))
        return out
    except (InvalidSignature, InvalidDigest, InvalidInput, SignXMLException, etree.LxmlError, ValueError) as exc:
        return [c("DMP.VIHF.signature", f"signature du VIHF invalide : {type(exc).__name__}: {str(exc)[:200]}",
                  f"invalid VIHF signature: {type(exc).__name__}: {str(exc)[:200]}", xpath=xp,
                  line=sig.sourceline, expected="signature XML-DSig valide", found="vérification en échec")]
    results = results if isinstance(results, list) else [results]
    aid = assertion.get("ID", "")
    covers = any(r.signed_xml is not None and etree.QName(r.signed_xml).localname == "Assertion"
                 and r.signed_xml.get("ID") == aid for r in results)
    if not covers:
        out.append(c("DMP.VIHF.signature_scope",
                     "la signature du VIHF ne couvre pas l'assertion elle-même (référence à son ID attendue)",
                     "the VIHF signature does not cover the assertion itself (reference to its ID expected)",
                     xpath=xp, line=sig.sourceline, expected=f"#{aid}"))
    method = sig.find(f"{q(ns.DS, 'SignedInfo')}/{q(ns.DS, 'SignatureMethod')}")
    alg = method.get("Algorithm", "") if method is not None else ""
    if "sha1" in alg.lower():
        out.append(c("DMP.VIHF.weak_algorithm", "VIHF signé en SHA-1 : l'exemple ANS utilise RSA-SHA256",
                     "VIHF signed with SHA-1: the ANS example uses RSA-SHA256", xpath=xp, expected="rsa-sha256",
                     found=alg))
    signed = next((r.signed_xml for r in results if r.signed_xml is not None
                   and etree.QName(r.signed_xml).localname == "Assertion" and r.signed_xml.get("ID") == aid), None)
    if signed is not None and not _same_content(signed, assertion):
        out.append(c("DMP.VIHF.signature_scope",
                     "le contenu de l'assertion lue diffère du contenu que couvre la signature",
                     "the assertion content read differs from what the signature covers", xpath=xp,
                     line=sig.sourceline, expected="assertion signée", found="contenu non signé"))
    chain = trust_module.certificates_in([el.text or "" for el in cert_els[1:]])
    out.extend(trust_findings(cert, chain, trust, now, c=c, prefix="DMP.VIHF", what_fr="du VIHF", what_en="VIHF", xpath=xp))
    facts = read_vihf(assertion)
    if facts.issuer and not _same_dn(facts.issuer, cert.subject):
        out.append(c("DMP.VIHF.issuer_dn", "l'Issuer du VIHF ne correspond pas au DN du certificat de signature",
                     "the VIHF Issuer does not match the signing certificate's DN",
                     xpath="/Envelope/Header/Security/Assertion/Issuer", expected=cert.subject.rfc4514_string(),
                     found=facts.issuer))
    if not any(f.is_error for f in out):
        trusted = any(f.rule == "DMP.VIHF.trusted" for f in out)
        out.append(c("DMP.VIHF.signature_ok", "signature du VIHF valide"
                     + ("" if trusted else " (intégrité seule : confiance non évaluée)"),
                     "valid VIHF signature" + ("" if trusted else " (integrity only: trust not evaluated)")))
    return out


def _same_content(signed: etree._Element, assertion: etree._Element) -> bool:
    """The signed data (enveloped: the assertion without its ds:Signature) is the assertion we read."""
    import copy

    mine = copy.deepcopy(assertion)
    for s in mine.findall(q(ns.DS, "Signature")):
        mine.remove(s)
    c14n = dict(method="c14n", exclusive=True, with_comments=False)
    return bool(etree.tostring(signed, **c14n) == etree.tostring(mine, **c14n))  # type: ignore[call-overload]


def _b64(text: str) -> bytes:
    import base64

    return base64.b64decode("".join(text.split()))


def _dn_parts(text: str) -> set[tuple[str, str]]:
    parts = set()
    for piece in text.replace(";", ",").split(","):
        if "=" in piece:
            k, v = piece.split("=", 1)
            parts.add((k.strip().upper(), v.strip()))
    return parts


def _same_dn(text: str, name: x509.Name) -> bool:
    """Issuer text and certificate subject name the same entity (CN, O, OU, C), whatever the order/spacing."""
    theirs = _dn_parts(text)
    ours = {p for p in _dn_parts(name.rfc4514_string()) if p[0] in ("CN", "O", "OU", "C")}
    return bool(ours) and ours <= theirs


@dmp_check("vihf")
def check_vihf(c: Check, assertion: etree._Element | None, *, artefact: str = "",
               trust: Sequence[x509.Certificate] | None = None, now: dt.datetime | None = None,
               expected_version: str = DEFAULT_VERSION, requirements: tuple[str, ...] | None = None) -> list[Finding]:
    """Every problem of one VIHF (D2 of protocols.md §1.6), one finding each."""
    base = "/Envelope/Header/Security/Assertion"
    if assertion is None:
        return [c("DMP.VIHF.missing", "VIHF absent : aucune saml:Assertion dans wsse:Security",
                  "missing VIHF: no saml:Assertion in wsse:Security", xpath="/Envelope/Header/Security",
                  expected="saml:Assertion signée", found="absent")]
    now = now or dt.datetime.now(dt.UTC)
    out: list[Finding] = []

    def add(rule: str, fr: str, en: str, xpath: str = base, **kw: Any) -> None:
        out.append(c(rule, fr, en, xpath=xpath, line=kw.pop("line", assertion.sourceline), **kw))

    header = next((a for a in assertion.iterancestors() if isinstance(a.tag, str)
                   and etree.QName(a).localname == "Header"), None)
    if header is not None:
        count = sum(1 for _ in header.iter(q(ns.SAML, "Assertion")))
        securities = sum(1 for _ in header.iter(q(ns.WSSE, "Security")))
        if count > 1 or securities > 1:
            # XML-signature wrapping: a reader may take another assertion than the one the signature covers
            add("DMP.VIHF.multiple_assertions", f"en-tête SOAP avec {count} saml:Assertion et {securities} "
                "wsse:Security : un seul VIHF (une seule assertion, signée) est attendu",
                f"SOAP header with {count} saml:Assertion and {securities} wsse:Security: exactly one VIHF "
                "(one signed assertion) expected", xpath="/Envelope/Header/Security",
                expected="1 saml:Assertion", found=str(count))
    if assertion.get("Version") != "2.0":
        add("DMP.VIHF.version_saml", "Assertion/@Version doit valoir 2.0", "Assertion/@Version must be 2.0",
            expected="2.0", found=assertion.get("Version") or "absent")
    if not assertion.get("ID"):
        add("DMP.VIHF.id", "Assertion/@ID absent", "Assertion/@ID missing", expected="identifiant unique")
    if not _iso_time(assertion.get("IssueInstant") or ""):
        add("DMP.VIHF.issue_instant", "Assertion/@IssueInstant absent ou mal formé",
            "Assertion/@IssueInstant missing or malformed", expected="xs:dateTime",
            found=assertion.get("IssueInstant") or "absent")
    facts = read_vihf(assertion)
    if not facts.issuer:
        add("DMP.VIHF.issuer", "Issuer absent (DN du certificat de signature attendu)",
            "Issuer missing (DN of the signing certificate expected)", xpath=base + "/Issuer")
    elif facts.issuer_format != ISSUER_FORMAT:
        add("DMP.VIHF.issuer_format", "Issuer/@Format incorrect", "wrong Issuer/@Format", xpath=base + "/Issuer",
            expected=ISSUER_FORMAT, found=facts.issuer_format or "absent")
    out.extend(_signature_findings(c, assertion, trust, now))
    if not facts.name_id:
        add("DMP.VIHF.name_id", "Subject/NameID vide ou absent (identifiant du professionnel ou du responsable)",
            "Subject/NameID empty or missing (professional's or person in charge's identifier)",
            xpath=base + "/Subject/NameID")
    authn = assertion.find(q(ns.SAML, "AuthnStatement"))
    ref = authn.find(f"{q(ns.SAML, 'AuthnContext')}/{q(ns.SAML, 'AuthnContextClassRef')}") if authn is not None else None
    if authn is None or not authn.get("AuthnInstant") or ref is None or not (ref.text or "").strip():
        add("DMP.VIHF.authn", "AuthnStatement incomplet (AuthnInstant et AuthnContextClassRef requis)",
            "incomplete AuthnStatement (AuthnInstant and AuthnContextClassRef required)",
            xpath=base + "/AuthnStatement")
    if assertion.find(f"{q(ns.SAML, 'Conditions')}/{q(ns.SAML, 'AudienceRestriction')}") is not None:
        add("DMP.VIHF.audience", "Conditions/AudienceRestriction ne doit pas être renseigné",
            "Conditions/AudienceRestriction must not be present", xpath=base + "/Conditions/AudienceRestriction",
            expected="absent", found="présent")
    for name in REQUIRED_ATTRIBUTES:
        if name not in facts.attributes:
            add("DMP.VIHF.attribute_missing", f"attribut VIHF obligatoire absent : {name}",
                f"mandatory VIHF attribute missing: {name}", xpath=base + f"/AttributeStatement/Attribute[@Name='{name}']",
                expected=name, found="absent")
    _attribute_values(c, facts, add, expected_version, base, out)
    return out


def _attribute_values(c: Check, facts: VihfFacts, add: Callable[..., None], expected_version: str, base: str,
                      out: list[Finding]) -> None:
    def xp(name: str) -> str:
        return base + f"/AttributeStatement/Attribute[@Name='{name}']"

    version = facts.value(A_VERSION)
    if A_VERSION in facts.attributes:
        if version not in KNOWN_VERSIONS:
            add("DMP.VIHF.version/unknown", "VIHF_Version inconnue", "unknown VIHF_Version", xpath=xp(A_VERSION),
                expected=" | ".join(KNOWN_VERSIONS), found=version)
        elif version != expected_version:
            add("DMP.VIHF.version/other", f"VIHF_Version {version} au lieu de {expected_version} (3.0 dans les exemples "
                 "ANS, 4.0 dans la table ANS : à confirmer avec le guide DMP visé)",
                 f"VIHF_Version {version} instead of {expected_version} (3.0 in ANS examples, 4.0 in the ANS table)",
                 xpath=xp(A_VERSION), expected=expected_version, found=version)
    mode = facts.value(A_AUTH_MODE)
    if A_AUTH_MODE in facts.attributes and mode not in AUTH_MODES:
        add("DMP.VIHF.auth_mode", "Authentification_Mode invalide", "invalid Authentification_Mode",
            xpath=xp(A_AUTH_MODE), expected=" | ".join(AUTH_MODES), found=mode)
    structure = facts.value(A_STRUCTURE)
    if A_STRUCTURE in facts.attributes:
        if not structure:
            add("DMP.VIHF.structure/empty", "Identifiant_Structure vide", "empty Identifiant_Structure",
                xpath=xp(A_STRUCTURE), expected="Struct_IdNat (ex. 1 + FINESS)")
        elif structure[0] not in "01234" or len(structure) < 2:
            add("DMP.VIHF.structure/form", "Identifiant_Structure ne ressemble pas à un Struct_IdNat (préfixe 0-4)",
                 "Identifiant_Structure does not look like a Struct_IdNat (prefix 0-4)", xpath=xp(A_STRUCTURE),
                 expected="[0-4]identifiant", found=structure)
    sector = facts.value(A_SECTOR)
    if A_SECTOR in facts.attributes:
        code, _, system = sector.partition("^")
        if not code or system != SECTOR_OID:
            add("DMP.VIHF.sector", "Secteur_Activite doit avoir la forme code^1.2.250.1.71.4.2.4",
                "Secteur_Activite must read code^1.2.250.1.71.4.2.4", xpath=xp(A_SECTOR),
                expected=f"SA41^{SECTOR_OID}", found=sector)
        elif code not in KNOWN_SECTORS:
            add("DMP.VIHF.sector_code", "code de Secteur_Activite hors des codes SA connus (JDV_J61 non fourni)",
                 "Secteur_Activite code outside the known SA codes (JDV_J61 not available)", xpath=xp(A_SECTOR),
                 expected="SAnn", found=code)
    if A_SUBJECT_ID in facts.attributes and not facts.value(A_SUBJECT_ID):
        add("DMP.VIHF.subject_id", "subject-id vide (Nom Prénom de l'utilisateur)", "empty subject-id",
            xpath=xp(A_SUBJECT_ID))
    if A_ROLE in facts.attributes:
        roles = facts.coded(A_ROLE)
        if not roles:
            add("DMP.VIHF.role", "attribut role sans élément Role (CE)", "role attribute without a Role (CE) element",
                xpath=xp(A_ROLE), expected='<Role xmlns="urn:hl7-org:v3" xsi:type="CE" code codeSystem/>')
        for role in roles:
            qn = etree.QName(role)
            if qn.localname != "Role" or qn.namespace != ns.HL7:
                add("DMP.VIHF.role", "élément de rôle mal nommé (Role de l'espace urn:hl7-org:v3 attendu)",
                    "badly named role element (Role in urn:hl7-org:v3 expected)", xpath=xp(A_ROLE),
                    expected="{urn:hl7-org:v3}Role", found=role.tag, line=role.sourceline)
            if not role.get("code") or not is_oid(role.get("codeSystem") or ""):
                add("DMP.VIHF.role", "Role sans code ou sans codeSystem (OID)", "Role without code or codeSystem (OID)",
                    xpath=xp(A_ROLE), found=f"code={role.get('code')!r} codeSystem={role.get('codeSystem')!r}",
                    line=role.sourceline)
            if (role.get(q(ns.XSI, "type")) or "").split(":")[-1] != "CE":
                add("DMP.VIHF.role", "Role doit porter xsi:type=\"CE\"", "Role must carry xsi:type=\"CE\"",
                    xpath=xp(A_ROLE), expected="CE", found=role.get(q(ns.XSI, "type")) or "absent",
                    line=role.sourceline)
        if roles and roles[0].get("codeSystem") == G15_PROFESSION and roles[0].get("code") in NEEDS_SECOND_ROLE \
                and len(roles) < 2:
            who = NEEDS_SECOND_ROLE[roles[0].get("code") or ""]
            add("DMP.VIHF.second_role", f"second rôle (savoir-faire) obligatoire pour un {who}",
                f"second role (specialty) mandatory for a {who}", xpath=xp(A_ROLE),
                expected="2 occurrences de Role", found="1")
    if A_PURPOSE in facts.attributes:
        purposes = facts.coded(A_PURPOSE)
        if not purposes or purposes[0].get("codeSystem") != PURPOSE_SYSTEM:
            add("DMP.VIHF.purpose/system", "PurposeOfUse absent ou hors du système 1.2.250.1.213.1.1.4.248",
                "PurposeOfUse missing or outside system 1.2.250.1.213.1.1.4.248", xpath=xp(A_PURPOSE),
                expected=f"code=normal codeSystem={PURPOSE_SYSTEM}",
                found=etree.tostring(purposes[0]).decode()[:120] if purposes else "absent")
        elif purposes[0].get("code") != "normal":
            add("DMP.VIHF.purpose/not_normal", "PurposeOfUse autre que « normal » pour une alimentation",
                 "PurposeOfUse other than 'normal' for feeding", xpath=xp(A_PURPOSE), expected="normal",
                 found=purposes[0].get("code") or "")
    if A_RESOURCE in facts.attributes:
        out.extend(check_resource_id(facts.value(A_RESOURCE), artefact=c.artefact, xpath=xp(A_RESOURCE),
                                     requirements=c.requirements))
    if A_RESOURCE_URN in facts.attributes and facts.value(A_RESOURCE_URN) != "urn:dmp":
        add("DMP.VIHF.resource_urn", "Ressource_URN doit valoir urn:dmp", "Ressource_URN must be urn:dmp",
            xpath=xp(A_RESOURCE_URN), expected="urn:dmp", found=facts.value(A_RESOURCE_URN))
    for name in (A_LPS_NAME, A_LPS_VERSION, A_LPS_HOMOLOGATION):
        if name in facts.attributes and not facts.value(name):
            add("DMP.VIHF.lps", f"{name} vide", f"empty {name}", xpath=xp(name))


@dmp_check("resource_id")
def check_resource_id(c: Check, value: str, *, artefact: str = "", xpath: str = "", line: int | None = None,
                      requirements: tuple[str, ...] | None = None,
                      what: str = "resource-id du VIHF") -> list[Finding]:
    """An INS as CX ``matricule^^^&OID&ISO^NH``: syntax, INS OID, matricule key (conformance.ins)."""
    out: list[Finding] = []
    cx = parse_cx(value)
    problems = cx.problems()
    if cx.id_type != "NH":
        problems.append(f"CX.5 (type d'identifiant) doit valoir NH (trouvé : {cx.id_type or 'vide'})")
    for p in problems:
        out.append(c("DMP.INS.cx", f"{what} mal formé : {p}", f"malformed {what}: {p}",
                     expected="matricule^^^&1.2.250.1.213.1.4.8&ISO^NH", found=value, xpath=xpath, line=line))
    if cx.authority_oid and cx.authority_oid not in INS_OIDS:
        out.append(c("DMP.INS.oid", f"{what} : OID qui n'est pas celui d'un INS",
                     f"{what}: OID is not an INS OID", expected=" | ".join(INS_OIDS), found=cx.authority_oid,
                     xpath=xpath, line=line))
    if cx.id:
        found = check_matricule(cx.id, cx.authority_oid if cx.authority_oid in INS_OIDS else None,
                                artefact=c.artefact, xpath=xpath, line=line, requirements=c.requirements)
        out.extend(f for f in found if f.severity.value != "info")
    return out


def _iso_time(value: str) -> bool:
    try:
        dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        return True
    except ValueError:
        return False
