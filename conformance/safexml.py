"""One hardened XML parser for every domain.

Documents, SOAP envelopes and XDM metadata all come from the candidate, so they are untrusted:
no entity expansion, no DTD loading, no network, bounded size and depth. A bad file gives one
``XmlRejected`` with a clear reason (and the line when lxml knows it), never a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

MAX_BYTES = 50 * 1024 * 1024
MAX_DEPTH = 256


class XmlRejected(ValueError):
    def __init__(self, reason: str, reason_en: str, line: int | None = None) -> None:
        super().__init__(reason_en)
        self.reason = reason
        self.reason_en = reason_en
        self.line = line


def _parser(huge: bool = False) -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        load_dtd=False,
        no_network=True,
        dtd_validation=False,
        huge_tree=huge,
        remove_blank_text=False,
    )


@dataclass(frozen=True)
class Limits:
    max_bytes: int = MAX_BYTES
    max_depth: int = MAX_DEPTH


def parse_bytes(data: bytes, limits: Limits = Limits()) -> etree._ElementTree:
    """Parse untrusted XML bytes safely; raise ``XmlRejected`` with a bilingual reason."""
    if len(data) > limits.max_bytes:
        raise XmlRejected(
            f"document trop volumineux ({len(data)} octets > {limits.max_bytes})",
            f"document too large ({len(data)} bytes > {limits.max_bytes})",
        )
    head = data[:4096].upper()
    if b"<!DOCTYPE" in head or b"<!ENTITY" in data[:65536].upper():
        raise XmlRejected(
            "DOCTYPE ou déclaration d'entité refusée (XML non sûr)",
            "DOCTYPE or entity declaration refused (unsafe XML)",
        )
    huge = False
    try:
        try:
            root = etree.fromstring(data, _parser())
        except etree.XMLSyntaxError as exc:
            # an N1 document embeds its PDF as one base64 text node: over libxml2's 10 MB text limit it is
            # still legitimate within our own byte bound, so parse again with that one limit lifted (and
            # then walk the depth ourselves, since libxml2's depth guard is lifted too)
            if "Text node too long" not in str(exc.msg):
                raise
            huge = True
            root = etree.fromstring(data, _parser(huge=True))
    except etree.XMLSyntaxError as exc:
        line = exc.lineno if exc.lineno else None
        raise XmlRejected(
            f"XML mal formé : {exc.msg}", f"malformed XML: {exc.msg}", line
        ) from None
    if root is None:
        raise XmlRejected("document XML vide", "empty XML document")
    info = root.getroottree().docinfo
    if info.internalDTD is not None or info.externalDTD is not None or info.doctype:
        # the byte pre-check above misses a DOCTYPE after 4 KiB (long comment) or in UTF-16
        raise XmlRejected(
            "DOCTYPE ou déclaration d'entité refusée (XML non sûr)",
            "DOCTYPE or entity declaration refused (unsafe XML)",
        )
    # libxml2 itself refuses nesting beyond 256 levels when huge_tree is off; walk only for a stricter limit
    depth = _depth(root, limits.max_depth) if huge or limits.max_depth < 256 else 0
    if depth > limits.max_depth:
        raise XmlRejected(
            f"imbrication trop profonde (> {limits.max_depth} niveaux)",
            f"nesting too deep (> {limits.max_depth} levels)",
        )
    return root.getroottree()


def parse_file(path: str, limits: Limits = Limits()) -> etree._ElementTree:
    import os

    size = os.path.getsize(path)
    if size > limits.max_bytes:
        raise XmlRejected(
            f"fichier trop volumineux ({size} octets > {limits.max_bytes})",
            f"file too large ({size} bytes > {limits.max_bytes})",
        )
    with open(path, "rb") as fh:
        return parse_bytes(fh.read(), limits)


def _depth(root: etree._Element, limit: int) -> int:
    deepest = 0
    stack = [(root, 1)]
    while stack:
        el, d = stack.pop()
        if d > deepest:
            deepest = d
            if deepest > limit:
                return deepest
        stack.extend((child, d + 1) for child in el)
    return deepest


def xpath_of(el: etree._Element) -> str:
    """A readable absolute path (prefix-free, 1-based positions) for findings."""
    tree = el.getroottree()
    try:
        return str(tree.getelementpath(el))
    except ValueError:
        return str(tree.getpath(el))
