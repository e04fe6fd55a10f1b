"""CI-SIS kit repair for the schematron layer: include resolution and value-set paths.

The published kit has defects (specs/baseline.md) that are handled here, explicitly and visibly
(each one ends in the :class:`~conformance.cda.sch_compile.CompileReport` of the schematron):

* D1 — includes whose letter case differs from the files: resolved case-insensitively;
* D2 — value-set paths with a case mismatch: rewritten to the file on disk;
* D3 — missing included files: recorded, so the schematron is "non évalué";
* D4 — the StrucMin vocabulary ``voc-1.2.250.1.213.1.1.5.471-DYNAMIC.xml`` is synthesized from
  ``jeuxDeValeurs/JDV_J07_XdsTypeCode_CISIS.xml`` into the cache folder (the kit stays read-only);
* D6 — an include with a space in its name is just a path here.

Include resolution is done in Python (lxml) because it must be case-insensitive, must stay inside
the kit and must know which files are missing.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING
from xml.sax.saxutils import quoteattr

from lxml import etree

from conformance.cda.kit import HL7_NS, KIT_LIMITS, SCH, Kit, write_cache_text
from conformance.safexml import XmlRejected, parse_file

if TYPE_CHECKING:
    from conformance.cda.sch_compile import CompileReport

_LITERAL_RE = re.compile(r"""(['"])([^'"\s]+?\.(?:xml|rdf))\1""")
_DYNAMIC_VOC_RE = re.compile(r"voc-([0-9.]+)-DYNAMIC\.xml$")
_MAX_INCLUDE_DEPTH = 24


class KitFixes:
    """Include resolution and path repairs for one schematron (the D1, D2, D3, D4 defects)."""

    def __init__(self, kit: Kit, sch: Path, cache_dir: Path, report: CompileReport) -> None:
        self.kit = kit
        self.top = sch
        self.cache_dir = cache_dir
        self.report = report
        self._parsed: dict[Path, etree._ElementTree] = {}

    def _parse(self, path: Path) -> etree._ElementTree:
        if path not in self._parsed:
            self._parsed[path] = parse_file(str(path), KIT_LIMITS)
        return self._parsed[path]

    def _in_kit(self, candidate: Path) -> Path | None:
        candidate = Path(os.path.normpath(candidate))
        try:
            candidate.relative_to(self.kit.path)
        except ValueError:
            return None
        return self.kit.resolve_ci(candidate)

    def load_with_includes(self, sch: Path) -> etree._ElementTree:
        tree = self._parse(sch)
        root = self._expand(tree.getroot(), sch.parent, depth=0, stack=(sch,))
        return etree.ElementTree(root)

    def _expand(self, el: etree._Element, base: Path, depth: int, stack: tuple[Path, ...]) -> etree._Element:
        """Copy ``el`` replacing each sch:include by the included element (ISO dsdl include)."""
        copy = etree.Element(el.tag, attrib=dict(el.attrib), nsmap=el.nsmap)
        copy.text = el.text
        copy.tail = el.tail
        for child in el:
            if not isinstance(child.tag, str):
                copy.append(_copy_node(child))
                continue
            if child.tag != SCH + "include":
                copy.append(self._expand(child, base, depth, stack))
                continue
            for included in self._include(child, base, depth, stack):
                copy.append(included)
        return copy

    def _include(
        self, inc: etree._Element, base: Path, depth: int, stack: tuple[Path, ...]
    ) -> list[etree._Element]:
        href_raw = inc.get("href") or ""
        href, _, fragment = href_raw.partition("#")
        href = urllib.parse.unquote(href)
        written = Path(os.path.normpath(base / href))
        target = self._in_kit(written) if href else None
        rel_written = self.kit.relpath(written)
        if target is None or not target.is_file():
            self.report.missing_includes.append(rel_written)
            return []
        if target != written and not written.exists():
            self.report.case_fixes.append([rel_written, self.kit.relpath(target)])
        if depth >= _MAX_INCLUDE_DEPTH or target in stack:
            self.report.error = f"inclusion cyclique ou trop profonde : {rel_written}"
            return []
        try:
            doc = self._parse(target)
        except XmlRejected as exc:
            self.report.missing_includes.append(f"{rel_written} (illisible : {exc.reason})")
            return []
        root = doc.getroot()
        if fragment:
            picked = [e for e in root.iter() if isinstance(e.tag, str) and fragment in (e.get("id"), e.get("{http://www.w3.org/XML/1998/namespace}id"))]
            picks = picked[:1]
        elif isinstance(root.tag, str) and root.tag.startswith(SCH):
            picks = [root]
        else:
            picks = [c for c in root if isinstance(c.tag, str) and c.tag.startswith(SCH)]
        if not picks:
            self.report.missing_includes.append(f"{rel_written} (aucun élément schematron)")
            return []
        out = []
        for pick in picks:
            expanded = self._expand(pick, target.parent, depth + 1, stack + (target,))
            expanded.tail = inc.tail
            out.append(expanded)
        return out

    def fix_literals(self, tree: etree._ElementTree) -> None:
        """Rewrite value-set paths that only work on a case-insensitive disk, or that are missing.

        ``document()``/``doc()`` resolve against the compiled stylesheet, whose base URI is the top
        .sch file; a path that is missing but can be rebuilt (``voc-<oid>-DYNAMIC.xml``) is pointed at
        the copy synthesized in the cache folder.
        """
        base = self.top.parent
        memo: dict[str, str | None] = {}
        for el in tree.iter():
            if not isinstance(el.tag, str):
                continue
            for attr in ("test", "value", "select", "context"):
                val = el.get(attr)
                if not val or (".xml" not in val and ".rdf" not in val):
                    continue
                new = _LITERAL_RE.sub(lambda m: self._fix_one(m, base, memo), val)
                if new != val:
                    el.set(attr, new)

    def _fix_one(self, m: re.Match[str], base: Path, memo: dict[str, str | None]) -> str:
        quote, lit = m.group(1), m.group(2)
        if lit not in memo:
            memo[lit] = self._repair(lit, base)
        repl = memo[lit]
        return m.group(0) if repl is None else f"{quote}{repl}{quote}"

    def _repair(self, lit: str, base: Path) -> str | None:
        if "://" in lit or lit.startswith("/"):
            return None
        written = Path(os.path.normpath(base / lit))
        if written.exists():
            return None
        found = self._in_kit(written)
        if found is not None and found.is_file():
            self.report.case_fixes.append([self.kit.relpath(written), self.kit.relpath(found)])
            return os.path.relpath(found, base).replace(os.sep, "/")
        m = _DYNAMIC_VOC_RE.search(lit)
        if m:
            made = synthesize_voc(self.kit, m.group(1), self.cache_dir)
            if made is not None:
                self.report.synthesized.append(self.kit.relpath(written))
                self.report.generated_files.append(str(made.resolve()))
                return made.resolve().as_uri()
        rel = self.kit.relpath(written)
        if rel not in self.report.missing_valuesets:
            self.report.missing_valuesets.append(rel)
        return None


def _copy_node(node: etree._Element) -> etree._Element:
    import copy as _copy

    return _copy.deepcopy(node)


_jdv_index_cache: dict[str, dict[str, Path]] = {}
_JDV_ID_RE = re.compile(rb"<(?:\w+:)?ValueSet\b[^>]*?\bid=\"([0-9.]+)\"", re.S)


def _jdv_by_oid(kit: Kit) -> dict[str, Path]:
    """OID → kit value-set file, read from the first bytes of each jeuxDeValeurs/ file."""
    if kit.sha256 in _jdv_index_cache:
        return _jdv_index_cache[kit.sha256]
    index: dict[str, Path] = {}
    for p in sorted(kit.valueset_dir.glob("*.xml")):
        try:
            with open(p, "rb") as fh:
                head = fh.read(4096)
        except OSError:
            continue
        m = _JDV_ID_RE.search(head)
        if m:
            oid = m.group(1).decode()
            # Two files may carry one OID (e.g. a placeholder): keep the larger one.
            if oid not in index or p.stat().st_size > index[oid].stat().st_size:
                index[oid] = p
    _jdv_index_cache[kit.sha256] = index
    return index


def synthesize_voc(kit: Kit, oid: str, cache_dir: Path) -> Path | None:
    """Build an ART-DECOR ``voc-<oid>-DYNAMIC.xml`` from the kit's IHE SVS value set (defect D4).

    ART-DECOR files are ``valueSets`` (HL7 namespace) holding ``valueSet/conceptList/concept`` in no
    namespace, which is the shape the StrucMin rules read.
    """
    out = cache_dir / "voc" / f"voc-{oid}-DYNAMIC.xml"
    if out.is_file():
        return out
    src = _jdv_by_oid(kit).get(oid)
    if src is None:
        return None
    try:
        svs = parse_file(str(src), KIT_LIMITS)
    except (XmlRejected, OSError):
        return None
    vs_el = svs.getroot().find(".//{urn:ihe:iti:svs:2008}ValueSet")
    name = vs_el.get("displayName", "") if vs_el is not None else ""
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<valueSets xmlns="{HL7_NS}">',
        f'  <valueSet xmlns="" id={quoteattr(oid)} name={quoteattr(name)} displayName={quoteattr(name)}'
        f' statusCode="final" source={quoteattr("jeuxDeValeurs/" + src.name)}>',
        "    <conceptList>",
    ]
    for c in svs.getroot().iter("{urn:ihe:iti:svs:2008}Concept"):
        attrs = " ".join(f"{a}={quoteattr(c.get(a, ''))}" for a in ("code", "codeSystem", "displayName"))
        lines.append(f'      <concept {attrs} level="0" type="L"/>')
    lines += ["    </conceptList>", "  </valueSet>", "</valueSets>", ""]
    write_cache_text(out, "\n".join(lines))
    return out if out.is_file() else None
