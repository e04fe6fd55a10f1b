"""CDA layer 1: validation against the kit's ``infrastructure/cda/CDA_extended.xsd``.

Engine: lxml (libxml2). Chosen by measurement (benchmarks/README.md, "XSD engine"): it loads the schema
in about 0.1 s and validates a document in a few milliseconds, while xmlschema needs seconds to load
it, only loads it strictly after patching a copy of the kit (baseline.md §3.3), and validates about
30× slower. The three engines (lxml, xmlschema, Xerces) agree on every official example and mutant.

The compiled schema is cached per kit path for the process. Like the ANS ``CdaXsdValidator``, a
self-presenting document (a stylesheet wrapping the ClinicalDocument) is also checked on the
ClinicalDocument it contains.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

from lxml import etree

from conformance.cda.kit import Kit
from conformance.cda.svrl import location_of
from conformance.findings import Finding, NotEvaluated, error

HL7_NS = "urn:hl7-org:v3"
RULE = "CDA.XSD"
MAX_ERRORS = 200

_cache: dict[tuple[str, str], tuple[etree.XMLSchema, threading.Lock]] = {}
_cache_lock = threading.Lock()

_ELEMENT_RE = re.compile(r"Element '(?:\{[^}]*\})?([^']+)'")
_EXPECTED_RE = re.compile(r"Expected is(?: one of)? \( ?(.+?) ?\)")
_VALUE_RE = re.compile(r"The value '([^']*)'")
_NS_RE = re.compile(r"\{(?:urn|https?):[^}]*\}")


def _load(xsd: Path) -> etree.XMLSchema:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        return etree.XMLSchema(etree.parse(str(xsd), parser))
    except (etree.XMLSchemaParseError, etree.XMLSyntaxError, OSError) as exc:
        raise NotEvaluated(
            f"schéma XSD du kit inutilisable ({xsd.name}) : {exc}",
            f"the kit's XSD cannot be loaded ({xsd.name}): {exc}",
        ) from None


class XsdValidator:
    """Validates CDA trees against ``CDA_extended.xsd``; one compiled schema per kit and process."""

    def __init__(self, kit: Kit) -> None:
        self.kit = kit
        key = (str(kit.path), kit.sha256)
        with _cache_lock:
            if key not in _cache:
                _cache[key] = (_load(kit.xsd_path), threading.Lock())
            self._schema, self._lock = _cache[key]

    def validate(self, tree: etree._ElementTree, artefact: str) -> list[Finding]:
        """One ERROR finding per schema violation (line and path of each), at most MAX_ERRORS."""
        root = tree.getroot()
        targets: list[tuple[etree._ElementTree, str]] = [(tree, "")]
        if root.tag != f"{{{HL7_NS}}}ClinicalDocument":
            inner = root.find(f".//{{{HL7_NS}}}ClinicalDocument")
            if inner is None:
                return [
                    error(
                        "Aucun élément ClinicalDocument (urn:hl7-org:v3) : ce n'est pas un document CDA",
                        "No ClinicalDocument element (urn:hl7-org:v3): this is not a CDA document",
                        rule=RULE,
                        artefact=artefact,
                        xpath="/",
                        line=root.sourceline,
                        expected="{urn:hl7-org:v3}ClinicalDocument",
                        found=str(root.tag),
                    )
                ]
            targets.append((etree.ElementTree(inner), " (document CDA encapsulé)"))
        out: list[Finding] = []
        seen: set[tuple[int | None, str]] = set()
        for target, where in targets:
            with self._lock:
                self._schema.validate(target)
                entries = list(self._schema.error_log)
            for entry in entries:
                key = (entry.line, entry.message)
                if key in seen:
                    continue
                seen.add(key)
                if len(out) >= MAX_ERRORS:
                    break
                out.append(self._finding(target, entry, artefact, where))
        total = len(seen)
        if total > MAX_ERRORS:
            out.append(
                error(
                    f"{total - MAX_ERRORS} autres erreurs XSD non détaillées (limite {MAX_ERRORS})",
                    f"{total - MAX_ERRORS} more XSD errors not listed (limit {MAX_ERRORS})",
                    rule=RULE,
                    artefact=artefact,
                    found=str(total),
                )
            )
        return out

    def _finding(self, tree: etree._ElementTree, entry: etree._LogEntry, artefact: str, where: str) -> Finding:
        msg = " ".join(str(entry.message).split())
        node = self._node(tree, entry)
        path = location_of(node) if node is not None else (entry.path or "")
        line = entry.line or None
        while line is None and node is not None:  # nodes built in memory have no line: use the parent's
            line = node.sourceline
            node = node.getparent()
        expected = ""
        m = _EXPECTED_RE.search(msg)
        if m:
            expected = _NS_RE.sub("", m.group(1))
        found = ""
        m = _VALUE_RE.search(msg)
        if m:
            found = m.group(1)
        else:
            m = _ELEMENT_RE.search(msg)
            if m:
                found = m.group(1)
        return error(
            f"Non conforme au schéma CDA_extended.xsd{where} : {_NS_RE.sub('', msg)}",
            f"Not valid against CDA_extended.xsd{where}: {_NS_RE.sub('', msg)}",
            rule=RULE,
            artefact=artefact,
            xpath=path,
            line=line,
            expected=expected,
            found=found,
        )

    @staticmethod
    def _node(tree: etree._ElementTree, entry: etree._LogEntry) -> etree._Element | None:
        """libxml2 gives a path such as ``/*/*[9]``: find the element it points to."""
        raw = entry.path or ""
        if not raw:
            return None
        root = tree.getroot()
        namespaces = {k: v for k, v in (root.nsmap or {}).items() if k}
        try:
            hits = tree.xpath(raw, namespaces=namespaces)
        except (etree.XPathError, TypeError):
            return None
        if isinstance(hits, list) and hits and isinstance(hits[0], etree._Element):
            return hits[0]
        return None
