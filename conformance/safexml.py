"""One hardened XML parser for every domain.

Documents, SOAP envelopes and XDM metadata all come from the candidate, so they are untrusted:
no entity expansion, no DTD loading, no XInclude, no network, bounded size, depth and node count.
A bad file gives one ``XmlRejected`` with a clear reason (and the line when lxml knows it), never a
traceback.

Memory: libxml2 spends about 120-130 bytes per node (element, attribute, text, comment), so a dense
document costs far more than its bytes (12 million empty siblings, 48 MB, took 1.6 GB). Before the tree
is built, the nodes are counted (an upper bound from two byte counts, and when that is not enough a
streaming pass that builds nothing): a document is refused beyond ``MAX_NODES`` nodes, or beyond one node
per ``BYTES_PER_NODE`` bytes of document once past ``NODE_FLOOR`` nodes. So the tree of an accepted
document, with its bytes, stays under 10x its size (about 13 MB at most for a small one) and under 300 MB in
all (benchmarks/bench_xml_bounds.py measures it: 28 MB at the densest accepted, 12 million empty siblings
refused at 66 MB of peak RSS).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lxml import etree

MAX_BYTES = 50 * 1024 * 1024
MAX_DEPTH = 256
MAX_NODES = 2_000_000  # elements + attributes (counted twice: the attribute and its value) + texts + comments
NODE_FLOOR = 100_000  # always allowed, whatever the size (about 13 MB of tree)
BYTES_PER_NODE = 14  # beyond the floor: at most one node per 14 bytes: the tree and the bytes stay under 10x
XINCLUDE_NAMESPACES = ("http://www.w3.org/2001/XInclude", "http://www.w3.org/2003/XInclude")
HL7 = "urn:hl7-org:v3"
# A CDA document is UTF-8: "L'encodage spécifié dans le prologue du document est obligatoirement UTF-8"
# (ANS, CI-SIS Volet Structuration minimale des documents de santé, web edition "IG document core",
# ressourcesCDA-struc-gen.html, "Prologue"); the 94 official examples of the CI-SIS kit
# (TestContenuCDA-3-0/ExemplesCDA) all declare UTF-8. Scope: every CDA R2 document (ClinicalDocument root).
CDA_ENCODING_SOURCE = ("CI-SIS, Volet Structuration minimale (ANS IG document core, « Structure d'un document "
                       "CDA R2.0 », prologue) : « L'encodage spécifié dans le prologue du document est "
                       "obligatoirement UTF-8 » ; les 94 exemples du kit CI-SIS sont en UTF-8")
CDA_ENCODING_SOURCE_EN = ("CI-SIS, Volet Structuration minimale (ANS IG document core, 'Structure d'un document "
                          "CDA R2.0', prologue): the encoding declared in the prologue must be UTF-8; the 94 "
                          "examples of the CI-SIS kit are all UTF-8")


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
    max_nodes: int = MAX_NODES

    def node_budget(self, size: int) -> int:
        """The nodes a document of ``size`` bytes may hold (see the module's docstring)."""
        return min(self.max_nodes, max(NODE_FLOOR, size // BYTES_PER_NODE))


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
    encoding = document_encoding(data)
    _check_node_count(data, limits, encoding)
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
    for el in root.iter(*(f"{{{ns}}}*" for ns in XINCLUDE_NAMESPACES)):
        # lxml never expands it (we never call xinclude()), so the document would be judged without what it
        # claims to include: refuse it, like a DOCTYPE, with its line
        raise XmlRejected(
            f"élément XInclude {etree.QName(el).localname!r} refusé : inclusion externe, non développée "
            "(XML non sûr)",
            f"XInclude element {etree.QName(el).localname!r} refused: external inclusion, not expanded (unsafe XML)",
            el.sourceline)
    if root.tag == f"{{{HL7}}}ClinicalDocument" and encoding.upper() != "UTF-8":
        raise XmlRejected(
            f"document CDA encodé en {encoding} : UTF-8 obligatoire ({CDA_ENCODING_SOURCE})",
            f"CDA document encoded in {encoding}: UTF-8 required ({CDA_ENCODING_SOURCE_EN})")
    # libxml2 itself refuses nesting beyond 256 levels when huge_tree is off; walk only for a stricter limit
    depth = _depth(root, limits.max_depth) if huge or limits.max_depth < 256 else 0
    if depth > limits.max_depth:
        raise XmlRejected(
            f"imbrication trop profonde (> {limits.max_depth} niveaux)",
            f"nesting too deep (> {limits.max_depth} levels)",
        )
    return root.getroottree()


_BOMS = ((b"\x00\x00\xfe\xff", "UTF-32BE"), (b"\xff\xfe\x00\x00", "UTF-32LE"), (b"\xef\xbb\xbf", "UTF-8"),
         (b"\xfe\xff", "UTF-16BE"), (b"\xff\xfe", "UTF-16LE"))
_DECLARATION = re.compile(rb"""^<\?xml\s[^>]*?\bencoding\s*=\s*["']([A-Za-z][A-Za-z0-9._-]{0,39})["']""")


def document_encoding(data: bytes) -> str:
    """The character encoding of an XML document as XML 1.0 appendix F detects it: byte order mark, else the
    declaration, else UTF-8 (lxml's docinfo says UTF-8 for a UTF-16 document without declaration)."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            if name != "UTF-8":
                return name
            data = data[len(bom):]
            break
    for head, name in ((b"\x00\x00\x00<", "UTF-32BE"), (b"<\x00\x00\x00", "UTF-32LE"), (b"\x00<", "UTF-16BE"),
                       (b"<\x00", "UTF-16LE")):
        if data.startswith(head):  # no byte order mark: the first character, '<', tells (XML 1.0 appendix F)
            return name
    match = _DECLARATION.match(data[:512])
    return match.group(1).decode("ascii") if match else "UTF-8"


class _TooManyNodes(Exception):
    pass


class _NodeCounter:
    """A parser target: counts nodes as libxml2 would build them, builds nothing, stops past the budget."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.count = 0
        self._in_text = False

    def _add(self, n: int) -> None:
        self.count += n
        self._in_text = False
        if self.count > self.budget:
            raise _TooManyNodes()

    def start(self, tag: str, attrib: dict[str, str], nsmap: dict[str, str] | None = None) -> None:
        self._add(1 + 2 * len(attrib))

    def end(self, tag: str) -> None:
        self._in_text = False

    def data(self, text: str) -> None:  # one text node may come in several calls
        if not self._in_text:
            self._add(1)
            self._in_text = True

    def comment(self, text: str) -> None:
        self._add(1)

    def pi(self, target: str, data: str | None = None) -> None:
        self._add(1)

    def close(self) -> int:
        return self.count


_ASCII_FAMILY = ("UTF-8", "US-ASCII", "ASCII", "ISO-8859-1", "ISO-8859-15", "LATIN1", "WINDOWS-1252", "CP1252",
                 "UTF-16", "UTF-16LE", "UTF-16BE", "UTF-32LE", "UTF-32BE")


def _check_node_count(data: bytes, limits: Limits, encoding: str) -> None:
    budget = limits.node_budget(len(data))
    if encoding.upper() in _ASCII_FAMILY:
        # each element, comment, PI or CDATA needs a '<', each attribute a '=' (its value is a second node), and
        # there is at most one text node more than there are '<': an upper bound at C speed (UTF-16/32 too:
        # every '<' character holds a 0x3C byte)
        if 2 * data.count(b"<") + 2 * data.count(b"=") + 1 <= budget:
            return
    counter = _NodeCounter(budget)
    parser = etree.XMLParser(target=counter, resolve_entities=False, load_dtd=False, no_network=True,
                             huge_tree=True)
    try:
        for start in range(0, len(data), 1 << 20):
            parser.feed(data[start:start + (1 << 20)])
        parser.close()
    except _TooManyNodes:
        raise XmlRejected(
            f"document trop dense : plus de {budget} nœuds XML (éléments, attributs, textes) pour {len(data)} "
            f"octets ; plafond : {limits.max_nodes} nœuds, et au-delà de {NODE_FLOOR} un nœud par "
            f"{BYTES_PER_NODE} octets (mémoire bornée à environ 10 fois la taille du document)",
            f"document too dense: more than {budget} XML nodes (elements, attributes, texts) for {len(data)} "
            f"bytes; cap: {limits.max_nodes} nodes, and beyond {NODE_FLOOR} one node per {BYTES_PER_NODE} bytes "
            f"(memory bounded to about 10 times the document's size)") from None
    except etree.XMLSyntaxError:
        return  # malformed before the budget was reached: the real parse reports it with its line


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
