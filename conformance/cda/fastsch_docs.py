"""Preloaded code systems and value sets for the fast path (issue 16, :mod:`conformance.cda.fastsch`):
``doc()``/``doc-available()`` through ``sc:doc``/``sc:doc-available`` (answered from documents parsed
once per process), linear scans ``doc(X)//name[text() = value]`` turned into ``key()`` lookups, and
the bounded list of files to preload.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import unquote, urlparse

from lxml import etree

from conformance.cda.fastsch_xpath import _NAME, _X

# Bounds on what is preloaded (the kit is trusted data, but keep memory predictable).
MAX_PRELOAD_FILES = 200
MAX_PRELOAD_BYTES = 96 * 1024 * 1024
_PRELOAD_SUFFIXES = (".rdf", ".xml")

_DOC_CALL_RE = re.compile(r"(?<![\w:.$\-])(doc-available|doc)\s*\(")
# XSLT's document(): the volets and ModelesDeContenusCDA read their value sets by document($jdv_...), which
# parsed each JDV file again in every transformation (strace: 12 opens of each for 12 documents)
_DOCUMENT_CALL_RE = re.compile(r"(?<![\w:.$\-])document\s*\(")
_KEYABLE_RE = re.compile(
    rf"sc:doc\((?P<arg>[^()]*(?:\([^()]*\)[^()]*)*)\)\s*//\s*(?P<name>(?:{_NAME}:)?{_NAME})"
    rf"\[\s*text\(\)\s*=\s*(?P<val>string\(\s*\$[\w\-]+\s*\))\s*\]"
)
_XPATH_ATTRS = {
    # a template's match pattern too: StrucMin's standardIndustryClassCode rules test a value set in their
    # pattern, so doc() parsed that file again in every transformation (seen with strace: 13 opens for 12
    # documents); sc:doc answers it from the handed-over document, like any other expression
    "template": ("match",),
    "when": ("test",), "if": ("test",), "variable": ("select",), "param": ("select",),
    "value-of": ("select",), "sequence": ("select",), "for-each": ("select",),
    "apply-templates": ("select",), "copy-of": ("select",), "with-param": ("select",),
}


def _rewrite_expr(expr: str, keys: dict[str, str]) -> tuple[str, int, int]:
    """doc()/doc-available()/document() → sc:doc()/sc:doc-available()/sc:document(), then
    doc(X)//n[text() = v] → key()."""
    if "doc" not in expr:
        return expr, 0, 0
    # Leave string literals alone.
    pieces = re.split(r"('[^']*'|\"[^\"]*\")", expr)
    calls = 0
    for i in range(0, len(pieces), 2):
        pieces[i], n = _DOC_CALL_RE.subn(lambda m: f"sc:{m.group(1)}(", pieces[i])
        calls += n
        pieces[i], n = _DOCUMENT_CALL_RE.subn("sc:document(", pieces[i])
        calls += n
    out = "".join(pieces)
    keyed = 0

    def to_key(m: re.Match[str]) -> str:
        nonlocal keyed
        name = m.group("name")
        kname = keys.setdefault(name, f"sc:text-key-{len(keys) + 1}")
        keyed += 1
        return f"(for $sc_d in sc:doc({m.group('arg')}) return key('{kname}', {m.group('val')}, $sc_d))"

    out = _KEYABLE_RE.sub(to_key, out)
    return out, calls, keyed


_FILE_LITERAL = re.compile(r"'([^'\s]+)'|\"([^\"\s]+)\"")
_VARIABLE_REF = re.compile(r"\$([\w.\-]+(?::[\w.\-]+)?)")


def _file_literals(text: str) -> list[str]:
    """String literals of an XPath expression that look like paths to XML/RDF resources or folders."""
    lits = [m.group(1) or m.group(2) for m in _FILE_LITERAL.finditer(text)]
    return [lit for lit in lits if lit.endswith(("/",) + _PRELOAD_SUFFIXES) and "{" not in lit]


def _doc_literals(root: etree._Element) -> list[str]:
    """String literals of the stylesheet that look like paths to XML/RDF resources or folders."""
    lits: list[str] = []
    for el in root.iter():
        if not isinstance(el.tag, str) or not el.tag.startswith(_X):
            continue
        for attr in ("select", "test", "match"):
            v = el.get(attr)
            if v:
                lits.extend(_file_literals(v))
    return lits


def pattern_literals(root: etree._Element) -> tuple[dict[str, set[str]], set[str]]:
    """Which file literals only the rules of one pattern can read, and which anything else may read.

    A value set named by a literal (``document($jdv_x)`` with ``<xsl:variable name="jdv_x"
    select="'../../jeuxDeValeurs/X.xml'"/>``, ModelesDeContenusCDA's 38 JDV files) is needed by a
    document only when a pattern that reads it runs: it is handed over then (:meth:`FastPlan.docs_for`),
    not parsed at start-up. Returns (pattern mode → literals read by that pattern's rule templates,
    literals read anywhere else: global variables built from them, functions, named templates, keys,
    the main template — handed over at start-up, as before). Only a matter of speed: a file not
    handed over is read by the original function.
    """
    gvars: dict[str, str] = {}  # global variables bound to a file literal, and nothing else
    for v in root.iterchildren(_X + "variable", _X + "param"):
        select = (v.get("select") or "").strip()
        lits = _file_literals(select) if _FILE_LITERAL.fullmatch(select) else []
        if lits and v.get("name"):
            gvars[v.get("name") or ""] = lits[0]

    def literals_of(el: etree._Element) -> set[str]:
        found: set[str] = set()
        for node in el.iter():
            if not isinstance(node.tag, str) or not node.tag.startswith(_X):
                continue
            for attr in ("select", "test", "match", "use", "value"):
                v = node.get(attr)
                if v:
                    found.update(_file_literals(v))
                    found.update(gvars[n] for n in _VARIABLE_REF.findall(v) if n in gvars)
        return found

    by_mode: dict[str, set[str]] = {}
    anywhere: set[str] = set()
    for child in root:
        if not isinstance(child.tag, str) or not child.tag.startswith(_X):
            continue
        if child.tag in (_X + "variable", _X + "param") and child.get("name") in gvars:
            continue  # the literal's own definition: it counts where the variable is read
        read = literals_of(child)
        if not read:
            continue
        modes = (child.get("mode") or "").split()
        if (child.tag == _X + "template" and modes and child.get("name") is None
                and all(re.fullmatch(r"[MD]\d+", m) for m in modes)):
            for m in modes:
                by_mode.setdefault(m, set()).update(read)
        else:
            anywhere |= read
    return by_mode, anywhere


def pattern_files(
    base_uri: str, preload: list[Path], by_mode: dict[str, set[str]], anywhere: set[str]
) -> dict[str, list[Path]]:
    """:func:`pattern_literals` as preloaded files: pattern mode → the files only its rules read (a file
    also read anywhere else is left out: it is handed over at start-up)."""
    parsed = urlparse(base_uri)
    base_dir = Path(unquote(parsed.path)).parent if parsed.scheme == "file" else None

    def paths(lit: str) -> set[Path]:
        if "://" in lit or lit.startswith("file:"):
            exact = Path(unquote(urlparse(lit).path)).resolve()
        elif base_dir is not None:
            exact = (base_dir / lit).resolve()
        else:
            return set()
        hit = {p for p in preload if p == exact}
        # a bare name completed by a folder read elsewhere (terminologie: concat($path, '2.16….xml'))
        return hit or {p for p in preload if p.name == lit.rsplit("/", 1)[-1]}

    shared = set().union(*(paths(lit) for lit in anywhere)) if anywhere else set()
    out: dict[str, list[Path]] = {}
    for mode, lits in sorted(by_mode.items()):
        files = sorted(set().union(*(paths(lit) for lit in lits)) - shared)
        if files:
            out[mode] = files
    return out


def _preload_targets(
    base_uri: str, literals: list[str], roots: tuple[Path, ...]
) -> tuple[list[Path], list[Path]]:
    """Files the stylesheet may open: literal files, and every XML/RDF file of a literal folder.

    Returns (all of them, those found only through a folder). A file named by a literal (even a
    bare file name, as in ``concat($path_terminologie, '2.16.840.1.113883.6.8.xml')``) is opened
    whatever the document; a file found only through its folder is opened by a name built from the
    document (terminologie.sch: ``concat($path_terminologie, $theCodeSystem, '.rdf')``), so it is
    preloaded on demand, when its name is among the document's attribute values
    (:meth:`FastPlan.docs_for`).
    """
    parsed = urlparse(base_uri)
    if parsed.scheme != "file":
        return [], []
    base_dir = Path(unquote(parsed.path)).parent
    named = {lit.rsplit("/", 1)[-1] for lit in literals if not lit.endswith("/")}
    found: list[Path] = []
    in_folder: list[Path] = []
    seen: set[Path] = set()
    total = 0
    for lit in dict.fromkeys(literals):
        if "://" in lit or lit.startswith("file:"):
            p = Path(unquote(urlparse(lit).path))
        else:
            p = (base_dir / lit).resolve()
        folder = lit.endswith("/") and p.is_dir()
        cands = sorted(q for q in p.iterdir() if q.suffix.lower() in _PRELOAD_SUFFIXES) if folder else [p]
        for q in cands:
            q = q.resolve()
            if q in seen or not q.is_file():
                continue
            if roots and not any(q.is_relative_to(r) for r in roots):
                continue  # never preload anything outside the kit and the cache folder
            size = q.stat().st_size
            if len(found) >= MAX_PRELOAD_FILES or total + size > MAX_PRELOAD_BYTES:
                return found, [f for f in in_folder if f in seen]
            seen.add(q)
            found.append(q)
            if folder and q.name not in named:  # a file also named by a literal is always opened
                in_folder.append(q)
            total += size
    return found, [f for f in in_folder if f in seen]


_SUPPORT = """<xsl:stylesheet xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
 xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:map="http://www.w3.org/2005/xpath-functions/map"
 xmlns:sc="urn:segur-conformance:schematron">
<xsl:param name="sc:run" as="xs:string" select="'*'"/>
<xsl:param name="sc:docs" as="map(xs:string, document-node())" select="map{}"/>
<!-- the map key of a name doc() would read as a local file: a relative path, /path, file:/path or
     file:///path; never a host (file://host/path, //host/path), which doc() reads elsewhere -->
<xsl:function name="sc:uri-key" as="xs:string?">
  <xsl:param name="uri" as="xs:string?"/>
  <xsl:sequence select="if (exists($uri) and matches($uri, '^(file:/(//)?|/)?[A-Za-z0-9._\\-][A-Za-z0-9._/\\-]*$'))
      then replace(string(resolve-uri($uri, static-base-uri())), '^file:/+', 'file:/') else ()"/>
</xsl:function>
<xsl:function name="sc:doc" as="document-node()?">
  <xsl:param name="uri" as="xs:string?"/>
  <xsl:variable name="k" select="sc:uri-key($uri)"/>
  <xsl:sequence select="if (exists($k) and exists($sc:docs($k))) then $sc:docs($k) else doc($uri)"/>
</xsl:function>
<!-- XSLT's document(): a single string is the name doc() would read, resolved against the same static base
     (this function is in the stylesheet's one module, whose only xml:base is its root's; fastsch.plan
     checks it); anything else (a node, whose base URI is its own; several names; another type) goes
     to document() itself, and so does a name not handed over -->
<xsl:function name="sc:document" as="node()*">
  <xsl:param name="uri" as="item()*"/>
  <xsl:variable name="k" select="if ($uri instance of xs:string) then sc:uri-key($uri) else ()"/>
  <xsl:sequence select="if (exists($k) and exists($sc:docs($k))) then $sc:docs($k) else document($uri)"/>
</xsl:function>
<xsl:function name="sc:document" as="node()*">
  <xsl:param name="uri" as="item()*"/>
  <xsl:param name="base" as="node()"/>
  <xsl:sequence select="document($uri, $base)"/>
</xsl:function>
<!-- the folders of the files opened by a computed name, listed once per process (listed_entries):
     "<folder key>/" for a folder listed, "<folder key>/<lower-case name>" for each of its entries -->
<xsl:param name="sc:listed" as="map(xs:string, xs:boolean)" select="map{}"/>
<xsl:variable name="sc:listed-dirs" as="xs:string*" select="Q{http://www.w3.org/2005/xpath-functions/map}keys($sc:listed)[ends-with(., '/')]"/>
<!-- string functions only: a regular expression costs ≈ 10 µs a call in Saxon, ×50 per document -->
<xsl:function name="sc:known-absent" as="xs:boolean">
  <xsl:param name="k" as="xs:string"/>
  <xsl:sequence select="some $d in $sc:listed-dirs satisfies (starts-with($k, $d)
      and string-length($k) gt string-length($d) and not(contains(substring($k, string-length($d) + 1), '/'))
      and empty($sc:listed(concat($d, lower-case(substring($k, string-length($d) + 1))))))"/>
</xsl:function>
<xsl:function name="sc:doc-available" as="xs:boolean">
  <xsl:param name="uri" as="xs:string?"/>
  <xsl:variable name="k" select="sc:uri-key($uri)"/>
  <xsl:sequence select="if (exists($k) and exists($sc:docs($k))) then true()
      else if (exists($k) and sc:known-absent($k)) then false() else doc-available($uri)"/>
</xsl:function>
</xsl:stylesheet>"""


MAX_LISTED_ENTRIES = 20_000  # a bigger folder is not listed: its absent names are asked of the file system


def listed_entries(folders: list[Path]) -> dict[str, bool]:
    """The ``sc:listed`` map: which names the folders of on-demand files hold, read once per process.

    terminologie.sch asks ``doc-available('../terminologie/<codeSystem>.rdf')`` for every coded element,
    and most code systems of a document have no file in the kit (LOINC, SNOMED CT...): each such call
    was a failed file open in Saxon, ≈ 1.6 ms per document. A name whose folder is listed here and
    which no entry of the folder matches, ignoring case (a case-insensitive file system would open
    it), is answered ``false`` by ``sc:doc-available``, as ``doc-available`` would: the file is not
    there. The listing is a snapshot, like the documents handed over: a file added to the kit while
    the process runs is not seen. A folder with an entry that is not plain ASCII (whose case folding
    another file system could do otherwise), or too many entries, is not listed.
    """
    out: dict[str, bool] = {}
    for folder in folders:
        try:
            names = [e.name for e in os.scandir(folder)][: MAX_LISTED_ENTRIES + 1]
        except OSError:
            continue
        if len(names) > MAX_LISTED_ENTRIES or not all(n.isascii() for n in names):
            continue
        key = uri_key(folder).rstrip("/") + "/"
        out[key] = True
        for n in names:
            out[key + n.lower()] = True
    return out


def uri_key(path: Path) -> str:
    """The map key of a preloaded file (the form ``sc:uri-key`` computes in the stylesheet)."""
    return "file:/" + path.resolve().as_posix().lstrip("/")
