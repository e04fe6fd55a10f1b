"""MTOM/XOP (multipart/related) parsing and building, bounded, for ITI-41 requests.

Why the splitting is ours and the header parsing is the standard library's: ``email``'s feed parser is
line-based, builds every part before we could count them, and has no size bounds; a hostile request
with a million tiny parts or one endless part would cost memory before any check ran. So the body is
split on its boundary with ``bytes.find`` (byte-exact, which the SHA-1 of each document needs), stopping
at the first limit, and each part's headers go through ``email.parser.BytesHeaderParser``. Content-Type
parameters are read with ``email.message.Message``, which handles quoting as RFC 2045 says.

A problem that makes the message unusable raises ``MtomRejected`` (bilingual, with a rule id); problems
that leave it usable are listed in ``MtomMessage.problems`` for the checks to turn into findings.
"""

from __future__ import annotations

import base64
import binascii
import quopri
import uuid
from dataclasses import dataclass, field
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from urllib.parse import unquote

from lxml import etree

from conformance.dmp import ns


@dataclass(frozen=True)
class MtomLimits:
    max_body: int = 20 * 1024 * 1024
    max_parts: int = 64
    max_part_bytes: int = 20 * 1024 * 1024
    max_header_bytes: int = 16 * 1024


DEFAULT_LIMITS = MtomLimits()


class MtomRejected(ValueError):
    """The message cannot be read at all (no boundary, truncated, over a limit...)."""

    def __init__(self, reason: str, reason_en: str, rule: str = "DMP.MTOM.unreadable") -> None:
        super().__init__(reason_en)
        self.reason = reason
        self.reason_en = reason_en
        self.rule = rule


@dataclass(frozen=True)
class MimePart:
    content_id: str  # without angle brackets
    content_type: str  # full header value
    mime_type: str  # lower-case type/subtype
    params: dict[str, str]
    transfer_encoding: str
    body: bytes  # decoded content


@dataclass
class MtomMessage:
    content_type: str
    mime_type: str
    params: dict[str, str]
    root: MimePart
    parts: dict[str, MimePart]  # by Content-ID, root included
    problems: list[tuple[str, str, str]] = field(default_factory=list)  # (rule, fr, en)

    def part(self, href: str) -> MimePart | None:
        """The part an ``xop:Include/@href`` (``cid:...``, RFC 2392 URL-encoded) designates."""
        if not href.lower().startswith("cid:"):
            return None
        cid = href[4:]
        return self.parts.get(cid) or self.parts.get(unquote(cid))


def parse_content_type(value: str) -> tuple[str, dict[str, str]]:
    """``(type/subtype, params)`` from a Content-Type value; params names lower-case."""
    msg = Message()
    msg["Content-Type"] = value or "text/plain"
    params = {k.lower(): str(v) for k, v in (msg.get_params() or [])[1:]}
    return msg.get_content_type(), params


def _strip_cid(value: str) -> str:
    value = value.strip()
    if value.startswith("<") and value.endswith(">"):
        value = value[1:-1]
    return value.strip()


def _split(body: bytes, boundary: str, limits: MtomLimits) -> list[bytes]:
    delim = b"--" + boundary.encode("ascii", "replace")
    if body.startswith(delim):
        pos = 0
    else:
        found = body.find(b"\n" + delim)
        if found < 0:
            raise MtomRejected("délimiteur MIME (boundary) introuvable dans le corps",
                               "MIME boundary not found in the body", "DMP.MTOM.boundary")
        pos = found + 1
    parts: list[bytes] = []
    while True:
        after = pos + len(delim)
        if body[after:after + 2] == b"--":
            return parts
        line_end = body.find(b"\n", after)
        if line_end < 0:
            raise MtomRejected("message MIME tronqué (délimiteur sans fin de ligne)",
                               "truncated MIME message (boundary line not terminated)", "DMP.MTOM.truncated")
        start = line_end + 1
        nxt = body.find(b"\n" + delim, start)
        if nxt < 0:
            raise MtomRejected("message MIME tronqué : partie sans délimiteur de fin",
                               "truncated MIME message: part without closing boundary", "DMP.MTOM.truncated")
        end = nxt - 1 if nxt > start and body[nxt - 1:nxt] == b"\r" else nxt
        if end - start > limits.max_part_bytes:
            raise MtomRejected(f"partie MIME trop volumineuse (> {limits.max_part_bytes} octets)",
                               f"MIME part too large (> {limits.max_part_bytes} bytes)", "DMP.MTOM.limit")
        parts.append(body[start:end])
        if len(parts) > limits.max_parts:
            raise MtomRejected(f"trop de parties MIME (> {limits.max_parts})",
                               f"too many MIME parts (> {limits.max_parts})", "DMP.MTOM.limit")
        pos = nxt + 1


def _part(raw: bytes, limits: MtomLimits, problems: list[tuple[str, str, str]]) -> MimePart:
    if raw.startswith((b"\r\n", b"\n")):
        head, body = b"", raw[2:] if raw.startswith(b"\r\n") else raw[1:]
    else:
        cut = raw.find(b"\r\n\r\n")
        sep = 4
        lf = raw.find(b"\n\n")
        if lf >= 0 and (cut < 0 or lf < cut):
            cut, sep = lf, 2
        if cut < 0:
            raise MtomRejected("partie MIME sans ligne vide entre en-têtes et contenu",
                               "MIME part without a blank line between headers and content", "DMP.MTOM.part")
        head, body = raw[:cut], raw[cut + sep:]
    if len(head) > limits.max_header_bytes:
        raise MtomRejected("en-têtes de partie MIME trop longs", "MIME part headers too long", "DMP.MTOM.limit")
    headers = BytesHeaderParser(policy=compat32).parsebytes(head + b"\r\n\r\n")
    ctype = str(headers.get("Content-Type") or "")
    mime_type, params = parse_content_type(ctype) if ctype else ("", {})
    cte = str(headers.get("Content-Transfer-Encoding") or "binary").strip().lower()
    cid = _strip_cid(str(headers.get("Content-ID") or ""))
    if cte == "base64":
        try:
            body = base64.b64decode(b"".join(body.split()), validate=True)
        except (binascii.Error, ValueError):
            problems.append(("DMP.MTOM.base64", f"partie {cid or '?'} : base64 invalide",
                             f"part {cid or '?'}: invalid base64"))
    elif cte == "quoted-printable":
        body = quopri.decodestring(body)
    elif cte not in ("binary", "8bit", "7bit"):
        problems.append(("DMP.MTOM.cte", f"partie {cid or '?'} : Content-Transfer-Encoding inconnu « {cte} »",
                         f"part {cid or '?'}: unknown Content-Transfer-Encoding '{cte}'"))
    return MimePart(cid, ctype, mime_type, params, cte, body)


def parse_mtom(content_type: str, body: bytes, limits: MtomLimits = DEFAULT_LIMITS) -> MtomMessage:
    """Split a multipart/related body into parts; raise ``MtomRejected`` when it cannot be read."""
    if len(body) > limits.max_body:
        raise MtomRejected(f"corps trop volumineux ({len(body)} octets > {limits.max_body})",
                           f"body too large ({len(body)} bytes > {limits.max_body})", "DMP.MTOM.limit")
    mime_type, params = parse_content_type(content_type)
    if not mime_type.startswith("multipart/"):
        raise MtomRejected(f"Content-Type « {mime_type} » : un message multipart/related (MTOM) est attendu",
                           f"Content-Type '{mime_type}': a multipart/related (MTOM) message is expected",
                           "DMP.MTOM.content_type")
    boundary = params.get("boundary", "")
    if not boundary or len(boundary) > 200:
        raise MtomRejected("paramètre boundary absent ou invalide", "missing or invalid boundary parameter",
                           "DMP.MTOM.boundary")
    problems: list[tuple[str, str, str]] = []
    parts = [_part(raw, limits, problems) for raw in _split(body, boundary, limits)]
    if not parts:
        raise MtomRejected("message multipart sans aucune partie", "multipart message without any part",
                           "DMP.MTOM.part")
    by_cid: dict[str, MimePart] = {}
    for p in parts:
        if not p.content_id:
            problems.append(("DMP.MTOM.cid", "partie MIME sans Content-ID", "MIME part without Content-ID"))
            continue
        if p.content_id in by_cid:
            problems.append(("DMP.MTOM.cid", f"Content-ID dupliqué : {p.content_id}",
                             f"duplicate Content-ID: {p.content_id}"))
        by_cid.setdefault(p.content_id, p)
    start = _strip_cid(params.get("start", ""))
    root = by_cid.get(start) if start else parts[0]
    if root is None:
        problems.append(("DMP.MTOM.start", f"le paramètre start <{start}> ne désigne aucune partie",
                         f"the start parameter <{start}> names no part"))
        root = parts[0]
    return MtomMessage(content_type, mime_type, params, root, by_cid, problems)


def xop_includes(tree: etree._Element) -> list[etree._Element]:
    return list(tree.iter(f"{{{ns.XOP}}}Include"))


# ---------------------------------------------------------------------------------------------
# building (reference client, simulator answers, tests)
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Attachment:
    content_id: str
    data: bytes
    mime_type: str = "application/octet-stream"


def build_mtom(soap_xml: bytes, attachments: list[Attachment], *, action: str = "",
               boundary: str | None = None) -> tuple[str, bytes]:
    """``(Content-Type, body)`` of a SOAP 1.2 MTOM message (protocols.md §1.1)."""
    boundary = boundary or f"MIMEBoundary_{uuid.uuid4().hex}"
    root_cid = f"root.message@{uuid.uuid4().hex[:12]}.segur-conformance"
    action_param = f';action=\\"{action}\\"' if action else ""
    chunks = [
        f"--{boundary}\r\n".encode(),
        f'Content-Type: application/xop+xml; charset=UTF-8; type="application/soap+xml{action_param}"\r\n'.encode(),
        b"Content-Transfer-Encoding: binary\r\n",
        f"Content-ID: <{root_cid}>\r\n\r\n".encode(),
        soap_xml,
        b"\r\n",
    ]
    for att in attachments:
        chunks += [
            f"--{boundary}\r\n".encode(),
            f"Content-Type: {att.mime_type}\r\n".encode(),
            b"Content-Transfer-Encoding: binary\r\n",
            f"Content-ID: <{att.content_id}>\r\n\r\n".encode(),
            att.data,
            b"\r\n",
        ]
    chunks.append(f"--{boundary}--\r\n".encode())
    content_type = (f'multipart/related; boundary="{boundary}"; type="application/xop+xml"; '
                    f'start="<{root_cid}>"; start-info="application/soap+xml"')
    if action:
        content_type += f'; action="{action}"'
    return content_type, b"".join(chunks)
