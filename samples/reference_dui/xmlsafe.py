"""The reference DUI's XML reader for what it receives (INSi and DMP answers, its own and replaced CDAs).

Untrusted input is bounded: no DTD at all (no entity expansion, no external fetch), no network, at most
``max_bytes`` bytes and ``max_depth`` levels. lxml's parser options do the work; this module only refuses
what they would otherwise accept.
"""

from __future__ import annotations

from lxml import etree

MAX_BYTES = 16 * 1024 * 1024
MAX_DEPTH = 256


class XmlRejected(ValueError):
    """Unreadable or refused XML; ``reason`` is a French text for the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                           huge_tree=False, remove_comments=False)


def parse(data: bytes, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH) -> etree._ElementTree:
    if len(data) > max_bytes:
        raise XmlRejected(f"document XML de plus de {max_bytes} octets")
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        raise XmlRejected(f"XML mal formé : {exc.msg}"[:300]) from None
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise XmlRejected("déclaration DOCTYPE refusée")
    if any(isinstance(el, etree._Entity) for el in root.iter()):
        raise XmlRejected("entité XML refusée")
    depth = 0
    for event, _el in etree.iterwalk(root, events=("start", "end")):
        depth += 1 if event == "start" else -1
        if depth > max_depth:
            raise XmlRejected(f"XML imbriqué sur plus de {max_depth} niveaux")
    return tree
