"""Safe reading of an MSSanté message (RFC 5322 / MIME) into a small, checkable shape.

Why not just ``email.message_from_bytes``: the bytes come from the candidate (or from anyone, in artefact
mode), so they can be huge, deeply nested, badly encoded or plain garbage. Everything is bounded before
the parser sees it; every problem becomes a Finding on the ``ParsedMessage``; nothing here raises.
The stdlib ``compat32`` policy is used because it never raises on malformed headers; headers and
payloads are then decoded by us, strictly, so charset problems are visible instead of smoothed over.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import email
import email.errors
import email.header
import email.utils
import quopri
import re
from dataclasses import dataclass, field
from email.message import Message
from email.policy import compat32

from conformance.findings import Finding, error, warning

MAX_MESSAGE_BYTES = 30 * 1024 * 1024
MAX_HEADER_SECTION = 256 * 1024
MAX_HEADERS = 500
MAX_HEADER_LINE = 998  # RFC 5322 §2.1.1
MAX_PARTS = 200
MAX_DEPTH = 12
OPERATOR_SIZE_HINT = 10 * 1024 * 1024  # [?] a third-party client default; no primary source (protocols.md §2.4)

XDM_FILENAME = "IHE_XDM.ZIP"
REQ_XDM = ("MSS/XDM.01",)


@dataclass
class Part:
    """One leaf MIME part with its payload decoded (or the reason it could not be)."""

    path: str
    content_type: str
    params: dict[str, str]
    filename: str
    disposition: str
    transfer_encoding: str
    payload: bytes | None = None
    problem: str = ""

    @property
    def charset(self) -> str:
        return self.params.get("charset", "").strip().lower()

    @property
    def is_text(self) -> bool:
        return self.content_type.startswith("text/")

    @property
    def is_xdm(self) -> bool:
        return self.filename.upper() == XDM_FILENAME


@dataclass
class ParsedMessage:
    """What the checks read: headers (decoded), leaf parts, structure, and the problems met on the way."""

    artefact: str
    raw: bytes
    message: Message | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    raw_headers: list[tuple[str, bytes]] = field(default_factory=list)
    parts: list[Part] = field(default_factory=list)
    structure: list[str] = field(default_factory=list)  # "path content-type" for every node
    findings: list[Finding] = field(default_factory=list)
    header_lines: dict[str, int] = field(default_factory=dict)  # lower-case name → line of its first field

    def line_of(self, name: str) -> int | None:
        return self.header_lines.get(name.lower())

    @property
    def ok(self) -> bool:
        return self.message is not None

    def header(self, name: str) -> str | None:
        values = self.header_all(name)
        return values[0] if values else None

    def header_all(self, name: str) -> list[str]:
        key = name.lower()
        return [v for k, v in self.headers if k.lower() == key]

    def addresses(self, name: str) -> list[tuple[str, str]]:
        """(display name, address) pairs of an address header; malformed entries are kept as found."""
        values = self.header_all(name)
        if not values:
            return []
        return [(d, a) for d, a in email.utils.getaddresses(values) if d or a]

    def recipients(self) -> list[str]:
        return [a for _, a in self.addresses("To") + self.addresses("Cc") if a]

    @property
    def xdm_parts(self) -> list[Part]:
        return [p for p in self.parts if p.is_xdm]

    @property
    def body_parts(self) -> list[Part]:
        return [p for p in self.parts if p.is_text and p.disposition != "attachment"]

    def body_text(self) -> str:
        """The human-readable text (text/plain parts, else text/html stripped of tags), best effort."""
        chunks: list[str] = []
        for part in self.body_parts:
            if part.payload is None:
                continue
            text = decode_text(part.payload, part.charset or "us-ascii")[0]
            if part.content_type == "text/html":
                text = re.sub(r"<[^>]{0,2000}>", " ", text)
            chunks.append(text)
        return "\n".join(chunks)


def _finding(kind: str, fr: str, en: str, artefact: str, **kw: object) -> Finding:
    maker = warning if kind == "warning" else error
    kw.setdefault("requirements", REQ_XDM)
    return maker(fr, en, artefact=artefact, **kw)


_PYTHON_ONLY_CODECS = frozenset({"unicode-escape", "raw-unicode-escape", "unicode_escape", "raw_unicode_escape"})


def decode_text(data: bytes, charset: str) -> tuple[str, str]:
    """Decode strictly; return (text, problem). Unknown charsets and bad bytes are problems, not crashes."""
    try:
        codec = codecs.lookup(charset or "us-ascii")
    except (LookupError, ValueError):  # ValueError: a NUL in the name
        return data.decode("utf-8", "replace"), f"jeu de caractères inconnu : {charset!r}"
    if not getattr(codec, "_is_text_encoding", True) or codec.name in _PYTHON_ONLY_CODECS:
        # zlib, base64_codec, rot13, unicode_escape: Python codecs, not MIME charsets
        return data.decode("utf-8", "replace"), f"jeu de caractères inconnu : {charset!r}"
    try:
        return data.decode(codec.name, "strict"), ""
    except (UnicodeDecodeError, ValueError) as exc:
        problem = f"octets invalides pour {charset} ({exc.__class__.__name__})"
        try:
            return data.decode(codec.name, "replace"), problem
        except ValueError:  # idna, punycode, undefined: no "replace" mode
            return data.decode("utf-8", "replace"), problem


def decode_header_value(raw: bytes) -> tuple[str, list[str], str]:
    """A header value as text; also the RFC 2047 charsets it used and a problem text if any."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("utf-8", "replace"), [], "octets non UTF-8 dans l'en-tête"
    text = re.sub(r"\r?\n[ \t]", " ", text).strip()
    if "=?" not in text:
        return text, [], ""
    try:
        chunks = email.header.decode_header(text)
    except (email.errors.HeaderParseError, ValueError, binascii.Error) as exc:
        return text, [], f"mot encodé RFC 2047 invalide ({exc.__class__.__name__})"
    out: list[str] = []
    charsets: list[str] = []
    problem = ""
    for value, cs in chunks:
        if isinstance(value, str):
            out.append(value)
            continue
        if cs:
            charsets.append(cs.lower())
        decoded, prob = decode_text(value, cs or "us-ascii")
        problem = problem or prob
        out.append(decoded)
    return "".join(out), charsets, problem


def _split_header_section(raw: bytes) -> tuple[bytes, bytes]:
    for sep in (b"\r\n\r\n", b"\n\n"):
        idx = raw.find(sep)
        if idx >= 0:
            return raw[:idx], raw[idx + len(sep):]
    return raw, b""


def _raw_header_fields(section: bytes) -> list[tuple[str, bytes]]:
    fields: list[tuple[str, bytes]] = []
    for line in re.split(rb"\r?\n", section):
        if line[:1] in (b" ", b"\t") and fields:
            previous, value = fields[-1]
            fields[-1] = (previous, value + b"\r\n" + line)
        elif b":" in line:
            raw_name, _, raw_value = line.partition(b":")
            fields.append((raw_name.decode("ascii", "replace").strip(), raw_value.strip()))
        if len(fields) > MAX_HEADERS:
            break
    return fields


def parse_message(raw: bytes, artefact: str = "") -> ParsedMessage:
    """Parse untrusted message bytes; never raises. Problems are in ``.findings``."""
    msg = ParsedMessage(artefact=artefact, raw=raw)
    if not raw:
        msg.findings.append(_finding("error", "message vide", "empty message", artefact,
                                     rule="MSS.MIME.PARSE", expected="message RFC 5322", found="0 octet"))
        return msg
    if len(raw) > MAX_MESSAGE_BYTES:
        msg.findings.append(_finding(
            "error", f"message trop volumineux pour être analysé ({len(raw)} octets)",
            f"message too large to analyse ({len(raw)} bytes)", artefact, rule="MSS.MIME.PARSE",
            expected=f"<= {MAX_MESSAGE_BYTES}", found=str(len(raw))))
        return msg
    section, _ = _split_header_section(raw)
    if len(section) > MAX_HEADER_SECTION:
        msg.findings.append(_finding(
            "error", f"en-têtes démesurés ({len(section)} octets) : message non analysé",
            f"oversized header section ({len(section)} bytes): message not analysed", artefact,
            rule="MSS.MIME.HEADERS", expected=f"<= {MAX_HEADER_SECTION} octets", found=str(len(section))))
        return msg
    fields = _raw_header_fields(section)
    if len(fields) > MAX_HEADERS:
        msg.findings.append(_finding(
            "error", f"trop de champs d'en-tête (> {MAX_HEADERS}) : message non analysé",
            f"too many header fields (> {MAX_HEADERS}): message not analysed", artefact,
            rule="MSS.MIME.HEADERS", expected=f"<= {MAX_HEADERS}", found=f"> {MAX_HEADERS}"))
        return msg
    if not fields or not any(name.lower() in ("from", "content-type", "subject", "to") for name, _ in fields):
        msg.findings.append(_finding(
            "error", "pas d'en-tête RFC 5322 reconnaissable : ce n'est pas un message",
            "no recognisable RFC 5322 header: not a message", artefact, rule="MSS.MIME.PARSE",
            expected="From, To, Subject…", found=repr(raw[:60])))
        return msg
    for number, line in enumerate(re.split(rb"\r?\n", section), 1):
        if line[:1] not in (b" ", b"\t") and b":" in line:
            msg.header_lines.setdefault(line.partition(b":")[0].decode("ascii", "replace").strip().lower(), number)
        if len(line) > MAX_HEADER_LINE and not any(f.rule == "MSS.MIME.HEADERS" for f in msg.findings):
            msg.findings.append(_finding(
                "error", f"ligne d'en-tête de {len(line)} caractères (RFC 5322 : 998 au plus)",
                f"header line of {len(line)} characters (RFC 5322: at most 998)", artefact,
                rule="MSS.MIME.HEADERS", expected="<= 998", found=str(len(line)), line=number))
    msg.raw_headers = fields
    for name, value in fields:
        text, _, _ = decode_header_value(value)
        msg.headers.append((name, text))
    if raw.lower().count(b"multipart/") > MAX_PARTS:
        msg.findings.append(_finding(
            "error", "structure MIME démesurée (trop de parties multipart) : corps non analysé",
            "oversized MIME structure (too many multipart parts): body not analysed", artefact,
            rule="MSS.MIME.PARSE", expected=f"<= {MAX_PARTS} parties", found=f"> {MAX_PARTS}"))
        return msg
    try:
        parsed = email.message_from_bytes(raw, policy=compat32)
    except (RecursionError, ValueError, TypeError, LookupError, IndexError) as exc:
        msg.findings.append(_finding(
            "error", f"MIME illisible ({exc.__class__.__name__})", f"unreadable MIME ({exc.__class__.__name__})",
            artefact, rule="MSS.MIME.PARSE", found=str(exc)[:200]))
        return msg
    msg.message = parsed
    _walk(parsed, msg)
    return msg


def _walk(root: Message, msg: ParsedMessage) -> None:
    stack: list[tuple[Message, str, int]] = [(root, "1", 0)]
    count = 0
    while stack:
        node, path, depth = stack.pop()
        count += 1
        if count > MAX_PARTS or depth > MAX_DEPTH:
            msg.findings.append(_finding(
                "error", "structure MIME trop profonde ou trop large : analyse arrêtée",
                "MIME structure too deep or too wide: analysis stopped", msg.artefact, rule="MSS.MIME.PARSE",
                expected=f"<= {MAX_PARTS} parties, <= {MAX_DEPTH} niveaux", found=f"partie {path}"))
            return
        ctype = _safe(lambda n=node: n.get_content_type(), "application/octet-stream")
        msg.structure.append(f"{path} {ctype}")
        for defect in getattr(node, "defects", [])[:5]:
            msg.findings.append(_finding(
                "error", f"défaut MIME en partie {path} : {defect.__class__.__name__}",
                f"MIME defect in part {path}: {defect.__class__.__name__}", msg.artefact,
                rule="MSS.MIME.PARSE", xpath=f"part {path}", found=str(defect)[:200]))
        if node.is_multipart():
            children = node.get_payload()
            if not isinstance(children, list):
                continue
            for idx in range(len(children) - 1, -1, -1):
                child = children[idx]
                if isinstance(child, Message):
                    stack.append((child, f"{path}.{idx + 1}", depth + 1))
            continue
        msg.parts.append(_leaf(node, path, ctype, msg))


def _safe(fn: object, default: str) -> str:
    try:
        return str(fn())  # type: ignore[operator]
    except Exception:  # noqa: BLE001 - header objects of hostile input can fail in many ways
        return default


def _leaf(node: Message, path: str, ctype: str, msg: ParsedMessage) -> Part:
    params: dict[str, str] = {}
    for key, value in (node.get_params() or [])[1:]:
        if isinstance(value, tuple):  # RFC 2231
            value = email.utils.collapse_rfc2231_value(value)
        params[str(key).lower()] = str(value)
    filename = _safe(lambda: node.get_filename() or params.get("name") or "", "")
    filename, _, _ = decode_header_value(filename.encode("utf-8", "surrogateescape"))
    disposition = _safe(lambda: (node.get_content_disposition() or ""), "").lower()
    cte = _safe(lambda: str(node.get("Content-Transfer-Encoding", "7bit")), "7bit").strip().lower()
    part = Part(path=path, content_type=ctype, params=params, filename=filename.strip(),
                disposition=disposition, transfer_encoding=cte)
    # the raw payload: get_payload(decode=False) re-decodes 8-bit bytes with "replace" and would hide
    # exactly the charset errors we look for
    body = getattr(node, "_payload", None)
    if not isinstance(body, str):
        part.problem = "corps illisible"
        return part
    try:  # message_from_bytes keeps non-ASCII bytes as surrogates: this recovers them exactly
        data = body.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        data = body.encode("utf-8", "surrogateescape")
    if cte == "base64":
        cleaned = re.sub(rb"\s+", b"", data)
        try:
            part.payload = base64.b64decode(cleaned, validate=True)
        except (binascii.Error, ValueError):
            part.problem = "base64 invalide"
            msg.findings.append(_finding(
                "error", f"partie {path} : contenu base64 invalide", f"part {path}: invalid base64 content",
                msg.artefact, rule="MSS.MIME.BASE64", xpath=f"part {path}", expected="base64 (RFC 2045)",
                found=repr(cleaned[:40])))
    elif cte == "quoted-printable":
        part.payload = quopri.decodestring(data)
    elif cte in ("7bit", "8bit", "binary", ""):
        part.payload = data
    else:
        part.problem = f"Content-Transfer-Encoding inconnu : {cte}"
        msg.findings.append(_finding(
            "error", f"partie {path} : Content-Transfer-Encoding inconnu", f"part {path}: unknown transfer encoding",
            msg.artefact, rule="MSS.MIME.PARSE", xpath=f"part {path}", expected="7bit|8bit|base64|quoted-printable",
            found=cte[:40]))
    return part


def message_summary(msg: ParsedMessage) -> dict[str, object]:
    """A JSON-able digest for evidence and logs (never the payloads)."""
    return {
        "artefact": msg.artefact,
        "size": len(msg.raw),
        "message_id": msg.header("Message-ID"),
        "from": msg.header("From"),
        "to": msg.header_all("To"),
        "subject": msg.header("Subject"),
        "structure": msg.structure[:50],
        "attachments": [p.filename for p in msg.parts if p.filename][:20],
    }
