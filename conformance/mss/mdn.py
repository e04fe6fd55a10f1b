"""Message Disposition Notifications (RFC 8098) as the ANS MSSanté integration spec shapes them.

Why one module for both directions: the simulator builds MDNs (success, or ``processed/Error:
90x^label``), the reference DUI reads them back to link them to the original Message-ID, and the
checks read MDNs a candidate produced. Shape (protocols.md §2.3, ansforge IG struct-msg-mdn.md [P]):
``multipart/report; report-type=disposition-notification`` with a human-readable part, a
``message/disposition-notification`` part (Final-Recipient, Original-Recipient, Original-Message-ID,
Disposition) and the original message. On error the subject becomes
``[KO Intégration système !][<code>] <original subject>``. The success subject is not given by a
primary text: we use ``Accusé de traitement : <subject>`` (unconfirmed, never checked).
"""

from __future__ import annotations

import base64
import email
import email.utils
import re
import uuid
from dataclasses import dataclass
from email.header import Header
from email.message import Message
from email.mime.text import MIMEText
from email.parser import HeaderParser
from email.policy import compat32

from conformance.mss.mime import decode_header_value

#: HL7 consumer integration error codes (ansforge IG error-codes.md [P])
INTEGRATION_ERRORS = {
    "900": "Version incorrecte lors d'un remplacement ou d'une suppression",
    "901": "Auteur non autorisé",
    "902": "Patient inconnu",
    "903": "Pas d'INS dans le document",
    "904": "INS ou traits d'identité discordants",
    "905": "INS incomplet",
    "906": "Autre erreur",
}
KO_SUBJECT = re.compile(r"^\s*\[KO Int[ée]gration syst[èe]me !\]\s*\[(?P<code>\d{3})\]\s*(?P<rest>.*)$", re.S)
_ERROR_DISPOSITION = re.compile(r"processed\s*/\s*error\s*:\s*(?P<code>[^^;\s]*)\s*\^?\s*(?P<label>[^;]*)", re.I)
MAX_MDN_BYTES = 30 * 1024 * 1024


@dataclass(frozen=True)
class MdnInfo:
    """What a notification says, whether it came as an MDN or as a plain "KO" error e-mail."""

    kind: str  # "mdn" | "error-mail"
    original_message_id: str
    disposition: str
    error_code: str
    error_label: str
    final_recipient: str
    original_recipient: str
    subject: str
    message_id: str

    @property
    def is_error(self) -> bool:
        return bool(self.error_code)

    def to_json(self) -> dict[str, str]:
        return {
            "kind": self.kind, "original_message_id": self.original_message_id, "disposition": self.disposition,
            "error_code": self.error_code, "error_label": self.error_label,
            "final_recipient": self.final_recipient, "original_recipient": self.original_recipient,
            "subject": self.subject, "message_id": self.message_id,
        }


def _header(msg: Message, name: str) -> str:
    # raw_items(): compat32's get() turns 8-bit values into an "unknown-8bit" Header that loses them
    for key, value in msg.raw_items():
        if key.lower() == name.lower():
            try:
                raw = str(value).encode("ascii", "surrogateescape")
            except UnicodeEncodeError:
                raw = str(value).encode("utf-8")
            return decode_header_value(raw)[0]
    return ""


def build_mdn(original: bytes, *, reporter: str, to: str, error_code: str = "", error_label: str = "",
              domain: str = "operateur-mss.test") -> bytes:
    """An MDN answering ``original`` (raw bytes), from ``reporter`` (the final recipient) to ``to``."""
    orig = email.message_from_bytes(original, policy=compat32)
    subject = _header(orig, "Subject")
    orig_id = _header(orig, "Message-ID")
    if error_code:
        label = error_label or INTEGRATION_ERRORS.get(error_code, "Erreur d'intégration")
        disposition = f"automatic-action/MDN-sent-automatically; processed/Error: {error_code}^{label}"
        human = (f"Le message {orig_id} n'a pas pu être intégré par le destinataire {reporter}.\r\n"
                 f"Erreur {error_code} : {label}\r\n")
        new_subject = f"[KO Intégration système !][{error_code}] {subject}"
    else:
        disposition = "automatic-action/MDN-sent-automatically; processed"
        human = f"Le message {orig_id} a été traité par le destinataire {reporter}.\r\n"
        new_subject = f"Accusé de traitement : {subject}"
    fields = [f"Reporting-UA: {domain}; segur-conformance MSSante simulator",
              f"Original-Recipient: rfc822;{reporter}", f"Final-Recipient: rfc822;{reporter}"]
    if orig_id:
        fields.append(f"Original-Message-ID: {orig_id}")
    fields.append(f"Disposition: {disposition}")
    # assembled by hand: the stdlib generator cannot emit an 8-bit message/disposition-notification
    # part, and the original must be returned byte for byte
    boundary = f"=_mdn_{uuid.uuid4().hex}"
    head = _head(reporter, to, new_subject, domain, orig_id)
    head.append(f'Content-Type: multipart/report; report-type=disposition-notification; boundary="{boundary}"')
    crlf = "\r\n"
    text = (crlf.join(head) + crlf + crlf + f"--{boundary}" + crlf
            + 'Content-Type: text/plain; charset="utf-8"' + crlf + "Content-Transfer-Encoding: base64" + crlf + crlf
            + base64.encodebytes(human.encode("utf-8")).decode("ascii").replace("\n", crlf)
            + f"--{boundary}" + crlf + "Content-Type: message/disposition-notification" + crlf
            + "Content-Transfer-Encoding: 8bit" + crlf + crlf + crlf.join(fields) + crlf + crlf
            + f"--{boundary}" + crlf + "Content-Type: message/rfc822" + crlf + crlf)
    body = original if original.endswith(b"\n") else original + b"\r\n"
    return text.encode("utf-8") + body + f"--{boundary}--{crlf}".encode("ascii")


def _head(sender: str, to: str, subject: str, domain: str, orig_id: str) -> list[str]:
    head = [f"From: {sender}", f"To: {to}", f"Subject: {Header(subject, 'utf-8').encode()}",
            f"Date: {email.utils.formatdate(localtime=False)}", f"Message-ID: <{uuid.uuid4()}@{domain}>",
            "MIME-Version: 1.0"]
    if orig_id:
        head += [f"In-Reply-To: {orig_id}", f"References: {orig_id}"]
    return head


def build_error_mail(original: bytes, *, reporter: str, to: str, error_code: str, error_label: str = "",
                     domain: str = "operateur-mss.test") -> bytes:
    """A plain e-mail reporting an integration error, used when no MDN was requested (protocols.md §2.3)."""
    orig = email.message_from_bytes(original, policy=compat32)
    subject = _header(orig, "Subject")
    orig_id = _header(orig, "Message-ID")
    label = error_label or INTEGRATION_ERRORS.get(error_code, "Erreur d'intégration")
    msg = MIMEText(f"Le message {orig_id} n'a pas pu être intégré : erreur {error_code} ({label}).\r\n",
                   "plain", "utf-8")
    msg["From"] = reporter
    msg["To"] = to
    msg["Subject"] = f"[KO Intégration système !][{error_code}] {subject}"
    msg["Date"] = email.utils.formatdate(localtime=False)
    msg["Message-ID"] = f"<{uuid.uuid4()}@{domain}>"
    if orig_id:
        msg["In-Reply-To"] = orig_id
        msg["References"] = orig_id
    return msg.as_bytes()


def parse_notification(raw: bytes) -> MdnInfo | None:
    """Read an MDN or a "KO" error e-mail; None when ``raw`` is neither (or unreadable)."""
    if not raw or len(raw) > MAX_MDN_BYTES:
        return None
    try:
        msg = email.message_from_bytes(raw, policy=compat32)
    except (RecursionError, ValueError, TypeError, LookupError, IndexError):
        return None
    subject = _header(msg, "Subject")
    fields = _disposition_fields(msg)
    if fields is not None:
        disposition = _header(fields, "Disposition")
        match = _ERROR_DISPOSITION.search(disposition)
        code = match.group("code") if match else ""
        label = match.group("label").strip() if match else ""
        return MdnInfo(
            kind="mdn", original_message_id=_header(fields, "Original-Message-ID"), disposition=disposition,
            error_code=code, error_label=label,
            final_recipient=_strip_type(_header(fields, "Final-Recipient")),
            original_recipient=_strip_type(_header(fields, "Original-Recipient")),
            subject=subject, message_id=_header(msg, "Message-ID"))
    ko = KO_SUBJECT.match(subject)
    if ko:
        return MdnInfo(kind="error-mail", original_message_id=_header(msg, "In-Reply-To"), disposition="",
                       error_code=ko.group("code"), error_label="", final_recipient=_header(msg, "From"),
                       original_recipient="", subject=subject, message_id=_header(msg, "Message-ID"))
    return None


def _disposition_fields(msg: Message) -> Message | None:
    if msg.get_content_type() != "multipart/report":
        return None
    parts = msg.get_payload()
    if not isinstance(parts, list):
        return None
    for part in parts[:10]:
        if not isinstance(part, Message) or part.get_content_type() != "message/disposition-notification":
            continue
        payload = part.get_payload()
        if isinstance(payload, list) and payload and isinstance(payload[0], Message):
            return payload[0]
        if isinstance(payload, str):
            return HeaderParser(policy=compat32).parsestr(payload)
    return None


def _strip_type(value: str) -> str:
    return value.split(";", 1)[1].strip() if ";" in value else value.strip()
