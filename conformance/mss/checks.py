"""The checks of one MSSanté message: pure functions from an inspected message to findings.

Each check reads one aspect (protocols.md §2.1, §2.5 M1–M7, M10; rem.md §2.3) and tags its findings
with the requirement it proves. The suites call them one by one (one test per requirement); the
``validate``-style callers use ``check_message``. A check never raises on hostile input: ``inspect``
already turned parse problems into findings. Rules we only infer, or whose mechanism no primary text
confirms (delivery receipts, operator size limit, cipher list, body type), give WARNINGs.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from conformance.findings import Finding, error, info, warning
from conformance.mss import rules
from conformance.mss.mime import OPERATOR_SIZE_HINT, ParsedMessage, parse_message
from conformance.mss.rules import Check, condition, message_check
from conformance.mss.xdm import XdmDocument, XdmPackage, cda_code, open_xdm

PATIENT_DOMAIN = "patient.mssante.fr"

_ADDRESS = re.compile(r"[^@\s<>,;\"]{1,200}@[A-Za-z0-9.-]{1,200}\.[A-Za-z]{2,24}")
_MSG_ID = re.compile(r"<[^<>@\s]{1,500}@[^<>@\s]{1,500}>")
_AUTO = re.compile(r"g[ée]n[ée]r[ée]e?s?\s+automatiquement|automatiquement\s+g[ée]n[ée]r[ée]|message\s+automatique",
                   re.I)
#: AEAD suites of TLS 1.3 and ECDHE/DHE AEAD suites of TLS 1.2 (the ANS list itself is not public: warning)
_GOOD_CIPHER = re.compile(r"^(TLS_(AES|CHACHA20)_|(ECDHE|DHE)-(ECDSA|RSA)-(AES\d+-GCM|CHACHA20-POLY1305))")
_TLS_RANK = {"TLSv1": 10, "TLSv1.1": 11, "TLSv1.2": 12, "TLSv1.3": 13}


@dataclass(frozen=True)
class MessageContext:
    """What the harness knows about why a message was sent (empty in artefact mode)."""

    options: Mapping[str, Any] | None = None  # POST /documents/{id}/mss body
    resident: Mapping[str, Any] | None = None  # contract v1 Resident of the document's patient
    sender: str = ""  # the mailbox the harness configured (PUT /endpoints mss.sender)
    applicative: bool | None = None  # True: sent from a BAL applicative; None: unknown
    replaces: Mapping[str, str] | None = None  # {"id": root[^ext], "set_id": ...} of the replaced CDA
    envelope: Mapping[str, Any] | None = None  # simulator envelope (rcpt_tos, rcpt_params, mail_params)

    def option(self, name: str) -> bool:
        return bool(self.options and self.options.get(name))


@dataclass
class Inspected:
    """A message read once (MIME + every XDM attachment) and checked many times."""

    msg: ParsedMessage
    xdms: list[XdmPackage] = field(default_factory=list)
    ctx: MessageContext = MessageContext()

    @property
    def artefact(self) -> str:
        return self.msg.artefact

    @property
    def cda_documents(self) -> list[XdmDocument]:
        return [d for pkg in self.xdms for d in pkg.cda_documents]

    def patient_recipients(self) -> list[str]:
        addrs = list(self.msg.recipients())
        if self.ctx.envelope:
            addrs += [str(a) for a in self.ctx.envelope.get("rcpt_tos") or []]
        seen = dict.fromkeys(a.strip() for a in addrs if a.strip().lower().endswith("@" + PATIENT_DOMAIN))
        return list(seen)


def inspect(raw: bytes, artefact: str = "", ctx: MessageContext | None = None) -> Inspected:
    """Parse a message and open its XDM attachments (never raises)."""
    msg = parse_message(raw, artefact)
    it = Inspected(msg=msg, ctx=ctx or MessageContext())
    for part in msg.xdm_parts:
        if part.payload is not None:
            it.xdms.append(open_xdm(part.payload, f"{artefact}#{part.filename or 'IHE_XDM.ZIP'}"))
    return it


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
def _plain(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def is_address(value: str) -> bool:
    return bool(_ADDRESS.fullmatch(value.strip()))


# ---------------------------------------------------------------------------------------------
# structure: MIME, XDM, subject (MSS/XDM.01)
# ---------------------------------------------------------------------------------------------
def expects_document(it: Inspected) -> bool:
    """A document send: the harness asked for one (sandbox), or the message carries attachments or an
    XDM-style subject (artefact mode, where a plain text message is legitimate)."""
    if it.ctx.options is not None:
        return True
    subject = it.msg.header("Subject") or ""
    return subject.startswith("XDM/") or any(p.filename or p.disposition == "attachment" for p in it.msg.parts)


@condition("document_send")
def is_document_send(it: Inspected) -> bool:
    """M1–M3 apply to a message that attaches an XDM package or is expected to carry a document."""
    return bool(it.msg.xdm_parts) or expects_document(it)


@message_check("mime")
def check_mime(it: Inspected, c: Check) -> list[Finding]:
    """M1: readable MIME, multipart/mixed, exactly one IHE_XDM.ZIP (application/zip, base64)."""
    out = list(it.msg.findings)
    if not it.msg.ok:
        return c.stop(out)
    base = c.where
    top = it.msg.structure[0].split(" ", 1)[1] if it.msg.structure else ""
    xdm = it.msg.xdm_parts
    if len(xdm) != 1:
        out.append(error(f"le message doit joindre exactement un IHE_XDM.ZIP ({len(xdm)} trouvé(s))",
                         f"the message must attach exactly one IHE_XDM.ZIP ({len(xdm)} found)", rule="MSS.MIME.XDM_PART",
                         expected="1 pièce jointe IHE_XDM.ZIP", found=str(len(xdm)), **base))
    if xdm and top != "multipart/mixed":
        out.append(error("un message avec pièce jointe XDM doit être multipart/mixed",
                         "a message with an XDM attachment must be multipart/mixed", rule="MSS.MIME.STRUCTURE",
                         xpath="/Content-Type", expected="multipart/mixed", found=top, **base))
    for part in xdm:
        where = {**base, "xpath": f"partie {part.path}"}
        if part.content_type != "application/zip":
            out.append(error("IHE_XDM.ZIP doit être de type application/zip", "IHE_XDM.ZIP must be application/zip",
                             rule="MSS.MIME.XDM_PART", expected="application/zip", found=part.content_type, **where))
        if part.transfer_encoding != "base64":
            out.append(error("IHE_XDM.ZIP doit être encodé en base64", "IHE_XDM.ZIP must be base64-encoded",
                             rule="MSS.MIME.XDM_PART", expected="base64", found=part.transfer_encoding, **where))
        if part.disposition != "attachment":
            out.append(warning("IHE_XDM.ZIP devrait être en Content-Disposition: attachment",
                               "IHE_XDM.ZIP should be Content-Disposition: attachment", rule="MSS.MIME.XDM_PART",
                               expected="attachment", found=part.disposition or "absent", **where))
    if len(it.msg.raw) > OPERATOR_SIZE_HINT:
        out.append(warning(
            f"message de {len(it.msg.raw)} octets : au-delà de 10 Mo, des opérateurs peuvent le refuser "
            "(limite non confirmée par un texte ANS)",
            f"{len(it.msg.raw)}-byte message: above 10 MB some operators may refuse it (limit not confirmed)",
            rule="MSS.MIME.SIZE", expected=f"<= {OPERATOR_SIZE_HINT}", found=str(len(it.msg.raw)), **base))
    return out


@message_check("xdm")
def check_xdm(it: Inspected, c: Check) -> list[Finding]:
    """M2/M3: archive safety, layout, METADATA.XML, URI/hash/size, at least one CDA."""
    out: list[Finding] = []
    if not it.xdms:
        return c.stop([error("aucune archive IHE_XDM.ZIP lisible dans le message",
                             "no readable IHE_XDM.ZIP in the message", rule="MSS.XDM.ZIP", expected="IHE_XDM.ZIP",
                             found="absente", **c.where)])
    for pkg in it.xdms:
        out.extend(pkg.findings)
        if pkg.readable and not pkg.cda_documents:
            out.append(error("l'archive XDM ne contient aucun document CDA lisible",
                             "the XDM archive holds no readable CDA document", rule="MSS.XDM.CDA", artefact=pkg.artefact,
                             expected=">= 1 ClinicalDocument", found="0", requirements=c.requirements))
    return out


@message_check("subject")
def check_subject(it: Inspected, c: Check) -> list[Finding]:
    """M4: a message carrying an XDM package has a subject starting with ``XDM/1.0/DDM``."""
    subject = it.msg.header("Subject")
    where = c.where
    if subject is None:
        return [error("objet (Subject) absent", "Subject missing", rule="MSS.HDR.SUBJECT", expected="XDM/1.0/DDM…",
                      found="absent", **where)]
    if it.msg.xdm_parts and not subject.startswith("XDM/1.0/DDM"):
        return [error("l'objet d'un message XDM doit commencer par XDM/1.0/DDM",
                      "the subject of an XDM message must start with XDM/1.0/DDM", rule="MSS.HDR.SUBJECT",
                      expected="XDM/1.0/DDM+…", found=subject[:120], **where)]
    return [info("objet conforme", "subject conforms", rule="MSS.HDR.SUBJECT", found=subject[:120], **where)]


# ---------------------------------------------------------------------------------------------
# X-MSS-* headers (SC.MSS/CONF.14, .15, .16, .21)
# ---------------------------------------------------------------------------------------------
@message_check("codecda")
def check_codecda(it: Inspected, c: Check) -> list[Finding]:
    """M5: X-MSS-CODECDA lists exactly the ``ClinicalDocument/code/@code`` of the CDA documents."""
    out: list[Finding] = []
    where = c.where
    values = it.msg.header_all("X-MSS-CODECDA")
    codes = {c for c in (cda_code(d) for d in it.cda_documents) if c}
    if len(values) > 1:
        out.append(error("X-MSS-CODECDA présent plusieurs fois", "X-MSS-CODECDA present more than once",
                         rule="MSS.HDR.CODECDA", expected="1", found=str(len(values)), **where))
    if not codes:
        if values:
            out.append(error("X-MSS-CODECDA doit être absent quand aucun CDA n'est joint",
                             "X-MSS-CODECDA must be absent when no CDA is attached", rule="MSS.HDR.CODECDA",
                             expected="absent", found=values[0][:120], **where))
        return c.stop(out)
    if not values:
        out.append(error("X-MSS-CODECDA absent alors que le message joint un CDA (ECO.2.4.1)",
                         "X-MSS-CODECDA missing although a CDA is attached (ECO.2.4.1)", rule="MSS.HDR.CODECDA",
                         expected=",".join(sorted(codes)), found="absent", **where))
        return c.stop(out)
    declared = {v.strip() for v in values[0].split(",") if v.strip()}
    if declared != codes:
        out.append(error("X-MSS-CODECDA ne correspond pas aux codes des documents CDA joints",
                         "X-MSS-CODECDA does not match the codes of the attached CDA documents", rule="MSS.HDR.CODECDA",
                         expected=",".join(sorted(codes)), found=values[0][:120], **where))
    c.found = values[0][:120]
    return out


def cda_has_qualified_ins(doc: XdmDocument) -> bool:
    """The CDA carries an INS (valid matricule, INS OID) with the strict traits (conformance.ins rules)."""
    from conformance.ins.cda_identity import check_cda_identity, extract_identity

    if doc.tree is None:
        return False
    if extract_identity(doc.tree).ins is None:
        return False
    return not any(f.is_error for f in check_cda_identity(doc.tree, doc.path))


@message_check("x_mss_ins")
def check_x_mss_ins(it: Inspected, c: Check) -> list[Finding]:
    """M5: X-MSS-INS is O only if every CDA carries a qualified INS with its traits, else N (ECO.2.4.2)."""
    out: list[Finding] = []
    where = c.where
    values = it.msg.header_all("X-MSS-INS")
    docs = it.cda_documents
    if not docs:
        if values:
            out.append(error("X-MSS-INS doit être absent quand aucun CDA n'est joint",
                             "X-MSS-INS must be absent when no CDA is attached", rule="MSS.HDR.INS", expected="absent",
                             found=values[0][:40], **where))
        return out
    expected = "O" if all(cda_has_qualified_ins(d) for d in docs) else "N"
    if not values:
        return [error("X-MSS-INS absent alors que le message joint un CDA (ECO.2.4.2)",
                      "X-MSS-INS missing although a CDA is attached (ECO.2.4.2)", rule="MSS.HDR.INS", expected=expected,
                      found="absent", **where)]
    value = values[0].strip()
    if len(values) > 1 or value not in ("O", "N"):
        out.append(error("X-MSS-INS vaut O ou N, une seule fois", "X-MSS-INS is O or N, once", rule="MSS.HDR.INS",
                         expected=expected, found=" | ".join(values)[:80], **where))
    elif value != expected:
        fr = ("X-MSS-INS=O alors qu'un CDA joint ne porte pas d'INS qualifié avec ses traits" if value == "O"
              else "X-MSS-INS=N alors que tous les CDA joints portent un INS qualifié avec ses traits")
        en = ("X-MSS-INS=O although an attached CDA has no qualified INS with traits" if value == "O"
              else "X-MSS-INS=N although every attached CDA carries a qualified INS with traits")
        out.append(error(fr, en, rule="MSS.HDR.INS", expected=expected, found=value, **where))
    else:
        out.append(info("X-MSS-INS conforme", "X-MSS-INS conforms", rule="MSS.HDR.INS", found=value, **where))
    return out


@message_check("x_mss_nil")
def check_x_mss_nil(it: Inspected, c: Check) -> list[Finding]:
    """M5: X-MSS-NIL (the product reference declared on Convergence) on every message (ECO.2.4.3)."""
    where = c.where
    values = [v.strip() for v in it.msg.header_all("X-MSS-NIL")]
    if not values or not values[0]:
        return [error("X-MSS-NIL absent ou vide : il est exigé sur tout message (ECO.2.4.3)",
                      "X-MSS-NIL missing or empty: required on every message (ECO.2.4.3)", rule="MSS.HDR.NIL",
                      expected="référence produit Convergence", found="absent", **where)]
    if len(values) > 1:
        return [error("X-MSS-NIL présent plusieurs fois", "X-MSS-NIL present more than once", rule="MSS.HDR.NIL",
                      expected="1", found=str(len(values)), **where)]
    if re.search(r"\s", values[0]) or len(values[0]) > 64:
        return [warning("X-MSS-NIL inhabituel (espaces ou longueur) : vérifier la référence déclarée",
                        "unusual X-MSS-NIL (spaces or length): check the declared reference", rule="MSS.HDR.NIL",
                        found=values[0][:80], **where)]
    return [info("X-MSS-NIL présent", "X-MSS-NIL present", rule="MSS.HDR.NIL", found=values[0], **where)]


@message_check("x_mss_mes")
def check_x_mss_mes(it: Inspected, c: Check) -> list[Finding]:
    """M6: X-MSS-MES: FIN on messages to a patient when the professional wants no reply (ECO.2.2.8)."""
    out: list[Finding] = []
    where = c.where
    values = [v.strip() for v in it.msg.header_all("X-MSS-MES")]
    patients = it.patient_recipients()
    if values and (len(values) > 1 or values[0] != "FIN"):
        out.append(error("X-MSS-MES ne peut valoir que FIN (trois majuscules), une fois",
                         "X-MSS-MES can only be FIN (three capitals), once", rule="MSS.HDR.MES", expected="FIN",
                         found=" | ".join(values)[:80], **where))
    if values and not patients:
        out.append(warning("X-MSS-MES sur un message sans destinataire patient", "X-MSS-MES on a message with no "
                           "patient recipient", rule="MSS.HDR.MES", expected="destinataire @patient.mssante.fr",
                           found="aucun", **where))
    if it.ctx.option("no_reply") and patients and not values:
        out.append(error("« pas de réponse » demandé pour un message au patient : X-MSS-MES: FIN attendu",
                         "'no reply' chosen for a message to the patient: X-MSS-MES: FIN expected",
                         rule="MSS.HDR.MES", expected="FIN", found="absent", **where))
    if it.ctx.options is not None and not it.ctx.option("no_reply") and values:
        out.append(warning("X-MSS-MES: FIN alors que l'utilisateur n'a pas refusé les réponses",
                           "X-MSS-MES: FIN although the user did not refuse replies", rule="MSS.HDR.MES",
                           expected="absent", found=values[0], **where))
    c.found = values[0] if values else "absent"
    return out


# ---------------------------------------------------------------------------------------------
# identity of the message (DUI.MSS.07, .08, .10, .12), receipts (UX.33, DUI.MSS.13)
# ---------------------------------------------------------------------------------------------
@message_check("message_id")
def check_message_id(it: Inspected, c: Check) -> list[Finding]:
    where = c.where
    values = it.msg.header_all("Message-ID")
    if len(values) != 1:
        return [error("un message doit porter exactement un Message-ID (RFC 5322)",
                      "a message must carry exactly one Message-ID (RFC 5322)", rule="MSS.HDR.MESSAGE_ID",
                      expected="1 <id@domaine>", found=str(len(values)), **where)]
    if not _MSG_ID.fullmatch(values[0].strip()):
        return [error("Message-ID mal formé", "malformed Message-ID", rule="MSS.HDR.MESSAGE_ID",
                      expected="<partie-gauche@partie-droite>", found=values[0][:120], **where)]
    return [info("Message-ID conforme", "Message-ID conforms", rule="MSS.HDR.MESSAGE_ID", found=values[0][:120],
                 **where)]


def is_reply(it: Inspected) -> bool:
    subject = it.msg.header("Subject") or ""
    return bool(it.msg.header("In-Reply-To") or re.match(r"^\s*(re|tr|fwd?)\s*:", subject, re.I))


@condition("reply")
def answers_a_message(it: Inspected) -> bool:
    """DUI.MSS.08 applies to a reply: the harness asked for one (``in_reply_to``), or the message is one."""
    return bool(str((it.ctx.options or {}).get("in_reply_to") or "").strip()) or is_reply(it)


@condition("applicative_sender")
def may_be_applicative(it: Inspected) -> bool:
    """DUI.MSS.10 applies unless the sender is known to be a personal or organisational mailbox."""
    return it.ctx.applicative is not False


@message_check("reply")
def check_reply_headers(it: Inspected, c: Check) -> list[Finding]:
    """DUI.MSS.08: a reply carries In-Reply-To = the original Message-ID, References containing it
    (RFC 5322 §3.6.4), and its own Message-ID. The original is known when the harness asked for the reply
    (``in_reply_to`` of the send options); otherwise (artefact mode) it is the In-Reply-To found. The form of
    the Message-ID itself is DUI.MSS.07's check, run on every message."""
    out: list[Finding] = []
    where = c.where
    asked = str((it.ctx.options or {}).get("in_reply_to") or "").strip()
    in_reply = (it.msg.header("In-Reply-To") or "").strip()
    refs = it.msg.header("References") or ""
    original = asked or in_reply
    if not in_reply or not _MSG_ID.fullmatch(in_reply):
        out.append(error("une réponse doit porter In-Reply-To (Message-ID du message d'origine)",
                         "a reply must carry In-Reply-To (the original Message-ID)", rule="MSS.HDR.REPLY",
                         expected=asked or "<id@domaine>", found=in_reply[:120] or "absent", **where))
    elif asked and in_reply != asked:
        out.append(error("In-Reply-To ne reprend pas le Message-ID du message d'origine", "In-Reply-To is not the "
                         "original Message-ID", rule="MSS.HDR.REPLY", expected=asked, found=in_reply[:120], **where))
    if not refs or (original and original not in refs.split()):
        out.append(error("une réponse doit porter References incluant le Message-ID d'origine",
                         "a reply must carry References including the original Message-ID", rule="MSS.HDR.REPLY",
                         expected=original or "<id@domaine>", found=refs[:120] or "absent",
                         **c.at("References")))
    own = [v.strip() for v in it.msg.header_all("Message-ID")]
    if len(own) != 1 or not own[0] or (original and own[0] == original):
        out.append(error("une réponse doit porter son propre Message-ID (un seul, distinct de l'original)",
                         "a reply must carry its own Message-ID (one, different from the original)",
                         rule="MSS.HDR.REPLY", expected="un Message-ID ≠ " + (original or "l'original"),
                         found=" | ".join(own)[:120] or "absent", **c.at("Message-ID")))
    return [replace(f, requirements=c.requirements) for f in out]


@message_check("from")
def check_from(it: Inspected, c: Check) -> list[Finding]:
    """DUI.MSS.12: From is one MSSanté mailbox with a meaningful display name (Intitulé_BAL)."""
    out: list[Finding] = []
    where = c.where
    addrs = it.msg.addresses("From")
    if len(addrs) != 1 or not is_address(addrs[0][1]):
        return c.stop([error("From doit contenir exactement une adresse valide", "From must hold exactly one valid address",
                      rule="MSS.HDR.FROM", expected="« Intitulé » <bal@domaine.mssante.fr>",
                      found=(it.msg.header("From") or "absent")[:120], **where)])
    display, addr = addrs[0]
    if not display.strip() or display.strip().lower() == addr.lower() or is_address(display.strip()):
        out.append(error("From sans nom d'affichage significatif (intitulé de la BAL)",
                         "From without a meaningful display name (mailbox label)", rule="MSS.HDR.FROM",
                         expected="« Intitulé de la BAL » <adresse>", found=(it.msg.header("From") or "")[:120], **where))
    if not addr.lower().endswith(".mssante.fr") and not addr.lower().endswith("@mssante.fr"):
        out.append(warning("l'expéditeur n'est pas une BAL de l'espace de confiance MSSanté (*.mssante.fr)",
                           "the sender is not an MSSanté trust-space mailbox (*.mssante.fr)", rule="MSS.HDR.FROM",
                           expected="*.mssante.fr", found=addr, **where))
    if it.ctx.sender and addr.lower() != it.ctx.sender.lower():
        out.append(error("From n'est pas la BAL configurée pour le candidat", "From is not the mailbox configured "
                         "for the candidate", rule="MSS.HDR.FROM", expected=it.ctx.sender, found=addr, **where))
    c.found = it.msg.header("From") or ""
    return out


@message_check("applicative")
def check_applicative(it: Inspected, c: Check) -> list[Finding]:
    """DUI.MSS.10: from an applicative mailbox, a Reply-To and a closing "generated automatically" mention
    naming a personal or organisational mailbox to contact. Unknown mailbox kind → warnings only."""
    out: list[Finding] = []
    strict = it.ctx.applicative is True
    maker = error if strict else warning
    suffix_fr = "" if strict else " (si l'expéditeur est une BAL applicative)"
    suffix_en = "" if strict else " (if the sender is an applicative mailbox)"
    where = c.where
    sender = (it.msg.addresses("From") or [("", "")])[0][1].lower()
    reply_to = [a for _, a in it.msg.addresses("Reply-To")]
    if not reply_to or not all(is_address(a) for a in reply_to):
        out.append(maker("Reply-To absent ou invalide" + suffix_fr, "Reply-To missing or invalid" + suffix_en,
                         rule="MSS.APP.REPLY_TO", expected="BAL personnelle ou organisationnelle",
                         found=(it.msg.header("Reply-To") or "absent")[:120], **where))
    elif any(a.lower() == sender for a in reply_to):
        out.append(maker("Reply-To désigne la BAL applicative elle-même" + suffix_fr,
                         "Reply-To names the applicative mailbox itself" + suffix_en, rule="MSS.APP.REPLY_TO",
                         expected="une autre BAL (personnelle ou organisationnelle)", found=reply_to[0], **where))
    body = _plain(it.msg.body_text())
    body_where = {"artefact": it.artefact, "xpath": "/corps", "requirements": c.requirements}
    if not _AUTO.search(body):
        out.append(maker("mention « message généré automatiquement » absente du corps" + suffix_fr,
                         "'automatically generated' mention missing from the body" + suffix_en,
                         rule="MSS.APP.MENTION", expected="… généré automatiquement …", found=body[:120], **body_where))
    contacts = {a.lower() for a in _ADDRESS.findall(body)} - {sender}
    if not contacts:
        out.append(warning("la mention ne cite aucune BAL à contacter", "the mention names no mailbox to contact",
                           rule="MSS.APP.MENTION", expected="adresse d'une BAL personnelle ou organisationnelle",
                           found="aucune adresse", **body_where))
    return out


@message_check("read_receipt")
def check_read_receipt(it: Inspected, c: Check) -> list[Finding]:
    """M7 / UX.33: Disposition-Notification-To when the user asked for a read receipt."""
    out: list[Finding] = []
    where = c.where
    values = it.msg.header_all("Disposition-Notification-To")
    addrs = [a for _, a in it.msg.addresses("Disposition-Notification-To")]
    if it.ctx.option("read_receipt") and not values:
        return c.stop([error("accusé de lecture demandé mais Disposition-Notification-To absent",
                             "read receipt asked but Disposition-Notification-To missing", rule="MSS.HDR.DNT",
                             expected="adresse de la BAL émettrice", found="absent", **where)])
    if values and (len(addrs) != 1 or not is_address(addrs[0])):
        return c.stop([error("Disposition-Notification-To mal formé", "malformed Disposition-Notification-To",
                             rule="MSS.HDR.DNT", expected="une adresse", found=values[0][:120], **where)])
    if values:
        sender = (it.msg.addresses("From") or [("", "")])[0][1].lower()
        if addrs[0].lower() not in {sender, it.ctx.sender.lower()}:
            out.append(warning("les accusés iront à une autre BAL que l'émettrice", "receipts will go to another "
                               "mailbox than the sender", rule="MSS.HDR.DNT", expected=sender, found=addrs[0], **where))
        if it.ctx.options is not None and not it.ctx.option("read_receipt"):
            out.append(warning("Disposition-Notification-To sans demande de l'utilisateur", "Disposition-Notification-To"
                               " without the user asking", rule="MSS.HDR.DNT", expected="absent", found=addrs[0], **where))
    c.found = values[0] if values else "non demandé"
    return out


@message_check("delivery_receipt")
def check_delivery_receipt_request(it: Inspected, c: Check) -> list[Finding]:
    """DUI.MSS.13: a delivery receipt can be asked. The mechanism (Return-Receipt-To per rem.md, or an
    SMTP DSN NOTIFY per protocols.md [?]) is unconfirmed: every finding is a warning or info."""
    out: list[Finding] = []
    where = c.where
    rrt = [a for _, a in it.msg.addresses("Return-Receipt-To")]
    notify = [p for params in ((it.ctx.envelope or {}).get("rcpt_params") or {}).values() for p in params
              if p.upper().startswith("NOTIFY=")]
    if rrt and not all(is_address(a) for a in rrt):
        out.append(warning("Return-Receipt-To mal formé", "malformed Return-Receipt-To", rule="MSS.DSN.REQUEST",
                           expected="une adresse", found=(it.msg.header("Return-Receipt-To") or "")[:120], **where))
    bad = [p for p in notify if not re.fullmatch(r"NOTIFY=(NEVER|((SUCCESS|FAILURE|DELAY),?)+)", p.upper())]
    if bad:
        out.append(warning("paramètre DSN NOTIFY mal formé (RFC 3461)", "malformed DSN NOTIFY parameter (RFC 3461)",
                           rule="MSS.DSN.REQUEST", expected="NOTIFY=SUCCESS,FAILURE…", found=bad[0][:80], **where))
    if not rrt and not notify:
        out.append(warning("aucune demande d'accusé de réception (Return-Receipt-To ou DSN NOTIFY) observée ; "
                           "mécanisme non confirmé, à démontrer", "no delivery-receipt request (Return-Receipt-To or "
                           "DSN NOTIFY) observed; mechanism unconfirmed, to be demonstrated", rule="MSS.DSN.REQUEST",
                           expected="Return-Receipt-To ou RCPT NOTIFY", found="absent", **where))
    c.found = ", ".join(rrt + notify)[:120]
    return out


# ---------------------------------------------------------------------------------------------
# patient sends (DUI.MSS.11, UX.32, INVISIBLE_PATIENT)
# ---------------------------------------------------------------------------------------------
@message_check("patient_address")
def check_patient_address(it: Inspected, c: Check) -> list[Finding]:
    """M6: a patient address is the qualified INS (valid key) + @patient.mssante.fr of the document's patient."""
    from conformance.ins.cda_identity import extract_identity
    from conformance.ins.matricule import is_valid_matricule

    out: list[Finding] = []
    where = c.where
    patients = it.patient_recipients()
    if it.ctx.option("to_patient") and not patients:
        out.append(error("envoi au patient demandé mais aucun destinataire @patient.mssante.fr",
                         "patient send asked but no @patient.mssante.fr recipient", rule="MSS.PATIENT.ADDRESS",
                         expected="<matricule INS>@patient.mssante.fr", found="aucun", **where))
    resident = it.ctx.resident or {}
    ins = resident.get("ins") or {}
    for addr in patients:
        local, _, domain = addr.partition("@")
        if domain.lower() != PATIENT_DOMAIN or not is_valid_matricule(local):
            out.append(error("adresse patient invalide : matricule INS (15 caractères, clé valide) attendu",
                             "invalid patient address: matricule INS (15 characters, valid key) expected",
                             rule="MSS.PATIENT.ADDRESS", expected="<matricule INS>@patient.mssante.fr", found=addr,
                             **where))
            continue
        if resident:
            if resident.get("status") != "QUAL":
                out.append(error("adresse patient construite pour une identité non qualifiée (statut "
                                 f"{resident.get('status')})", "patient address built for a non-qualified identity "
                                 f"(status {resident.get('status')})", rule="MSS.PATIENT.QUALIFIED",
                                 expected="statut QUAL", found=str(resident.get("status")),
                                 **{**where, "requirements": c.spec.requirements_of("MSS.PATIENT.QUALIFIED")}))
            if ins.get("matricule") and local != ins.get("matricule"):
                out.append(error("l'adresse patient ne correspond pas à l'INS du dossier",
                                 "the patient address does not match the record's INS", rule="MSS.PATIENT.ADDRESS",
                                 expected=f"{ins.get('matricule')}@{PATIENT_DOMAIN}", found=addr, **where))
        for doc in it.cda_documents:
            assert doc.tree is not None
            cda_ins = extract_identity(doc.tree).ins
            if cda_ins is None:
                out.append(error("document envoyé au patient sans INS dans son en-tête",
                                 "document sent to the patient without an INS in its header",
                                 rule="MSS.PATIENT.QUALIFIED", artefact=it.artefact, xpath=f"{doc.path} recordTarget",
                                 expected=local, found="aucun INS",
                                 requirements=c.spec.requirements_of("MSS.PATIENT.QUALIFIED")))
            elif cda_ins[0] != local:
                out.append(error("l'INS du document diffère de l'adresse patient", "the document's INS differs from "
                                 "the patient address", rule="MSS.PATIENT.DOCUMENT_INS", artefact=it.artefact,
                                 xpath=f"{doc.path} recordTarget", expected=local, found=cda_ins[0],
                                 requirements=c.spec.requirements_of("MSS.PATIENT.DOCUMENT_INS")))
    if not out:
        out.append(info("adresses patient conformes" if patients else "aucun destinataire patient",
                        "patient addresses conform" if patients else "no patient recipient",
                        rule="MSS.PATIENT.ADDRESS", found=", ".join(patients)[:120], **where))
    return out


@message_check("invisible")
def check_invisible_to_patient(it: Inspected, c: Check) -> list[Finding]:
    """M10: a document flagged invisible to the patient never goes to an @patient.mssante.fr mailbox."""
    where = c.where
    patients = it.patient_recipients()
    if it.ctx.option("invisible_to_patient") and patients:
        return [error("document « invisible au patient » envoyé à la BAL du patient",
                      "document flagged invisible to the patient sent to the patient mailbox",
                      rule="MSS.PATIENT.INVISIBLE", expected="aucun destinataire @patient.mssante.fr",
                      found=", ".join(patients)[:120], **where)]
    return [info("règle INVISIBLE_PATIENT respectée", "INVISIBLE_PATIENT rule respected",
                 rule="MSS.PATIENT.INVISIBLE", **where)]


# ---------------------------------------------------------------------------------------------
# body (CONF.19 UTF-8, MSS/CORPS.01)
# ---------------------------------------------------------------------------------------------
@message_check("charsets")
def check_charsets(it: Inspected, c: Check) -> list[Finding]:
    """CONF.19: text parts and encoded headers in UTF-8 (US-ASCII content tolerated), decodable as declared."""
    from conformance.mss.mime import decode_header_value, decode_text

    out: list[Finding] = []
    base = c.where
    for name, raw in it.msg.raw_headers:
        _, charsets, problem = decode_header_value(raw)
        where = {**base, **rules.header_where(it, name)}
        if problem:
            out.append(error(f"en-tête {name} : {problem}", f"header {name}: undecodable", rule="MSS.CHARSET.HEADER",
                             expected="UTF-8", found=repr(raw[:60]), **where))
        bad = [c for c in charsets if c not in ("utf-8", "utf8", "us-ascii")]
        if bad:
            out.append(error(f"en-tête {name} encodé en {bad[0]} au lieu d'UTF-8", f"header {name} encoded in "
                             f"{bad[0]} instead of UTF-8", rule="MSS.CHARSET.HEADER", expected="utf-8", found=bad[0],
                             **where))
    for part in it.msg.parts:
        if not part.is_text or part.payload is None:
            continue
        where = {**base, "xpath": f"partie {part.path}"}
        charset = part.charset
        if charset in ("utf-8", "utf8"):
            _, problem = decode_text(part.payload, "utf-8")
            if problem:
                out.append(error(f"partie {part.path} déclarée UTF-8 mais {problem}", f"part {part.path} declared "
                                 "UTF-8 but not valid UTF-8", rule="MSS.CHARSET.BODY", expected="UTF-8 valide",
                                 found=repr(part.payload[:40]), **where))
        elif charset in ("", "us-ascii") and part.payload.isascii():
            out.append(info(f"partie {part.path} en US-ASCII pur (sous-ensemble d'UTF-8)", f"part {part.path} in "
                            "pure US-ASCII (a subset of UTF-8)", rule="MSS.CHARSET.BODY", found=charset or "absent",
                            **where))
        else:
            _, problem = decode_text(part.payload, charset or "us-ascii")
            shown = charset or "?"
            out.append(error(f"partie {part.path} en {shown} au lieu d'UTF-8" + (f" ({problem})" if problem else ""),
                             f"part {part.path} in {shown} instead of UTF-8", rule="MSS.CHARSET.BODY",
                             expected="charset=utf-8", found=charset or "absent", **where))
    return out


@message_check("body_type")
def check_body_type(it: Inspected, c: Check) -> list[Finding]:
    """[I] The body is text/plain or multipart/alternative (sanitary vague-1 text): warnings only."""
    nodes = [line.split(" ", 1) for line in it.msg.structure]
    top = nodes[0][1] if nodes else ""
    body = top
    if top.startswith("multipart/mixed"):
        children = [ct for path, ct in nodes if path.count(".") == 1]
        body = children[0] if children else ""
    where = c.where
    if body not in ("text/plain", "multipart/alternative"):
        return [warning("corps du message ni text/plain ni multipart/alternative (exigence inférée)",
                        "message body neither text/plain nor multipart/alternative (inferred requirement)",
                        rule="MSS.BODY.TYPE", expected="text/plain | multipart/alternative", found=body or "absent",
                        **where)]
    return [info("type du corps conforme", "body type conforms", rule="MSS.BODY.TYPE", found=body, **where)]


# ---------------------------------------------------------------------------------------------
# replacement (DUI.MSS.20)
# ---------------------------------------------------------------------------------------------
def _ii(el: Any) -> str:
    root, ext = el.get("root") or "", el.get("extension") or ""
    return f"{root}^{ext}" if ext else root


@message_check("replacement")
def check_replacement(it: Inspected, c: Check) -> list[Finding]:
    """DUI.MSS.20: a re-sent modified document says "annule et remplace": relatedDocument RPLC to the
    replaced document's id, same setId, higher versionNumber."""
    out: list[Finding] = []
    rep = it.ctx.replaces or {}
    hl7 = "{urn:hl7-org:v3}"
    if not it.cda_documents:
        return c.stop([error("aucun CDA joint : remplacement invérifiable",
                             "no CDA attached: replacement cannot be checked", rule="MSS.CDA.RPLC", **c.where)])
    for doc in it.cda_documents:
        assert doc.tree is not None
        root = doc.tree.getroot()
        base = {**c.where, "xpath": f"{doc.path} /ClinicalDocument/relatedDocument"}
        related = [r for r in root.findall(f"{hl7}relatedDocument") if r.get("typeCode") == "RPLC"]
        parent_ids = [_ii(el) for r in related for el in r.findall(f"{hl7}parentDocument/{hl7}id")]
        if not related:
            out.append(error("document de remplacement sans relatedDocument typeCode=RPLC",
                             "replacement document without relatedDocument typeCode=RPLC", rule="MSS.CDA.RPLC",
                             expected="RPLC", found="absent", **base))
            continue
        if rep.get("id") and rep["id"] not in parent_ids:
            out.append(error("relatedDocument/parentDocument/id ne désigne pas le document remplacé",
                             "relatedDocument/parentDocument/id does not name the replaced document",
                             rule="MSS.CDA.RPLC", expected=rep["id"], found=", ".join(parent_ids)[:120], **base))
        set_el = root.find(f"{hl7}setId")
        if rep.get("set_id") and (set_el is None or _ii(set_el) != rep["set_id"]):
            out.append(error("le setId doit rester celui du document remplacé", "the setId must stay the replaced "
                             "document's", rule="MSS.CDA.RPLC", expected=rep["set_id"],
                             found=_ii(set_el) if set_el is not None else "absent", **base))
        version_el = root.find(f"{hl7}versionNumber")
        version = version_el.get("value") if version_el is not None else ""
        if rep.get("version") and not (version.isdigit() and int(version) > int(rep["version"] or 0)):
            out.append(error("versionNumber doit augmenter", "versionNumber must increase", rule="MSS.CDA.RPLC",
                             expected=f"> {rep['version']}", found=version or "absent", **base))
    return out


# ---------------------------------------------------------------------------------------------
# transport, from the simulator's connection record (DUI.MSS.01, CONF.01/.03/.05/.12)
# ---------------------------------------------------------------------------------------------
def check_transport(connection: Mapping[str, Any], artefact: str = "smtp") -> list[Finding]:
    """TLS was used before any mail command, TLS ≥ 1.2 (cipher list unconfirmed: warning)."""
    tls, tls_version, ciphers = (rules.requirements(n) for n in ("transport", "tls_version", "ciphers"))
    out: list[Finding] = []
    plain = list(connection.get("plaintext_commands") or [])
    if plain:
        out.append(error("le candidat a tenté d'émettre sans TLS (commande en clair avant STARTTLS)",
                         "the candidate tried to send without TLS (command in clear before STARTTLS)",
                         rule="MSS.TLS.REQUIRED", artefact=artefact, expected="STARTTLS d'abord", found=plain[0],
                         requirements=tls))
    if not connection.get("starttls"):
        # no TLS at all also fails the version and cipher requirements (their tests keep only their own findings)
        out.append(error("session SMTP sans STARTTLS", "SMTP session without STARTTLS", rule="MSS.TLS.REQUIRED",
                         artefact=artefact, expected="STARTTLS", found="absent",
                         requirements=tls + tls_version + ciphers))
        return out
    version = str(connection.get("tls_version") or "")
    if _TLS_RANK.get(version, 0) < 12:
        # TLS >= 1.2 is a verification point of DUI.MSS.01.01.01 as well as CONF.01 (traceability.yaml)
        out.append(error("version TLS inférieure à 1.2", "TLS version below 1.2", rule="MSS.TLS.VERSION",
                         artefact=artefact, expected=">= TLSv1.2", found=version or "inconnue",
                         requirements=tls_version + tls[:1]))
    cipher = str(connection.get("cipher") or "")
    if not _GOOD_CIPHER.match(cipher):
        out.append(warning("suite de chiffrement hors de la liste AEAD recommandée (liste ANS non publiée)",
                           "cipher suite outside the recommended AEAD list (ANS list not public)",
                           rule="MSS.TLS.CIPHER", artefact=artefact, expected="AES-GCM / CHACHA20 (ECDHE)",
                           found=cipher or "inconnue", requirements=ciphers))
    if not any(f.is_error for f in out):
        out.append(info(f"TLS utilisé ({version}, {cipher})", f"TLS used ({version}, {cipher})", rule="MSS.TLS.OK",
                        artefact=artefact, found=f"{version} {cipher}", requirements=tls + tls_version + ciphers))
    return out


def check_client_certificate(connection: Mapping[str, Any], artefact: str = "smtp") -> list[Finding]:
    """CONF.12: the applicative mailbox authenticates with its IGC-Santé ORG certificate."""
    reqs = rules.requirements("client_certificate")
    status = str(connection.get("client_cert_status") or "absent")
    cert = connection.get("client_cert") or {}
    if status == "valid":
        return [info("certificat client IGC-Santé présenté et valide", "valid IGC-Santé client certificate presented",
                     rule="MSS.AUTH.CLIENT_CERT", artefact=artefact, found=str(cert.get("subject", "")),
                     requirements=reqs)]
    if connection.get("authenticated") and connection.get("auth_mechanism") == "XOAUTH2":
        return [info("authentification par jeton PSC (XOAUTH2), pas de certificat : BAL non applicative",
                     "PSC token authentication (XOAUTH2), no certificate: not an applicative mailbox",
                     rule="MSS.AUTH.CLIENT_CERT", artefact=artefact, requirements=reqs)]
    return [error(f"certificat client de BAL applicative {status}", f"applicative mailbox client certificate {status}",
                  rule="MSS.AUTH.CLIENT_CERT", artefact=artefact, expected="certificat ORG AUTH_CLI IGC-Santé valide",
                  found=status, requirements=reqs)]


# ---------------------------------------------------------------------------------------------
# everything at once
# ---------------------------------------------------------------------------------------------
MESSAGE_CHECKS: dict[str, Callable[[Inspected], list[Finding]]] = {
    "mime": check_mime,
    "xdm": check_xdm,
    "subject": check_subject,
    "codecda": check_codecda,
    "x_mss_ins": check_x_mss_ins,
    "x_mss_nil": check_x_mss_nil,
    "x_mss_mes": check_x_mss_mes,
    "message_id": check_message_id,
    "reply": check_reply_headers,
    "from": check_from,
    "applicative": check_applicative,
    "read_receipt": check_read_receipt,
    "delivery_receipt": check_delivery_receipt_request,
    "patient_address": check_patient_address,
    "invisible": check_invisible_to_patient,
    "charsets": check_charsets,
    "body_type": check_body_type,
}


def check_message(raw: bytes, artefact: str = "", ctx: MessageContext | None = None) -> list[Finding]:
    """Every message-level check on one message (replacement and transport need their own context)."""
    it = inspect(raw, artefact, ctx)
    out: list[Finding] = []
    for check in MESSAGE_CHECKS.values():
        out.extend(check(it))
    return _dedupe(out)


def _dedupe(findings: list[Finding]) -> list[Finding]:
    seen: set[tuple[Any, ...]] = set()
    out = []
    for f in findings:
        key = (f.rule, f.message, f.xpath, f.found, f.requirements)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out
