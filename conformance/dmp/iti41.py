"""One captured ITI-41 request, read into facts: HTTP, MTOM parts, SOAP header, VIHF, ebRIM, documents.

Reading never raises: whatever stops it (bad MIME, unsafe XML, missing parts) becomes a finding in
``Iti41Request.problems`` and the rest of the request is read as far as possible, so one hostile
artefact gives findings and the run goes on. Artefact mode accepts a raw HTTP capture (``.http``:
request line, headers, body) or the bare SOAP envelope (``.xml``).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Any

from lxml import etree

from conformance.dmp import ns
from conformance.dmp.engine import reporter
from conformance.dmp.mtom import (
    DEFAULT_LIMITS,
    MtomLimits,
    MtomMessage,
    MtomRejected,
    parse_content_type,
    parse_mtom,
)
from conformance.dmp.soap import SoapHeader, read_envelope
from conformance.findings import Finding
from conformance.ihe.ns import q
from conformance.ihe.xds import DocumentEntry, Submission, parse_submit_objects
from conformance.safexml import XmlRejected, parse_bytes

MAX_HTTP_HEAD = 64 * 1024
MAX_INLINE_DOCUMENT = 20 * 1024 * 1024


@dataclass
class Iti41Request:
    artefact: str
    raw: bytes = b""
    method: str = ""
    path: str = ""
    http_headers: dict[str, str] = field(default_factory=dict)
    content_type: str = ""
    mtom: MtomMessage | None = None
    envelope: etree._Element | None = None
    header: SoapHeader | None = None
    body_child: etree._Element | None = None
    submission: Submission | None = None
    documents: dict[str, bytes | None] = field(default_factory=dict)
    document_elements: dict[str, etree._Element] = field(default_factory=dict)
    problems: list[Finding] = field(default_factory=list)
    _trees: dict[str, etree._ElementTree | XmlRejected] = field(default_factory=dict, repr=False)

    @property
    def assertion(self) -> etree._Element | None:
        return self.header.assertion if self.header else None

    @property
    def readable(self) -> bool:
        return self.submission is not None

    def content(self, entry: DocumentEntry) -> bytes | None:
        return self.documents.get(entry.id)

    def tree(self, doc_id: str) -> etree._ElementTree | None:
        """The parsed XML of a document (parsed once, safely); None when absent; raises XmlRejected."""
        data = self.documents.get(doc_id)
        if data is None:
            return None
        if doc_id not in self._trees:
            try:
                self._trees[doc_id] = parse_bytes(data)
            except XmlRejected as exc:
                self._trees[doc_id] = exc
        cached = self._trees[doc_id]
        if isinstance(cached, XmlRejected):
            raise cached
        return cached

    def problem(self, rule: str, fr: str, en: str, **kw: Any) -> None:
        """One obstacle met while reading, as declared by the ``reader`` check of profiles/dmp/checks.yaml."""
        self.problems.append(reporter("reader", self.artefact)(rule, fr, en, **kw))


class CaptureRejected(ValueError):
    def __init__(self, reason: str, reason_en: str) -> None:
        super().__init__(reason_en)
        self.reason = reason
        self.reason_en = reason_en


def _dechunk(body: bytes, limit: int) -> bytes:
    out = bytearray()
    pos = 0
    while True:
        eol = body.find(b"\r\n", pos)
        if eol < 0:
            raise CaptureRejected("corps HTTP chunked tronqué", "truncated chunked HTTP body")
        digits = body[pos:eol].split(b";")[0].strip() or b"0"
        if len(digits) > 16 or digits.strip(b"0123456789abcdefABCDEF"):  # "-6" would loop back for ever
            raise CaptureRejected("taille de chunk HTTP invalide", "invalid HTTP chunk size")
        size = int(digits, 16)
        if size == 0:
            return bytes(out)
        out += body[eol + 2:eol + 2 + size]
        if len(out) > limit:
            raise CaptureRejected("corps HTTP trop volumineux", "HTTP body too large")
        pos = eol + 2 + size + 2


def parse_http_capture(data: bytes, limit: int = DEFAULT_LIMITS.max_body) -> tuple[str, str, dict[str, str], bytes]:
    """``(method, path, headers, body)`` of a raw HTTP/1.1 request capture."""
    cut = data.find(b"\r\n\r\n")
    sep = 4
    lf = data.find(b"\n\n")
    if lf >= 0 and (cut < 0 or lf < cut):
        cut, sep = lf, 2
    if cut > MAX_HTTP_HEAD or (cut < 0 and len(data) > MAX_HTTP_HEAD):
        raise CaptureRejected(f"en-têtes HTTP trop longs (> {MAX_HTTP_HEAD} octets)",
                              f"HTTP headers too long (> {MAX_HTTP_HEAD} bytes)")
    if cut < 0:
        raise CaptureRejected("capture HTTP sans fin d'en-têtes (ligne vide)", "HTTP capture without end of headers")
    head, body = data[:cut], data[cut + sep:]
    first, _, rest = head.partition(b"\n")
    parts = first.strip().split()
    if len(parts) < 2 or not parts[0].isalpha():
        raise CaptureRejected("ligne de requête HTTP illisible", "unreadable HTTP request line")
    msg = BytesHeaderParser(policy=compat32).parsebytes(rest + b"\r\n\r\n")
    headers = {k.lower(): str(v) for k, v in msg.items()}
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = _dechunk(body, limit)
    elif headers.get("content-length", "").strip().isdigit():
        length = int(headers["content-length"])
        if length < len(body):
            body = body[:length]
    return parts[0].decode("ascii", "replace"), parts[1].decode("ascii", "replace"), headers, body


def load_artefact(name: str, data: bytes) -> Iti41Request:
    """An artefact-mode file: raw HTTP capture, or the SOAP envelope alone."""
    stripped = data.lstrip()
    if stripped.startswith(b"<"):
        return parse_request(data, "application/soap+xml", artefact=name, captured_as="xml")
    try:
        method, path, headers, body = parse_http_capture(data)
    except CaptureRejected as exc:
        req = Iti41Request(artefact=name, raw=data)
        req.problem("DMP.HTTP.unreadable", f"capture HTTP illisible : {exc.reason}",
                    f"unreadable HTTP capture: {exc.reason_en}")
        return req
    req = parse_request(body, headers.get("content-type", ""), artefact=name, http_headers=headers)
    req.method, req.path = method, path
    declared = headers.get("content-length", "").strip()
    if "chunked" not in headers.get("transfer-encoding", "").lower() and declared.isdigit() \
            and int(declared) > len(body):
        # RFC 9112 §6.3: the message is incomplete (the connection closed before Content-Length octets came)
        req.problems.insert(0, reporter("reader", name)(
            "DMP.HTTP.content_length",
            f"capture HTTP tronquée : Content-Length annonce {declared} octets, le corps n'en a que {len(body)}",
            f"truncated HTTP capture: Content-Length announces {declared} bytes, the body has only {len(body)}",
            xpath="HTTP Content-Length", expected=str(len(body)), found=declared))
    return req


def parse_request(body: bytes, content_type: str, *, artefact: str = "", http_headers: dict[str, str] | None = None,
                  limits: MtomLimits = DEFAULT_LIMITS, captured_as: str = "http") -> Iti41Request:
    """Read one ITI-41 request as far as it goes; every obstacle is a finding in ``problems``."""
    req = Iti41Request(artefact=artefact, raw=body, http_headers=dict(http_headers or {}), content_type=content_type)
    mime, _ = parse_content_type(content_type) if content_type else ("", {})
    xml_bytes = body
    if mime.startswith("multipart/"):
        try:
            req.mtom = parse_mtom(content_type, body, limits)
        except MtomRejected as exc:
            req.problem(exc.rule, f"message MTOM illisible : {exc.reason}", f"unreadable MTOM message: {exc.reason_en}")
            return req
        for rule, fr, en in req.mtom.problems:
            req.problem(rule, fr, en)
        xml_bytes = req.mtom.root.body
    elif len(body) > limits.max_body:
        req.problem("DMP.MTOM.limit", "corps trop volumineux", "body too large", found=f"{len(body)} octets")
        return req
    try:
        req.envelope = parse_bytes(xml_bytes).getroot()
    except XmlRejected as exc:
        req.problem("DMP.SOAP.unreadable", f"enveloppe SOAP illisible : {exc.reason}",
                    f"unreadable SOAP envelope: {exc.reason_en}", line=exc.line)
        return req
    req.header = read_envelope(req.envelope)
    for rule, fr, en in req.header.problems:
        req.problem(rule, fr, en)
    req.body_child = req.header.body_child
    child = req.body_child
    if child is None or child.tag != q(ns.XDSB, "ProvideAndRegisterDocumentSetRequest"):
        req.problem("DMP.SOAP.body", "le corps SOAP ne contient pas xdsb:ProvideAndRegisterDocumentSetRequest",
                    "the SOAP body holds no xdsb:ProvideAndRegisterDocumentSetRequest", xpath="/Envelope/Body",
                    expected="xdsb:ProvideAndRegisterDocumentSetRequest",
                    found=str(child.tag) if child is not None else "vide")
        if child is None:
            return req
    sor = child.find(q(ns.LCM, "SubmitObjectsRequest"))
    if sor is None:
        req.problem("DMP.XDS.no_submit", "lcm:SubmitObjectsRequest absent", "lcm:SubmitObjectsRequest missing",
                    xpath="/Envelope/Body/ProvideAndRegisterDocumentSetRequest")
        req.submission = Submission()
    else:
        req.submission = parse_submit_objects(sor)
        for rule, fr, en in req.submission.problems:
            req.problem(rule, fr, en)
    _documents(req, child, limits, captured_as)
    return req


def _documents(req: Iti41Request, pnr: etree._Element, limits: MtomLimits, captured_as: str) -> None:
    for doc in pnr.findall(q(ns.XDSB, "Document")):
        doc_id = doc.get("id") or ""
        if not doc_id:
            req.problem("DMP.XDS.document_id", "xdsb:Document sans attribut id", "xdsb:Document without id attribute",
                        line=doc.sourceline)
            continue
        req.document_elements[doc_id] = doc
        include = doc.find(q(ns.XOP, "Include"))
        if include is not None:
            href = include.get("href") or ""
            part = req.mtom.part(href) if req.mtom else None
            if part is None:
                severe = captured_as != "xml"  # a bare SOAP capture cannot hold the parts
                req.problem("DMP.MTOM.missing_part" if severe else "DMP.MTOM.missing_part/envelope_only",
                            f"xop:Include {href} ne désigne aucune partie MIME" if severe else
                            f"xop:Include {href} : partie MIME absente de la capture (enveloppe seule)",
                            f"xop:Include {href} names no MIME part" if severe else
                            f"xop:Include {href}: MIME part not in the capture (envelope only)",
                            xpath=f"/Envelope/Body/ProvideAndRegisterDocumentSetRequest/Document[@id='{doc_id}']",
                            line=include.sourceline, expected="cid:… résolu", found=href or "vide")
                req.documents[doc_id] = None
            else:
                req.documents[doc_id] = part.body
            continue
        text = "".join(doc.itertext())
        if len(text) > MAX_INLINE_DOCUMENT * 4 // 3 + 1024:
            req.problem("DMP.XDS.document_size", f"document {doc_id} en ligne trop volumineux",
                        f"inline document {doc_id} too large")
            req.documents[doc_id] = None
            continue
        try:
            req.documents[doc_id] = base64.b64decode("".join(text.split()), validate=True)
        except (binascii.Error, ValueError):
            req.problem("DMP.XDS.document_base64", f"document {doc_id} : base64 invalide",
                        f"document {doc_id}: invalid base64", line=doc.sourceline)
            req.documents[doc_id] = None
