"""The checks on one ITI-41 submission: pure functions, ``Iti41Request`` in, ``list[Finding]`` out.

One function per point of protocols.md §1.6 (D1…D9, D15), so a suite test can run exactly the points
of the scenario it proves, and ``check_submission`` runs them all (the simulator and ``validate`` use
it). Each function is the condition of a check declared in profiles/dmp/checks.yaml (``@dmp_check``):
the data gives its rules and their severities (a rule we only know from a secondary source is a
warning, with that source), the requirements its findings name, the proofs it serves, its source and
scope; the code never names a requirement. The metadata rules are a table of their own
(profiles/dmp/rules.yaml).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509

from conformance.dmp import ns, rules, vihf, xades
from conformance.dmp.engine import Check, dmp_check
from conformance.dmp.iti41 import Iti41Request
from conformance.dmp.mtom import parse_content_type
from conformance.dmp.soap import read_envelope
from conformance.dmp.valuesets import (
    ValueSets,
    load_valuesets,
)
from conformance.findings import Finding
from conformance.ihe.cda_header import read_header
from conformance.ihe.metadata_vs_cda import compare_metadata_with_cda, unique_id_of
from conformance.ihe.xds import DocumentEntry, parse_cx, parse_xcn, parse_xon
from conformance.safexml import XmlRejected

PNR = "/Envelope/Body/ProvideAndRegisterDocumentSetRequest"
ROL = PNR + "/SubmitObjectsRequest/RegistryObjectList"


@dataclass
class CheckContext:
    """What the checks need beyond the request: trust anchors, clock, value sets, registry state."""

    trust: Sequence[x509.Certificate] | None = None
    now: dt.datetime | None = None
    vihf_version: str = vihf.DEFAULT_VERSION
    valuesets: ValueSets | None = None
    kit: Path | None = None
    #: entryUUID -> {"uniqueId", "status", "patientId"} of what the registry knew before this request
    known_entries: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    registry_known: bool = False  # True when known_entries is the full registry (sandbox mode)
    #: artefact mode: judge certificate validity when the request was made (VIHF IssueInstant), not today,
    #: so a capture archived for an audit does not turn red when its test certificates expire
    at_capture_time: bool = False

    def clock(self, req: Iti41Request) -> dt.datetime | None:
        if self.now is not None or not self.at_capture_time or req.assertion is None:
            return self.now
        raw = req.assertion.get("IssueInstant") or ""
        try:
            when = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            return None
        return when if when.tzinfo else when.replace(tzinfo=dt.UTC)

    def vs(self) -> ValueSets:
        if self.valuesets is None:
            self.valuesets = load_valuesets(self.kit)
        return self.valuesets


def _de_xpath(entry: DocumentEntry) -> str:
    return f"{ROL}/ExtrinsicObject[@id='{entry.id}']"


# ---------------------------------------------------------------------------------------------
# D1 transport and addressing
# ---------------------------------------------------------------------------------------------
@dmp_check("transport")
def check_transport(c: Check, req: Iti41Request) -> list[Finding]:
    """HTTP/MIME packaging: multipart/related MTOM with the XOP and SOAP 1.2 parameters."""
    out: list[Finding] = []
    if not req.http_headers and req.mtom is None:
        return [c("DMP.MTOM.not_captured", "capture sans en-têtes HTTP : emballage MTOM non vérifiable",
                  "capture without HTTP headers: MTOM packaging cannot be checked")]
    mime, params = parse_content_type(req.content_type) if req.content_type else ("", {})
    if mime != "multipart/related":
        out.append(c("DMP.MTOM.content_type", "la requête ITI-41 n'est pas un message MTOM multipart/related",
                     "the ITI-41 request is not a multipart/related MTOM message", xpath="HTTP Content-Type",
                     expected="multipart/related", found=mime or "absent"))
        return out
    if params.get("type", "").lower() != "application/xop+xml":
        out.append(c("DMP.MTOM.type", "paramètre type du Content-Type incorrect",
                     "wrong Content-Type type parameter", xpath="HTTP Content-Type",
                     expected="application/xop+xml", found=params.get("type", "absent")))
    if params.get("start-info", "").lower() != "application/soap+xml":
        out.append(c("DMP.MTOM.start_info", "paramètre start-info incorrect (SOAP 1.2 attendu)",
                     "wrong start-info parameter (SOAP 1.2 expected)", xpath="HTTP Content-Type",
                     expected="application/soap+xml", found=params.get("start-info", "absent")))
    if not params.get("start"):
        out.append(c("DMP.MTOM.start", "paramètre start absent (la racine est alors la première partie)",
                     "start parameter missing (the root is then the first part)", xpath="HTTP Content-Type",
                     expected="<cid de la racine>", found="absent"))
    if params.get("action") and params["action"] != ns.ACTION_ITI41:
        out.append(c("DMP.MTOM.action", "paramètre action du Content-Type différent de l'action ITI-41",
                     "Content-Type action parameter differs from the ITI-41 action", xpath="HTTP Content-Type",
                     expected=ns.ACTION_ITI41, found=params["action"]))
    if req.mtom is not None:
        root = req.mtom.root
        if root.mime_type != "application/xop+xml" or "application/soap+xml" not in root.params.get("type", ""):
            out.append(c("DMP.MTOM.root_type", "partie racine MTOM : Content-Type application/xop+xml; "
                         "type=\"application/soap+xml\" attendu", "MTOM root part: Content-Type "
                         "application/xop+xml; type=\"application/soap+xml\" expected", xpath="MIME root part",
                         expected="application/xop+xml; type=\"application/soap+xml\"",
                         found=root.content_type or "absent"))
    for doc_id, el in req.document_elements.items():
        if el.find(f"{{{ns.XOP}}}Include") is None:
            out.append(c("DMP.MTOM.inline",
                         f"document {doc_id} transmis en base64 dans l'enveloppe au lieu d'une "
                         "partie MTOM (xop:Include)", f"document {doc_id} sent inline in base64 instead of "
                         "an MTOM part (xop:Include)", xpath=f"{PNR}/Document[@id='{doc_id}']",
                         line=el.sourceline, expected="xop:Include", found="base64 en ligne"))
    return out


@dmp_check("addressing")
def check_addressing(c: Check, req: Iti41Request) -> list[Finding]:
    """SOAP 1.2 and WS-Addressing: Action (mustUnderstand), MessageID, To."""
    h = req.header
    if h is None:
        return []
    out: list[Finding] = []
    if h.soap_ns != ns.SOAP12:
        out.append(c("DMP.SOAP.version", "enveloppe qui n'est pas SOAP 1.2", "envelope is not SOAP 1.2",
                     xpath="/Envelope", expected=ns.SOAP12, found=h.soap_ns or "aucun"))
    if h.action != ns.ACTION_ITI41:
        out.append(c("DMP.WSA.action", "wsa:Action absent ou différent de l'action ITI-41",
                     "wsa:Action missing or not the ITI-41 action", xpath="/Envelope/Header/Action",
                     expected=ns.ACTION_ITI41, found=h.action or "absent"))
    elif h.action_must_understand not in ("true", "1"):
        out.append(c("DMP.WSA.must_understand", "wsa:Action sans mustUnderstand=\"true\"", "wsa:Action without "
                     "mustUnderstand=\"true\"", xpath="/Envelope/Header/Action/@mustUnderstand", expected="true",
                     found=h.action_must_understand or "absent"))
    if not h.message_id:
        out.append(c("DMP.WSA.message_id/missing", "wsa:MessageID absent", "wsa:MessageID missing",
                     xpath="/Envelope/Header/MessageID", expected="urn:uuid:…", found="absent"))
    elif not h.message_id.startswith("urn:uuid:"):
        out.append(c("DMP.WSA.message_id/urn", "wsa:MessageID n'est pas de la forme urn:uuid:…",
                     "wsa:MessageID is not urn:uuid:…", xpath="/Envelope/Header/MessageID", expected="urn:uuid:…",
                     found=h.message_id))
    if not h.to:
        out.append(c("DMP.WSA.to", "wsa:To absent", "wsa:To missing", xpath="/Envelope/Header/To",
                     expected="URL du service", found="absent"))
    return out


# ---------------------------------------------------------------------------------------------
# D2 VIHF, D3 patient identifiers, D15 authorship
# ---------------------------------------------------------------------------------------------
def check_vihf(req: Iti41Request, ctx: CheckContext) -> list[Finding]:
    if req.header is None:
        return []
    return vihf.check_vihf(req.assertion, artefact=req.artefact, trust=ctx.trust, now=ctx.clock(req),
                           expected_version=ctx.vihf_version)


@dmp_check("patient_ids")
def check_patient_ids(c: Check, req: Iti41Request, ctx: CheckContext) -> list[Finding]:
    """VIHF resource-id = SubmissionSet.patientId = every DocumentEntry.patientId, an INS with its OID."""
    sub = req.submission
    if sub is None:
        return []
    out: list[Finding] = []
    ss = sub.submission_set
    ss_pid = ss.patient_id if ss else ""
    if ss is not None:
        if not ss_pid:
            out.append(c("DMP.XDS.ss_patient_id", "SubmissionSet.patientId absent",
                         "SubmissionSet.patientId missing", xpath=f"{ROL}/RegistryPackage", line=ss.line))
        else:
            out.extend(vihf.check_resource_id(ss_pid, artefact=req.artefact, xpath=f"{ROL}/RegistryPackage/"
                                              "ExternalIdentifier[patientId]", line=ss.line,
                                              requirements=c.requirements, what="SubmissionSet.patientId"))
    facts = vihf.read_vihf(req.assertion) if req.assertion is not None else None
    resource = facts.value(vihf.A_RESOURCE) if facts else ""
    if resource and ss_pid and _cx_key(resource) != _cx_key(ss_pid):
        out.append(c("DMP.INS.vihf_vs_patient",
                     "l'INS du VIHF (resource-id) diffère du patientId du lot de soumission",
                     "the VIHF INS (resource-id) differs from the submission set patientId",
                     xpath="/Envelope/Header/Security/Assertion", expected=ss_pid, found=resource))
    for entry in sub.entries:
        if not entry.patient_id:
            out.append(c("DMP.XDS.patient_id", f"DocumentEntry {entry.id} : patientId absent",
                         f"DocumentEntry {entry.id}: " "patientId missing", xpath=_de_xpath(entry),
                         line=entry.line))
        elif ss_pid and _cx_key(entry.patient_id) != _cx_key(ss_pid):
            out.append(c("DMP.XDS.patient_mismatch",
                         f"DocumentEntry {entry.id} : patientId différent de celui du lot "
                         "(XDSPatientIdDoesNotMatch)", f"DocumentEntry {entry.id}: patientId differs from the "
                         "submission set's (XDSPatientIdDoesNotMatch)", xpath=_de_xpath(entry), line=entry.line,
                         expected=ss_pid, found=entry.patient_id))
        spid = entry.slot("sourcePatientId")
        if not entry.is_signature and not spid:
            out.append(c("DMP.XDS.source_patient_id/missing",
                         f"DocumentEntry {entry.id} : sourcePatientId absent (IPP, ou l'INS à défaut)",
                         f"DocumentEntry {entry.id}: sourcePatientId missing", xpath=_de_xpath(entry),
                         line=entry.line))
        elif spid and parse_cx(spid).problems():
            out.append(c("DMP.XDS.source_patient_id/cx",
                         f"DocumentEntry {entry.id} : sourcePatientId n'est pas un CX bien formé",
                         f"DocumentEntry {entry.id}: sourcePatientId is not a well-formed CX",
                         xpath=_de_xpath(entry), line=entry.line, expected="IPP^^^&OID&ISO^PI", found=spid))
    return out


def _cx_key(value: str) -> tuple[str, str]:
    cx = parse_cx(value)
    return cx.id, cx.authority_oid


@dmp_check("authorship")
def check_authorship(c: Check, req: Iti41Request) -> list[Finding]:
    """D15 (secondary source, so warnings): the VIHF caller must be one of each document's authors."""
    sub = req.submission
    if sub is None or req.assertion is None:
        return []
    facts = vihf.read_vihf(req.assertion)
    mode = facts.value(vihf.A_AUTH_MODE)
    out: list[Finding] = []
    for entry in sub.documents:
        if mode.startswith("INDIRECTE"):
            structure = facts.value(vihf.A_STRUCTURE)
            institutions = {parse_xon(i).id for a in entry.authors for i in a.institution}
            if structure and structure not in institutions:
                out.append(c("DMP.AUTH.structure",
                             f"DocumentEntry {entry.id} : Identifiant_Structure du VIHF absent des "
                             "authorInstitution (le DMP refuse un dépôt par une structure non auteur)",
                             f"DocumentEntry {entry.id}: VIHF Identifiant_Structure not among the "
                             "authorInstitution ids (the DMP refuses a non-author structure)",
                             xpath=_de_xpath(entry), line=entry.line, expected=structure,
                             found=", ".join(sorted(institutions)) or "aucune"))
        elif mode == "DIRECTE":
            persons = {parse_xcn(p).id for a in entry.authors for p in a.person}
            persons.add(parse_xcn(entry.slot("legalAuthenticator")).id)
            if facts.name_id and facts.name_id not in persons:
                out.append(c("DMP.AUTH.person", f"DocumentEntry {entry.id} : NameID du VIHF ni auteur ni "
                             "legalAuthenticator", f"DocumentEntry {entry.id}: VIHF NameID is neither an "
                             "author nor the legalAuthenticator", xpath=_de_xpath(entry), expected=facts.name_id,
                             found=", ".join(sorted(p for p in persons if p))))
    return out


# ---------------------------------------------------------------------------------------------
# D4 metadata, D5 hash and size, D8 associations
# ---------------------------------------------------------------------------------------------
@dmp_check("metadata")
def check_metadata(c: Check, req: Iti41Request, ctx: CheckContext) -> list[Finding]:
    """Mandatory DocumentEntry/SubmissionSet metadata, their syntax and their value sets (D4)."""
    sub = req.submission
    if sub is None:
        return []
    out: list[Finding] = []
    vs = ctx.vs()
    if len(sub.submission_sets) != 1:
        out.append(c("DMP.XDS.submission_set",
                     "un et un seul lot de soumission (RegistryPackage classé SubmissionSet) attendu",
                     "exactly one submission set expected", xpath=f"{ROL}/RegistryPackage", expected="1",
                     found=str(len(sub.submission_sets))))
    if not sub.documents:
        out.append(c("DMP.XDS.no_document", "aucun document (ExtrinsicObject) dans la soumission", "no document "
                     "(ExtrinsicObject) in the submission", xpath=f"{ROL}/ExtrinsicObject", expected="≥ 1",
                     found="0"))
    ss = sub.submission_set
    if ss is not None:
        out.extend(_submission_set(req, ss, vs))
    for entry in sub.documents:
        out.extend(_entry(req, entry, vs))
    return out


def _submission_set(req: Iti41Request, ss: Any, vs: ValueSets) -> list[Finding]:
    return rules.evaluate("SubmissionSet", ss, vs, artefact=req.artefact, xpath=f"{ROL}/RegistryPackage[@id='{ss.id}']")


def _entry(req: Iti41Request, e: DocumentEntry, vs: ValueSets) -> list[Finding]:
    return rules.evaluate("DocumentEntry", e, vs, artefact=req.artefact, xpath=_de_xpath(e))


@dmp_check("hash_size")
def check_hash_size(c: Check, req: Iti41Request) -> list[Finding]:
    """D5: each DocumentEntry has its document, and hash (SHA-1) and size match the bytes sent."""
    sub = req.submission
    if sub is None:
        return []
    out: list[Finding] = []
    ids = {e.id for e in sub.entries}
    for entry in sub.entries:
        xp = _de_xpath(entry)
        if entry.id not in req.documents:
            out.append(c("DMP.XDS.missing_document",
                         f"DocumentEntry {entry.id} sans xdsb:Document (XDSMissingDocument)",
                         f"DocumentEntry {entry.id} without xdsb:Document (XDSMissingDocument)", xpath=xp,
                         line=entry.line))
            continue
        data = req.documents[entry.id]
        if data is None:
            continue
        declared_hash = entry.slot("hash")
        if declared_hash:
            actual = hashlib.sha1(data).hexdigest()
            if declared_hash.lower() != actual:
                out.append(c("DMP.XDS.hash",
                             f"DocumentEntry {entry.id} : hash différent du SHA-1 du document envoyé "
                             "(XDSRepositoryMetadataError)", f"DocumentEntry {entry.id}: hash differs from the "
                             "SHA-1 of the document sent", xpath=xp + "/Slot[@name='hash']", line=entry.line,
                             expected=actual, found=declared_hash))
        declared_size = entry.slot("size")
        if declared_size and declared_size != str(len(data)):
            out.append(c("DMP.XDS.size",
                         f"DocumentEntry {entry.id} : size différent de la taille du document envoyé",
                         f"DocumentEntry {entry.id}: size differs from the length of the document sent",
                         xpath=xp + "/Slot[@name='size']", line=entry.line, expected=str(len(data)),
                         found=declared_size))
    for doc_id in req.documents:
        if doc_id not in ids:
            out.append(c("DMP.XDS.missing_metadata",
                         f"xdsb:Document {doc_id} sans fiche (XDSMissingDocumentMetadata)",
                         f"xdsb:Document {doc_id} without metadata (XDSMissingDocumentMetadata)",
                         xpath=f"{PNR}/Document[@id='{doc_id}']"))
    return out


@dmp_check("associations")
def check_associations(c: Check, req: Iti41Request) -> list[Finding]:
    """D8: every DocumentEntry is a HasMember of the submission set with SubmissionSetStatus=Original."""
    sub = req.submission
    if sub is None or sub.submission_set is None:
        return []
    ss_id = sub.submission_set.id
    out: list[Finding] = []
    members = {a.target: a for a in sub.associations_of(ns.ASSOC_HAS_MEMBER) if a.source == ss_id}
    for entry in sub.entries:
        assoc = members.get(entry.id)
        if assoc is None:
            out.append(c("DMP.XDS.has_member",
                         f"DocumentEntry {entry.id} sans association HasMember depuis le lot",
                         f"DocumentEntry {entry.id} without a HasMember association from the submission set",
                         xpath=f"{ROL}/Association", expected=f"{ss_id} → {entry.id}"))
        elif assoc.slot("SubmissionSetStatus") != "Original":
            out.append(c("DMP.XDS.submission_set_status",
                         f"association HasMember de {entry.id} sans SubmissionSetStatus=Original",
                         f"HasMember association of {entry.id} without SubmissionSetStatus=Original",
                         xpath=f"{ROL}/Association[@id='{assoc.id}']",
                         line=assoc.element.sourceline if assoc.element is not None else None,
                         expected="Original", found=assoc.slot("SubmissionSetStatus") or "absent"))
    known = {e.id for e in sub.entries} | {ss_id}
    for assoc in sub.associations:
        # a document relationship (RPLC, APND, XFRM, XFRM_RPLC, IsSnapshotOf) targets an entry of the registry,
        # not of the submission (ITI TF-3 §4.2.2); its source is a document of this submission all the same
        ends = (assoc.source,) if assoc.type in ns.ASSOC_REGISTRY_TARGET else (assoc.source, assoc.target)
        for end in ends:
            if end not in known:
                out.append(c("DMP.XDS.dangling_association",
                             f"association {assoc.id} vers un objet absent de la soumission : {end}",
                             f"association {assoc.id} names an object missing from the submission: {end}",
                             xpath=f"{ROL}/Association[@id='{assoc.id}']"))
    return out


# ---------------------------------------------------------------------------------------------
# D6 metadata versus CDA, and the CDA R2 format (SC.DMP/va1.01)
# ---------------------------------------------------------------------------------------------
@dmp_check("against_cda")
def check_against_cda(c: Check, req: Iti41Request) -> list[Finding]:
    """D6: each DocumentEntry agrees with the header of the CDA it carries."""
    sub = req.submission
    if sub is None:
        return []
    out: list[Finding] = []
    for entry in sub.documents:
        try:
            tree = req.tree(entry.id)
            if tree is None:
                continue
            header = read_header(tree)
        except XmlRejected as exc:
            out.append(c("DMP.CDA.unreadable", f"document {entry.id} : CDA illisible ({exc.reason})",
                         f"document {entry.id}: unreadable CDA ({exc.reason_en})", xpath=_de_xpath(entry)))
            continue
        except Exception as exc:  # a header the reader chokes on is reported, it does not crash the run
            out.append(c("DMP.CDA.header", f"document {entry.id} : en-tête CDA illisible ({type(exc).__name__})",
                         f"document {entry.id}: unreadable CDA header ({type(exc).__name__}: {exc})",
                         xpath=_de_xpath(entry)))
            continue
        out.extend(compare_metadata_with_cda(entry.metadata(), header, artefact=req.artefact,
                                             requirements=c.requirements, where=f"DocumentEntry[{entry.id}]"))
    return out


@dmp_check("cda_format")
def check_cda_format(c: Check, req: Iti41Request) -> list[Finding]:
    """SC.DMP/va1.01: each document sent is a CDA R2 (text/xml, ClinicalDocument) with a CDA formatCode."""
    sub = req.submission
    if sub is None:
        return c.stop([])
    out: list[Finding] = []
    if not sub.documents:
        out.append(c("DMP.CDA.no_document",
                     "aucun document dans la soumission : rien n'est transmis au format CDA R2",
                     "no document in the submission: nothing is sent as CDA R2", xpath=f"{ROL}/ExtrinsicObject",
                     expected="≥ 1 document CDA", found="0"))
    for entry in sub.documents:
        xp = _de_xpath(entry)
        if req.documents.get(entry.id) is None:
            out.append(c("DMP.CDA.content_unavailable",
                         f"document {entry.id} : contenu absent de la capture, racine ClinicalDocument "
                         "non vérifiée", f"document {entry.id}: content not in the capture, "
                         "ClinicalDocument root not checked", xpath=xp))
        if entry.mime_type not in ("text/xml", "application/xslt+xml"):
            out.append(c("DMP.CDA.mime_type", f"document {entry.id} : mimeType d'un CDA attendu",
                         f"document {entry.id}: " "CDA mimeType expected", xpath=xp, expected="text/xml",
                         found=entry.mime_type or "absent"))
        if req.documents.get(entry.id) is not None:
            try:
                root = req.tree(entry.id).getroot()  # type: ignore[union-attr]
                if root.tag != f"{{{ns.HL7}}}ClinicalDocument":
                    out.append(c("DMP.CDA.not_cda",
                                 f"document {entry.id} : n'est pas un CDA (ClinicalDocument HL7 v3)",
                                 f"document {entry.id}: not a CDA (HL7 v3 ClinicalDocument)", xpath=xp,
                                 expected="{urn:hl7-org:v3}ClinicalDocument", found=str(root.tag)[:100]))
            except XmlRejected as exc:
                out.append(c("DMP.CDA.unreadable", f"document {entry.id} : XML illisible ({exc.reason})",
                             f"document {entry.id}: unreadable XML ({exc.reason_en})", xpath=xp))
        fmt = entry.code("formatCode")
        if fmt and not (fmt.code.startswith(("urn:asip:", "urn:asipSante:", "urn:ans:", "urn:ihe:")) or fmt.scheme != "URN"):
            out.append(c("DMP.CDA.format_code",
                         f"document {entry.id} : formatCode qui ne désigne pas un modèle CDA connu",
                         f"document {entry.id}: formatCode names no known CDA model", xpath=xp,
                         expected="urn:asip:ci-sis:… | urn:ihe:…", found=fmt.code))
    return out


# ---------------------------------------------------------------------------------------------
# D7 the signature document
# ---------------------------------------------------------------------------------------------
@dmp_check("signature")
def check_signature(c: Check, req: Iti41Request, ctx: CheckContext) -> list[Finding]:
    """D7: a DSG signature entry (codes, ``signs`` association) whose XAdES covers every document."""
    sub = req.submission
    if sub is None:
        return []
    sigs = sub.signature_entries
    if not sigs:
        return [c("DMP.DSG.missing",
                  "aucun document de signature (fiche classCode Digital Signature) dans la soumission",
                  "no signature document (Digital Signature classCode entry) in the submission",
                  xpath=f"{ROL}/ExtrinsicObject", expected=ns.DSG_CLASS[0], found="absent")]
    out: list[Finding] = []
    ss_id = sub.submission_set.id if sub.submission_set else ""
    for sig in sigs:
        xp = _de_xpath(sig)
        if sig.mime_type != "text/xml":
            out.append(c("DMP.DSG.mime_type", f"document de signature {sig.id} : mimeType text/xml attendu",
                         f"signature document {sig.id}: mimeType text/xml expected", xpath=xp,
                         expected="text/xml", found=sig.mime_type or "absent"))
        for name, rule, (code, scheme, _display) in (("typeCode", "DMP.DSG.typeCode", ns.DSG_TYPE),
                                                     ("formatCode", "DMP.DSG.formatCode", ns.DSG_FORMAT),
                                                     ("eventCodeList", "DMP.DSG.eventCodeList", ns.DSG_EVENT)):
            values = [(coded.code, coded.scheme) for coded in sig.codes.get(name, [])]
            if (code, scheme) not in values:
                out.append(c(rule, f"document de signature {sig.id} : {name} attendu {code} ({scheme})",
                             f"signature document {sig.id}: {name} expected {code} ({scheme})", xpath=xp,
                             expected=f"{code}^{scheme}",
                             found=", ".join(f"{v}^{w}" for v, w in values) or "absent"))
        if sig.slot("languageCode").casefold() != ns.DSG_LANGUAGE:  # BCP 47 tags are case-insensitive
            out.append(c("DMP.DSG.language", f"document de signature {sig.id} : languageCode « art » attendu",
                         f"signature document {sig.id}: languageCode 'art' expected", xpath=xp,
                         expected=ns.DSG_LANGUAGE, found=sig.slot("languageCode") or "absent"))
        signs = [a for a in sub.associations_of(ns.ASSOC_SIGNS) if a.source == sig.id]
        if not any(a.target == ss_id for a in signs):
            out.append(c("DMP.DSG.signs",
                         f"association signs du document de signature {sig.id} vers le lot absente",
                         f"signs association from signature document {sig.id} to the submission set missing",
                         xpath=f"{ROL}/Association", expected=f"{sig.id} → {ss_id}",
                         found=", ".join(f"{a.source} → {a.target}" for a in signs) or "aucune"))
        documents = {e.unique_id: req.documents.get(e.id) for e in sub.documents if e.unique_id}
        if sig.id in req.documents and req.documents[sig.id] is None:
            out.append(c("DMP.DSG.content_unavailable",
                         f"document de signature {sig.id} : contenu absent de la capture, signature "
                         "XAdES non vérifiable", f"signature document {sig.id}: content not in the capture, "
                         "XAdES signature cannot be verified", xpath=xp))
            continue
        out.extend(xades.check_signature_document(
            req.documents.get(sig.id) if sig.id in req.documents else None, documents, artefact=req.artefact,
            trust=ctx.trust, now=ctx.clock(req), requirements=c.requirements,
            submission_set_uid=sub.submission_set.unique_id if sub.submission_set else ""))
    return out


# ---------------------------------------------------------------------------------------------
# D9 replacement
# ---------------------------------------------------------------------------------------------
@dmp_check("replacement")
def check_replacement(c: Check, req: Iti41Request, ctx: CheckContext) -> list[Finding]:
    """D9: an RPLC targets the current entryUUID of an approved entry of the same patient, and the CDA
    relatedDocument names that entry's uniqueId; a CDA replacement without RPLC is an error too."""
    sub = req.submission
    if sub is None:
        return []
    out: list[Finding] = []
    rplc = {a.source: a for a in sub.associations_of(ns.ASSOC_RPLC)}
    for entry in sub.documents:
        related = related_document(req, entry.id)
        assoc = rplc.get(entry.id)
        xp = f"{ROL}/Association[@associationType='{ns.ASSOC_RPLC}']"
        if assoc is None:
            if related:
                out.append(c("DMP.RPLC.missing",
                             f"document {entry.id} : le CDA remplace {related} (relatedDocument RPLC) "
                             "mais la soumission n'a pas d'association RPLC", f"document {entry.id}: the CDA "
                             f"replaces {related} but the submission has no RPLC association", xpath=xp,
                             expected="association RPLC", found="absente"))
            continue
        old = ctx.known_entries.get(assoc.target)
        if old is None:
            out.append(c("DMP.RPLC.unknown_target",
                         f"RPLC de {entry.id} : la cible {assoc.target} n'est pas une "
                         "entryUUID connue du registre (obtenue par ITI-18)", f"RPLC of {entry.id}: target "
                         f"{assoc.target} is not an entryUUID the registry knows (from ITI-18)",
                         strict=ctx.registry_known, xpath=xp, expected="entryUUID courante du document remplacé",
                         found=assoc.target))
        else:
            if old.get("status") and old.get("status") != ns.STATUS_APPROVED:
                out.append(c("DMP.RPLC.deprecated_target",
                             f"RPLC de {entry.id} : la fiche cible n'est pas active "
                             "(XDSRegistryDeprecatedDocumentError)", f"RPLC of {entry.id}: the target entry is "
                             "not approved", xpath=xp, expected=ns.STATUS_APPROVED, found=old.get("status", "")))
            if old.get("patientId") and _cx_key(old["patientId"]) != _cx_key(entry.patient_id):
                out.append(c("DMP.RPLC.patient", f"RPLC de {entry.id} : la fiche cible concerne un autre patient",
                             f"RPLC of {entry.id}: the target entry is another patient's", xpath=xp,
                             expected=old["patientId"], found=entry.patient_id))
            if related and old.get("uniqueId") and related != old["uniqueId"]:
                out.append(c("DMP.RPLC.related_document",
                             f"document {entry.id} : relatedDocument du CDA ({related}) différent du "
                             "uniqueId de la fiche remplacée", f"document {entry.id}: CDA relatedDocument "
                             f"({related}) differs from the replaced entry's uniqueId", xpath=xp,
                             expected=old["uniqueId"], found=related))
        if req.documents.get(entry.id) is not None and not related:
            out.append(c("DMP.RPLC.no_related_document",
                         f"document {entry.id} : association RPLC mais le CDA n'a pas de "
                         "relatedDocument typeCode=RPLC", f"document {entry.id}: RPLC association but the CDA "
                         "has no relatedDocument typeCode=RPLC", xpath=xp,
                         expected="relatedDocument/parentDocument/id", found="absent"))
    return out


def related_document(req: Iti41Request, doc_id: str) -> str:
    """uniqueId (root^extension) of the RPLC parentDocument of a CDA, read directly (no header reader needed)."""
    try:
        tree = req.tree(doc_id)
    except XmlRejected:
        return ""
    if tree is None:
        return ""
    root = tree.getroot()
    hl7 = f"{{{ns.HL7}}}"
    for rel in root.findall(f"{hl7}relatedDocument"):
        if rel.get("typeCode") != "RPLC":
            continue
        pid = rel.find(f"{hl7}parentDocument/{hl7}id")
        if pid is not None:
            return unique_id_of((pid.get("root") or "", pid.get("extension") or ""))
    return ""


# ---------------------------------------------------------------------------------------------
# all of them
# ---------------------------------------------------------------------------------------------
def check_submission(req: Iti41Request, ctx: CheckContext | None = None) -> list[Finding]:
    """Every check on one request (what the simulator records and ``validate`` prints)."""
    ctx = ctx or CheckContext()
    out = list(req.problems)
    out += check_transport(req)
    out += check_addressing(req)
    out += check_vihf(req, ctx)
    out += check_patient_ids(req, ctx)
    out += check_metadata(req, ctx)
    out += check_hash_size(req)
    out += check_associations(req)
    out += check_signature(req, ctx)
    out += check_cda_format(req)
    out += check_replacement(req, ctx)
    out += check_authorship(req)
    out += check_against_cda(req)
    return out


def registry_error_for(findings: list[Finding]) -> tuple[str, str] | None:
    """The IHE error code a registry would answer for these findings (simulator), or None when fine."""
    errors = [f for f in findings if f.is_error]
    if not errors:
        return None
    order = (
        ("DMP.XDS.missing_document", "XDSMissingDocument"),
        ("DMP.XDS.missing_metadata", "XDSMissingDocumentMetadata"),
        ("DMP.XDS.patient_mismatch", "XDSPatientIdDoesNotMatch"),
        ("DMP.XDS.hash", "XDSRepositoryMetadataError"),
        ("DMP.XDS.size", "XDSRepositoryMetadataError"),
        ("DMP.RPLC.deprecated_target", "XDSRegistryDeprecatedDocumentError"),
    )
    for rule, code in order:
        for f in errors:
            if f.rule == rule:
                return code, f.message
    return "XDSRegistryMetadataError", errors[0].message


# ---------------------------------------------------------------------------------------------
# TD0.2 (existence of the patient's DMP), SC.DMP/CONF.01
# ---------------------------------------------------------------------------------------------
@dmp_check("td02")
def check_td02(c: Check, body: bytes, content_type: str, patient_id: str, *, artefact: str = "",
               requirements: tuple[str, ...] | None = None) -> list[Finding]:
    """The TD0.2 call asks about the DMP of the patient being fed: a readable SOAP request carrying a VIHF
    whose patient (the stand-in's ``TD02Request/@ins``, else the VIHF resource-id) is the INS of the ITI-41
    that follows. The real TD0.2 message format is not public: only what any format must carry is checked
    (the VIHF itself is judged on the ITI-41, DUI.DMP.01.03)."""
    from conformance.dmp.mtom import MtomRejected, parse_mtom
    from conformance.safexml import parse_bytes

    xml = body
    mime, _ = parse_content_type(content_type) if content_type else ("", {})
    try:
        if mime.startswith("multipart/"):
            xml = parse_mtom(content_type, body).root.body
        root = parse_bytes(xml).getroot()
    except (MtomRejected, XmlRejected) as exc:
        return [c("DMP.TD02.unreadable", f"requête TD0.2 illisible : {getattr(exc, 'reason', exc)}",
                  f"unreadable TD0.2 request: {getattr(exc, 'reason_en', exc)}", expected="enveloppe SOAP 1.2",
                  found="illisible")]
    head = read_envelope(root)
    out: list[Finding] = []
    if head.soap_ns != ns.SOAP12 or head.body_child is None:
        out.append(c("DMP.TD02.envelope", "requête TD0.2 : enveloppe SOAP 1.2 avec un corps attendue",
                     "TD0.2 request: a SOAP 1.2 envelope with a body expected", expected=ns.SOAP12,
                     found=head.soap_ns or "aucun"))
    if head.assertion is None:
        out.append(c("DMP.TD02.no_vihf", "requête TD0.2 sans VIHF (saml:Assertion dans wsse:Security)",
                     "TD0.2 request without a VIHF (saml:Assertion in wsse:Security)",
                     xpath="/Envelope/Header/Security", expected="saml:Assertion", found="absente"))
    child = head.body_child
    asked = (child.get("ins") or "") if child is not None and child.tag == f"{{{ns.DMP_SIM}}}TD02Request" else ""
    if not asked and head.assertion is not None:
        asked = vihf.read_vihf(head.assertion).value(vihf.A_RESOURCE)
    if not asked:
        out.append(c("DMP.TD02.patient",
                     "requête TD0.2 sans INS du patient (ni TD02Request/@ins ni resource-id du VIHF)",
                     "TD0.2 request without the patient's INS", expected=patient_id or "INS du patient",
                     found="absent"))
    elif patient_id and _cx_key(asked) != _cx_key(patient_id):
        out.append(c("DMP.TD02.patient",
                     "la requête TD0.2 interroge le DMP d'un autre patient que celui alimenté ensuite",
                     "the TD0.2 request asks about another patient's DMP than the one fed next",
                     expected=patient_id, found=asked))
    return out
