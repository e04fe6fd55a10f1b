"""INSi SOAP 1.2 messages: the facts we hold about them, builders, a tolerant reader and the request checks.

Why one module for both directions: the simulator reads requests and writes answers, the tests write
requests and read answers, and the request checks (protocols.md §3.4 I1) must read requests exactly
as the simulator does, so that what the simulator accepts and what the checks report cannot differ.

Facts come from protocols.md §3.3 (secondary sources: open-source INSi clients). Everything we could
not confirm (WS-Addressing version, the verification operation's names, the siram namespace) is kept in
``FACTS`` with ``confirmed=False``; a check that depends on such a fact gives a WARNING only.
Parsing goes through ``conformance.safexml`` (untrusted input); the reader matches elements by local
name so a namespace slip is reported, not fatal.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from lxml import etree

from conformance.findings import Finding, error, info, warning
from conformance.ins.traits import check_birth_date, check_name
from conformance.safexml import Limits, XmlRejected, parse_bytes


@dataclass(frozen=True)
class Fact:
    value: str
    confirmed: bool
    source: str


FACTS: dict[str, Fact] = {
    "soap12_ns": Fact("http://www.w3.org/2003/05/soap-envelope", True, "W3C SOAP 1.2"),
    "wsa_ns": Fact("http://www.w3.org/2005/08/addressing", False, "protocols.md §3.3: wsa:Action/MessageID [S]; version [?]"),
    "ctxbam_ns": Fact("urn:siram:bam:ctxbam", True, "protocols.md §3.3 [S] padoa/tlsi-ins"),
    "ctxbam_version": Fact("01_02", False, "protocols.md §3.3 [S]"),
    "ctxlps_ns": Fact("urn:siram:lps:ctxlps", True, "protocols.md §3.3 [S] padoa/tlsi-ins"),
    "ctxlps_nature": Fact("CTXLPS", False, "protocols.md §3.3 [S]"),
    "recsans_ns": Fact("http://www.cnamts.fr/INSiRecSans", True, "protocols.md §3.3 [S] padoa/tlsi-ins"),
    "resultat_ns": Fact("http://www.cnamts.fr/INSiResultat", True, "protocols.md §3.3 [S]"),
    "verif_ns": Fact("http://www.cnamts.fr/INSiVerif", False, "invented: verification namespace not in any public source"),
    "siram_ns": Fact("urn:siram", False, "invented: namespace of siram:Erreur not confirmed"),
    "action_search": Fact("urn:ServiceIdentiteCertifiee:1.0.0:rechercherInsAvecTraitsIdentite", True,
                          "protocols.md §3.3 [S] padoa/tlsi-ins"),
    "action_search_vitale": Fact("urn:ServiceIdentiteCertifiee:1.0.0:rechercherInsAvecCarteVitale", True,
                                 "protocols.md §3.3 [S]"),
    "action_verify": Fact("urn:ServiceIdentiteCertifiee:1.0.0:verifierInsAvecTraitsIdentite", False,
                          "protocols.md §3.3: operation name from the GIE sample kit, action URN [?]"),
    "verify_result_codes": Fact("00=conforme, 01=non conforme", False, "protocols.md §3.3: verification codes [?]"),
}
SOAP12 = FACTS["soap12_ns"].value
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
WSA = FACTS["wsa_ns"].value
CTXBAM = FACTS["ctxbam_ns"].value
CTXLPS = FACTS["ctxlps_ns"].value
RECSANS = FACTS["recsans_ns"].value
RESULTAT = FACTS["resultat_ns"].value
VERIF = FACTS["verif_ns"].value
SIRAM = FACTS["siram_ns"].value
ACTION_SEARCH = FACTS["action_search"].value
ACTION_SEARCH_VITALE = FACTS["action_search_vitale"].value
ACTION_VERIFY = FACTS["action_verify"].value
OPERATIONS = {ACTION_SEARCH: "search", ACTION_VERIFY: "verify", ACTION_SEARCH_VITALE: "search_vitale"}
BODY_ELEMENTS = {"RECSANSVITALE": "search", "VERIFIERINS": "verify", "RECVITALE": "search_vitale"}
SOAP12_MEDIA = "application/soap+xml"
MAX_REQUEST_BYTES = 256 * 1024  # an INSi request is a few kB; anything larger is refused
REQUEST_LIMITS = Limits(max_bytes=MAX_REQUEST_BYTES, max_depth=32)
_UUID_URN = re.compile(r"uuid:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


class SoapError(ValueError):
    """A request the simulator cannot even read: becomes a SOAP Sender fault, never a crash."""

    def __init__(self, reason: str, reason_en: str, line: int | None = None) -> None:
        super().__init__(reason_en)
        self.reason = reason
        self.reason_en = reason_en
        self.line = line


@dataclass
class InsiRequest:
    """What a DUI sent, read tolerantly (local names); ``check_request`` says what is wrong with it."""

    envelope_ns: str = ""
    action: str = ""
    action_ns: str = ""
    message_id: str = ""
    operation: str = "unknown"  # search | verify | search_vitale | unknown
    body_name: str = ""
    body_ns: str = ""
    traits: dict[str, Any] = field(default_factory=dict)
    traits_present: set[str] = field(default_factory=set)
    ins_fourni: dict[str, str] = field(default_factory=dict)  # verification: num, cle, type, oid
    ctx_bam: etree._Element | None = None
    ctx_lps: etree._Element | None = None
    lines: dict[str, int | None] = field(default_factory=dict)


@dataclass
class InsiIdentityAnswer:
    number: str
    key: str
    oid: str
    type: str = ""
    date_start: str = ""
    date_end: str = ""

    @property
    def matricule(self) -> str:
        return self.number + self.key


@dataclass
class InsiResponse:
    code: str = ""
    label: str = ""
    actif: InsiIdentityAnswer | None = None
    histo: list[InsiIdentityAnswer] = field(default_factory=list)
    tiq: dict[str, str] = field(default_factory=dict)
    fault_subcode: str = ""
    fault_code: str = ""
    fault_text: str = ""

    @property
    def is_fault(self) -> bool:
        return bool(self.fault_subcode or self.fault_code or self.fault_text)


# ---------------------------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------------------------
def _local(el: etree._Element) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


def _ns(el: etree._Element) -> str:
    return etree.QName(el).namespace or "" if isinstance(el.tag, str) else ""


def _child(parent: etree._Element | None, name: str) -> etree._Element | None:
    if parent is None:
        return None
    for el in parent:
        if _local(el) == name:
            return el
    return None


def _children(parent: etree._Element | None, name: str) -> list[etree._Element]:
    return [el for el in parent if _local(el) == name] if parent is not None else []


def _text(el: etree._Element | None) -> str:
    return "".join(el.itertext()) if el is not None else ""


def parse_request(data: bytes) -> InsiRequest:
    """Read an INSi request; ``SoapError`` when it is not XML or not a SOAP envelope with a body."""
    try:
        root = parse_bytes(data, REQUEST_LIMITS).getroot()
    except XmlRejected as exc:
        raise SoapError(f"requête illisible : {exc.reason}", f"unreadable request: {exc.reason_en}", exc.line) from None
    if _local(root) != "Envelope":
        raise SoapError("la racine n'est pas une enveloppe SOAP", "the root is not a SOAP Envelope", root.sourceline)
    req = InsiRequest(envelope_ns=_ns(root))
    header = _child(root, "Header")
    body = _child(root, "Body")
    if body is None:
        raise SoapError("enveloppe SOAP sans Body", "SOAP envelope without a Body", root.sourceline)
    if header is not None:
        action = _child(header, "Action")
        if action is not None:
            req.action, req.action_ns = _text(action).strip(), _ns(action)
            req.lines["action"] = action.sourceline
        mid = _child(header, "MessageID")
        if mid is not None:
            req.message_id = _text(mid).strip()
            req.lines["message_id"] = mid.sourceline
        req.ctx_bam = _child(header, "ContexteBAM")
        req.ctx_lps = _child(header, "ContexteLPS")
    op_el = next((el for el in body if isinstance(el.tag, str)), None)
    if op_el is not None:
        req.body_name, req.body_ns = _local(op_el), _ns(op_el)
        req.operation = BODY_ELEMENTS.get(req.body_name, "unknown")
        req.lines["body"] = op_el.sourceline
        if req.operation == "search":
            _read_traits(op_el, req)
        elif req.operation == "verify":
            _read_verify(op_el, req)
    return req


def _read_traits(parent: etree._Element, req: InsiRequest) -> None:
    mapping = {"NomNaissance": "birth_name", "Sexe": "sex", "DateNaissance": "birth_date",
               "LieuNaissance": "birthplace_code"}
    for name, key in mapping.items():
        el = _child(parent, name)
        if el is not None:
            req.traits[key] = _text(el)
            req.traits_present.add(key)
            req.lines[key] = el.sourceline
    prenoms = _children(parent, "Prenom")
    if prenoms:
        req.traits["given_names"] = [_text(p) for p in prenoms]
        req.traits_present.add("given_names")
        req.lines["given_names"] = prenoms[0].sourceline


def _read_verify(parent: etree._Element, req: InsiRequest) -> None:
    indiv = _child(parent, "IndividuVerifie") if _local(parent) != "IndividuVerifie" else parent
    fourni = _child(indiv, "INSFourni")
    ident = _child(fourni, "IdIndividu")
    req.ins_fourni = {"number": _text(_child(ident, "NumIdentifiant")).strip(),
                      "key": _text(_child(ident, "Cle")).strip(),
                      "type": _text(_child(ident, "TypeMatricule")).strip(),
                      "oid": _text(_child(fourni, "OID")).strip()}
    traits = _child(indiv, "TraitsIdentiteIndividu")
    if traits is not None:
        _read_traits(traits, req)


def parse_response(data: bytes) -> InsiResponse:
    """Read an INSi answer (result or fault); ``SoapError`` when it is not a SOAP envelope."""
    try:
        root = parse_bytes(data, Limits(max_bytes=1024 * 1024, max_depth=32)).getroot()
    except XmlRejected as exc:
        raise SoapError(f"réponse illisible : {exc.reason}", f"unreadable answer: {exc.reason_en}", exc.line) from None
    body = _child(root, "Body")
    if _local(root) != "Envelope" or body is None:
        raise SoapError("réponse sans enveloppe SOAP", "answer without a SOAP envelope")
    out = InsiResponse()
    fault = _child(body, "Fault")
    if fault is not None:
        sub = _child(_child(fault, "Code"), "Subcode")
        out.fault_subcode = _text(_child(sub, "Value")).strip().split(":")[-1]
        out.fault_text = _text(_child(_child(fault, "Reason"), "Text")).strip()
        err = _child(_child(fault, "Detail"), "Erreur")
        out.fault_code = (err.get("code") or "") if err is not None else ""
        return out
    result = _child(body, "RESULTAT")
    cr = _child(result, "CR")
    out.code = _text(_child(cr, "CodeCR")).strip()
    out.label = _text(_child(cr, "LibelleCR")).strip()
    indiv = _child(result, "INDIVIDU")
    if indiv is not None:
        actif = _child(indiv, "INSACTIF")
        if actif is not None:
            out.actif = _identity_answer(actif)
        out.histo = [_identity_answer(h) for h in _children(indiv, "INSHISTO")]
        tiq = _child(indiv, "TIQ")
        if tiq is not None:
            out.tiq = {_local(el): _text(el) for el in tiq if isinstance(el.tag, str)}
    return out


def _identity_answer(el: etree._Element) -> InsiIdentityAnswer:
    ident = _child(el, "IdIndividu")
    return InsiIdentityAnswer(number=_text(_child(ident, "NumIdentifiant")).strip(),
                              key=_text(_child(ident, "Cle")).strip(), oid=_text(_child(el, "OID")).strip(),
                              type=_text(_child(ident, "TypeMatricule")).strip(),
                              date_start=_text(_child(el, "DateDeb")).strip(),
                              date_end=_text(_child(el, "DateFin")).strip())


# ---------------------------------------------------------------------------------------------
# the request checks (protocols.md §3.4 I1)
# ---------------------------------------------------------------------------------------------
def check_request(data: bytes, content_type: str = "", *, artefact: str = "",
                  requirements: Sequence[str] = ()) -> list[Finding]:
    """Every problem of one INSi request: SOAP 1.2, WS-Addressing, context headers, traits format."""
    req_ids = tuple(requirements)
    base = {"artefact": artefact, "requirements": req_ids}
    out: list[Finding] = []
    media = (content_type or "").split(";")[0].strip().lower()
    if content_type and media != SOAP12_MEDIA:
        out.append(error("type de contenu d'une requête SOAP 1.2 attendu : application/soap+xml",
                         "SOAP 1.2 request content type expected: application/soap+xml",
                         rule="INSI.REQ.content-type", expected=SOAP12_MEDIA, found=media[:80], **base))
    try:
        req = parse_request(data)
    except SoapError as exc:
        out.append(error(exc.reason, exc.reason_en, rule="INSI.REQ.xml", line=exc.line, **base))
        return out
    if req.envelope_ns != SOAP12:
        out.append(error("enveloppe qui n'est pas SOAP 1.2", "envelope is not SOAP 1.2", rule="INSI.REQ.soap12",
                         xpath="/Envelope", expected=SOAP12, found=req.envelope_ns or "(aucun espace de noms)", **base))
    out.extend(_check_addressing(req, base))
    out.extend(_check_contexts(req, base))
    out.extend(_check_body(req, base))
    if not any(f.is_error for f in out):
        out.append(info("requête INSi conforme (SOAP 1.2, WS-Addressing, contextes, traits)",
                        "INSi request conforms (SOAP 1.2, WS-Addressing, contexts, traits)",
                        rule="INSI.REQ.ok", found=req.action, **base))
    return out


def _check_addressing(req: InsiRequest, base: dict[str, Any]) -> list[Finding]:
    out: list[Finding] = []
    if not req.action:
        out.append(error("en-tête wsa:Action absent", "wsa:Action header missing", rule="INSI.REQ.wsa-action",
                         xpath="/Envelope/Header/Action", expected=ACTION_SEARCH, found="absent", **base))
    else:
        if req.action not in OPERATIONS:
            out.append(error("wsa:Action inconnu de l'INSi", "wsa:Action unknown to INSi", rule="INSI.REQ.wsa-action",
                             xpath="/Envelope/Header/Action", line=req.lines.get("action"),
                             expected=" | ".join(OPERATIONS), found=req.action[:120], **base))
        if req.action_ns != WSA:
            out.append(warning("espace de noms WS-Addressing inattendu (version non confirmée)",
                               "unexpected WS-Addressing namespace (version unconfirmed)", rule="INSI.REQ.wsa-ns",
                               line=req.lines.get("action"), expected=WSA, found=req.action_ns, **base))
    if not req.message_id:
        out.append(error("en-tête wsa:MessageID absent", "wsa:MessageID header missing", rule="INSI.REQ.wsa-messageid",
                         xpath="/Envelope/Header/MessageID", expected="uuid:…", found="absent", **base))
    elif not _UUID_URN.fullmatch(req.message_id):
        out.append(warning("wsa:MessageID n'a pas la forme uuid:…", "wsa:MessageID is not of the form uuid:…",
                           rule="INSI.REQ.wsa-messageid.form", line=req.lines.get("message_id"),
                           expected="uuid:xxxxxxxx-xxxx-…", found=req.message_id[:80], **base))
    return out


def _check_contexts(req: InsiRequest, base: dict[str, Any]) -> list[Finding]:
    out: list[Finding] = []
    for el, name, ns, parts in ((req.ctx_bam, "ContexteBAM", CTXBAM, ("Id", "Temps", "Emetteur")),
                                (req.ctx_lps, "ContexteLPS", CTXLPS, ("Id", "Temps", "Emetteur", "LPS"))):
        if el is None:
            out.append(error(f"en-tête {name} absent", f"{name} header missing", rule=f"INSI.REQ.{name}",
                             xpath=f"/Envelope/Header/{name}", expected=f"{{{ns}}}{name}", found="absent", **base))
            continue
        if _ns(el) != ns:
            out.append(warning(f"{name} dans un espace de noms inattendu", f"{name} in an unexpected namespace",
                               rule=f"INSI.REQ.{name}.ns", line=el.sourceline, expected=ns, found=_ns(el), **base))
        missing = [p for p in parts if _child(el, p) is None]
        if missing:
            out.append(warning(f"{name} incomplet : {', '.join(missing)} absent(s) (structure de source secondaire)",
                               f"{name} incomplete: {', '.join(missing)} missing (secondary-source structure)",
                               rule=f"INSI.REQ.{name}.content", line=el.sourceline, expected=", ".join(parts),
                               found=", ".join(_local(c) for c in el if isinstance(c.tag, str))[:120], **base))
    if req.ctx_bam is not None and req.ctx_bam.get("Version") != FACTS["ctxbam_version"].value:
        out.append(warning("ContexteBAM : attribut Version inattendu (non confirmé)",
                           "ContexteBAM: unexpected Version attribute (unconfirmed)", rule="INSI.REQ.ContexteBAM.version",
                           line=req.ctx_bam.sourceline, expected=FACTS["ctxbam_version"].value,
                           found=str(req.ctx_bam.get("Version")), **base))
    if req.ctx_lps is not None:
        if req.ctx_lps.get("Nature") != FACTS["ctxlps_nature"].value:
            out.append(warning("ContexteLPS : attribut Nature inattendu (non confirmé)",
                               "ContexteLPS: unexpected Nature attribute (unconfirmed)", rule="INSI.REQ.ContexteLPS.nature",
                               line=req.ctx_lps.sourceline, expected="CTXLPS", found=str(req.ctx_lps.get("Nature")),
                               **base))
        lps = _child(req.ctx_lps, "LPS")
        idam = _child(lps, "IDAM")
        if lps is not None and (idam is None or not _text(idam).strip()):
            out.append(warning("ContexteLPS/LPS sans IDAM (numéro d'autorisation CNDA)",
                               "ContexteLPS/LPS without IDAM (CNDA authorisation number)",
                               rule="INSI.REQ.ContexteLPS.idam", line=lps.sourceline, expected="IDAM R=\"4\"",
                               found="absent", **base))
    return out


def _check_body(req: InsiRequest, base: dict[str, Any]) -> list[Finding]:
    out: list[Finding] = []
    expected_op = OPERATIONS.get(req.action)
    if req.operation == "unknown":
        out.append(error("corps SOAP sans opération INSi reconnue", "SOAP body without a known INSi operation",
                         rule="INSI.REQ.body", xpath="/Envelope/Body", expected=" | ".join(BODY_ELEMENTS),
                         found=req.body_name or "vide", **base))
        return out
    if expected_op and expected_op != req.operation:
        out.append(error("wsa:Action ne correspond pas à l'opération du corps", "wsa:Action does not match the body operation",
                         rule="INSI.REQ.action-body", line=req.lines.get("body"), expected=expected_op,
                         found=req.operation, **base))
    if req.operation == "search":
        if req.body_ns != RECSANS:
            out.append(warning("RECSANSVITALE dans un espace de noms inattendu", "RECSANSVITALE in an unexpected namespace",
                               rule="INSI.REQ.body.ns", line=req.lines.get("body"), expected=RECSANS,
                               found=req.body_ns, **base))
        out.extend(check_request_traits(req, base))
    elif req.operation == "verify":
        if not (req.ins_fourni.get("number") and req.ins_fourni.get("key") and req.ins_fourni.get("oid")):
            out.append(error("vérification sans INS fourni complet (NumIdentifiant, Cle, OID)",
                             "verification without a complete supplied INS (NumIdentifiant, Cle, OID)",
                             rule="INSI.REQ.verify.ins", expected="NumIdentifiant, Cle, OID",
                             found=str(req.ins_fourni), **base))
        out.extend(check_request_traits(req, base))
    return out


def check_request_traits(req: InsiRequest, base: Mapping[str, Any]) -> list[Finding]:
    """Traits in INSi format: upper-case names, YYYY-MM-DD, M/F, 5-character birthplace when sent."""
    out: list[Finding] = []
    for key, element, mandatory in (("birth_name", "NomNaissance", True), ("given_names", "Prenom", True),
                                    ("sex", "Sexe", True), ("birth_date", "DateNaissance", True),
                                    ("birthplace_code", "LieuNaissance", False)):
        where = dict(base, xpath=f"/Envelope/Body/{req.body_name}/{element}", line=req.lines.get(key))
        if key not in req.traits_present:
            if mandatory:
                out.append(error(f"trait obligatoire absent de la requête : {element}",
                                 f"mandatory trait missing from the request: {element}", rule=f"INSI.REQ.trait.{element}",
                                 expected=element, found="absent", **where))
            continue
        value = req.traits[key]
        if key == "birth_name":
            out.extend(_rename(check_name(value, "birth_name", where=where), element))
        elif key == "given_names":
            for g in value:
                out.extend(_rename(check_name(g, "given_names", where=where), element))
        elif key == "birth_date":
            out.extend(_rename(check_birth_date(value, where=where), element))
        elif key == "sex" and value not in ("M", "F"):
            out.append(error("Sexe hors M/F", "Sexe not M/F", rule="INSI.REQ.trait.Sexe", expected="M | F",
                             found=value[:20], **where))
        elif key == "birthplace_code" and value and not re.fullmatch(r"\d{5}|2[AB]\d{3}", value):
            out.append(error("LieuNaissance : code INSEE à 5 caractères attendu", "LieuNaissance: 5-character INSEE code expected",
                             rule="INSI.REQ.trait.LieuNaissance", expected="63220 | 2A004 | 99xxx",
                             found=value[:20], **where))
    return out


def _rename(findings: Iterable[Finding], element: str) -> list[Finding]:
    return [replace(f, rule=f"INSI.REQ.trait.{element}" + (".partial" if f.rule.endswith(".partial") else ""))
            for f in findings]


# ---------------------------------------------------------------------------------------------
# building
# ---------------------------------------------------------------------------------------------
def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _sub(parent: etree._Element, ns: str, name: str, text: str | None = None, **attrs: str) -> etree._Element:
    el = etree.SubElement(parent, f"{{{ns}}}{name}", attrs)
    if text is not None:
        el.text = text
    return el


def build_envelope(action: str, body: etree._Element, *, message_id: str | None = None, lps_id: str = "00000000",
                   with_contexts: bool = True, soap_ns: str = SOAP12) -> bytes:
    """A complete INSi request around ``body`` (tests and tools; the reference DUI has its own client)."""
    env = etree.Element(f"{{{soap_ns}}}Envelope", nsmap={"soap": soap_ns, "wsa": WSA})
    header = _sub(env, soap_ns, "Header")
    _sub(header, WSA, "Action", action)
    _sub(header, WSA, "MessageID", message_id or f"uuid:{uuid.uuid4()}")
    if with_contexts:
        bam = etree.SubElement(header, f"{{{CTXBAM}}}ContexteBAM", {"Version": "01_02"}, nsmap={"ctxbam": CTXBAM})
        _sub(bam, CTXBAM, "Id", str(uuid.uuid4()))
        _sub(bam, CTXBAM, "Temps", _now())
        _sub(bam, CTXBAM, "Emetteur", "segur-conformance")
        _sub(bam, CTXBAM, "COUVERTURE")
        lps = etree.SubElement(header, f"{{{CTXLPS}}}ContexteLPS", {"Nature": "CTXLPS"}, nsmap={"ctxlps": CTXLPS})
        _sub(lps, CTXLPS, "Id", str(uuid.uuid4()))
        _sub(lps, CTXLPS, "Temps", _now())
        _sub(lps, CTXLPS, "Emetteur", "segur-conformance")
        soft = _sub(lps, CTXLPS, "LPS")
        _sub(soft, CTXLPS, "IDAM", lps_id, R="4")
        _sub(soft, CTXLPS, "Version", "1.0")
        _sub(soft, CTXLPS, "Instance", str(uuid.uuid4()))
        _sub(soft, CTXLPS, "Nom", "segur-conformance")
    _sub(env, soap_ns, "Body").append(body)
    return etree.tostring(env, xml_declaration=True, encoding="UTF-8")


def _traits_elements(parent: etree._Element, ns: str, traits: Mapping[str, Any]) -> None:
    _sub(parent, ns, "NomNaissance", str(traits.get("birth_name", "")))
    given = traits.get("given_names") or []
    for g in [given] if isinstance(given, str) else given:
        _sub(parent, ns, "Prenom", str(g))
    _sub(parent, ns, "Sexe", str(traits.get("sex", "")))
    _sub(parent, ns, "DateNaissance", str(traits.get("birth_date", "")))
    if traits.get("birthplace_code"):
        _sub(parent, ns, "LieuNaissance", str(traits["birthplace_code"]))


def build_search_request(traits: Mapping[str, Any], **kw: Any) -> bytes:
    body = etree.Element(f"{{{RECSANS}}}RECSANSVITALE", nsmap={"insi_recsans_ins": RECSANS})
    _traits_elements(body, RECSANS, traits)
    return build_envelope(ACTION_SEARCH, body, **kw)


def build_verify_request(matricule: str, oid: str, traits: Mapping[str, Any], **kw: Any) -> bytes:
    body = etree.Element(f"{{{VERIF}}}VERIFIERINS", nsmap={"insi_verif": VERIF})
    indiv = _sub(body, VERIF, "IndividuVerifie")
    fourni = _sub(indiv, VERIF, "INSFourni")
    ident = _sub(fourni, VERIF, "IdIndividu")
    _sub(ident, VERIF, "NumIdentifiant", matricule[:13])
    _sub(ident, VERIF, "Cle", matricule[13:])
    _sub(ident, VERIF, "TypeMatricule", "NIR")
    _sub(fourni, VERIF, "OID", oid)
    _traits_elements(_sub(indiv, VERIF, "TraitsIdentiteIndividu"), VERIF, traits)
    return build_envelope(ACTION_VERIFY, body, **kw)


def build_result(code: str, label: str, *, actif: InsiIdentityAnswer | None = None,
                 histo: Sequence[InsiIdentityAnswer] = (), tiq: Mapping[str, str] | None = None,
                 relates_to: str = "") -> bytes:
    """A ``RESULTAT`` answer: CR, and for CR 00 the INDIVIDU (INSACTIF, INSHISTO*, TIQ)."""
    env = etree.Element(f"{{{SOAP12}}}Envelope", nsmap={"soap": SOAP12, "wsa": WSA})
    header = _sub(env, SOAP12, "Header")
    if relates_to:
        _sub(header, WSA, "RelatesTo", relates_to)
    body = _sub(env, SOAP12, "Body")
    result = etree.SubElement(body, f"{{{RESULTAT}}}RESULTAT", nsmap={None: RESULTAT})
    cr = _sub(result, RESULTAT, "CR")
    _sub(cr, RESULTAT, "CodeCR", code)
    _sub(cr, RESULTAT, "LibelleCR", label)
    if actif is not None or tiq:
        indiv = _sub(result, RESULTAT, "INDIVIDU")
        if actif is not None:
            _identity_element(indiv, "INSACTIF", actif)
        for h in histo:
            _identity_element(indiv, "INSHISTO", h)
        if tiq:
            t = _sub(indiv, RESULTAT, "TIQ")
            for name in ("NomNaissance", "ListePrenom", "Sexe", "DateNaissance", "LieuNaissance"):
                if name in tiq:
                    _sub(t, RESULTAT, name, tiq[name])
    return etree.tostring(env, xml_declaration=True, encoding="UTF-8")


def _identity_element(parent: etree._Element, name: str, a: InsiIdentityAnswer) -> None:
    el = _sub(parent, RESULTAT, name)
    ident = _sub(el, RESULTAT, "IdIndividu")
    _sub(ident, RESULTAT, "NumIdentifiant", a.number)
    _sub(ident, RESULTAT, "Cle", a.key)
    if a.type:
        _sub(ident, RESULTAT, "TypeMatricule", a.type)
    _sub(el, RESULTAT, "OID", a.oid)
    if a.date_start:
        _sub(el, RESULTAT, "DateDeb", a.date_start)
    if a.date_end:
        _sub(el, RESULTAT, "DateFin", a.date_end)


def build_fault(subcode: str, desir_code: str, text: str, *, sender: bool = True) -> bytes:
    """A SOAP 1.2 fault as INSi sends them: ``Subcode soap:siram_NNN``, ``Detail/siram:Erreur@code=desir_NNN``."""
    env = etree.Element(f"{{{SOAP12}}}Envelope", nsmap={"soap": SOAP12})
    body = _sub(env, SOAP12, "Body")
    fault = _sub(body, SOAP12, "Fault")
    code = _sub(fault, SOAP12, "Code")
    _sub(code, SOAP12, "Value", "soap:Sender" if sender else "soap:Receiver")
    _sub(_sub(code, SOAP12, "Subcode"), SOAP12, "Value", f"soap:{subcode}")
    reason = _sub(fault, SOAP12, "Reason")
    text_el = _sub(reason, SOAP12, "Text", text)
    text_el.set("{http://www.w3.org/XML/1998/namespace}lang", "fr")
    detail = _sub(fault, SOAP12, "Detail")
    err = etree.SubElement(detail, f"{{{SIRAM}}}Erreur", {"code": desir_code}, nsmap={"siram": SIRAM})
    err.text = text
    return etree.tostring(env, xml_declaration=True, encoding="UTF-8")


def unconfirmed_facts() -> dict[str, Fact]:
    """What the note lists as unconfirmed (and what only warnings depend on)."""
    return {k: v for k, v in FACTS.items() if not v.confirmed}
