"""Shared assert bodies: each repeated ``xsl:choose``/``xsl:if`` of a generated schematron XSLT becomes
one named template, called from every rule that had a copy (issue 16, peak memory).

The kit's StrucMin schematron instantiates the same datatype asserts (``dtr1-*``, the nullFlavor rule...)
in each of its 766 rules: its generated XSLT has 13,136 assert blocks but only 881 distinct ones, and
SaxonC-HE compiles every copy (8 MB of XSLT, 5.4 s, 892 MB peak RSS after compiling, ≈ 1 GB after the
first documents). With each distinct block compiled once and called by name: 1.9 MB, 0.9 s, 294 MB
(``benchmarks/bench_cda_memory.py``). A run of adjacent blocks that recurs as a whole (a datatype's 9 or
18 asserts, instantiated in hundreds of rules) is one template, so one call instead of one per block:
StrucMin has 12,519 factored blocks but only 1,719 calls, 1.5 MB, and no longer pays a call per assert
at run time (≈ 1 ms per document in StrucMin, against ≈ +0.4 ms with a call per block).

Why the output cannot change. A block is a top-level child of a template rule (an assert or a report:
``xsl:choose``/``xsl:if``); it is replaced by ``xsl:call-template`` in place, so its output lands where it
did. ``xsl:call-template`` keeps the context item, position and size, so ``.``, ``current()``,
``position()``, ``last()`` and ``sc:location(.)`` are unchanged. The only other thing a block can see
is the template's own variables and parameters declared before it: each one the block names (``$x``
anywhere in its attributes or text, an over-approximation) is passed as a parameter of the same name
and value (no ``as``: the value is passed untouched; a name the block binds itself is shadowed inside
the block exactly as before) — except a variable bound to a string literal (``select="'^[a-z]{2,3}$'"``,
no ``as``, no content), which is declared again, with the same literal, at the top of the named
template: same value, and Saxon still sees a constant (a literal regular expression is compiled once,
not at each call: StrucMin's ``matches(@language, $RFC3066)`` and ``$UUIDpattern`` asserts). The
literal is part of the sharing key, so only blocks that saw the same value share a template. Global
variables and parameters stay visible. Blocks are shared only when their serialisation (with those
parameters) is identical. A run is blocks that are adjacent siblings with
only whitespace between them (no variable declared in between, so they see the same scope; whitespace
text in a template body is not output), shared only when the whole sequence is identical; its template
takes the union of its blocks' parameters and holds the blocks in their order, so the output is the
concatenation it was. Left inline, as written: a block that applies
or calls templates (tunnel parameters, modes, ``next-match``), uses ``current-group()`` or
``regex-group()``, and every block of a template that carries its own namespaces or standard attributes
(``xml:base``, ``xpath-default-namespace``, ``version``...): the named template would not see the same
static context. Proven like every fast-path rewrite, by the equivalence test (byte-identical SVRL against
the unmodified XSLT on every official example and mutation).
"""

from __future__ import annotations

import copy
import hashlib
import os
import re
from pathlib import Path

from lxml import etree

XSL = "{http://www.w3.org/1999/XSL/Transform}"
FACTOR_VERSION = "1-" + hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:10]
_BLOCKS = (XSL + "choose", XSL + "if")
_SCOPE = (XSL + "variable", XSL + "param")
_NO_MOVE = {XSL + n for n in ("apply-templates", "call-template", "next-match", "apply-imports",
                              "for-each-group", "analyze-string", "merge", "iterate", "fallback")}
_TEMPLATE_ATTRS = {"match", "mode", "priority", "name", "as"}
_VAR = re.compile(r"\$([\w.\-]+(?::[\w.\-]+)?)")
_STRING_LITERAL = re.compile(r"\s*(?:'[^']*'|\"[^\"]*\")\s*")
_SC_NS = "urn:segur-conformance:schematron"
_MAX_INPUT = 64 * 1024 * 1024
ENV_FACTOR = "SEGUR_CDA_FACTOR"  # "0": the fast engine keeps every assert block inline (measurements)


def enabled() -> bool:
    """On by default for the fast engine; ``SEGUR_CDA_FACTOR=0`` turns it off (the official engine never
    uses it: it runs the generated XSLT unmodified)."""
    return os.environ.get(ENV_FACTOR, "").strip() != "0"


def _movable(block: etree._Element) -> bool:
    for e in block.iter():
        if not isinstance(e.tag, str) or e.tag in _NO_MOVE:
            return False
        for v in e.attrib.values():
            if "current-group" in v or "regex-group" in v or "current-merge" in v:
                return False
    return True


def _refs(block: etree._Element) -> set[str]:
    out: set[str] = set()
    for e in block.iter():
        for v in e.attrib.values():
            out.update(_VAR.findall(v))
        for t in (e.text, e.tail if e is not block else None):
            if t and "$" in t:
                out.update(_VAR.findall(t))
    return out


def factor(xslt_text: str, *, min_copies: int = 2, runs: bool = True) -> tuple[str, int, int]:
    """(rewritten XSLT, blocks replaced by a call, named templates added). Unchanged when nothing repeats.

    ``runs=False`` shares single blocks only (one call per block; measurements).
    """
    if len(xslt_text) > _MAX_INPUT:
        return xslt_text, 0, 0
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True, remove_blank_text=False)
    root = etree.fromstring(xslt_text.encode("utf-8"), parser)
    if root.tag != XSL + "stylesheet" and root.tag != XSL + "transform":
        return xslt_text, 0, 0
    prefix = next((p for p, uri in root.nsmap.items() if p and uri == _SC_NS), None)
    if prefix is None:  # the names need a declared prefix (every generated XSLT declares sc:)
        return xslt_text, 0, 0
    stem = f"{prefix}:shared-"
    names = {t.get("name") for t in root if isinstance(t.tag, str) and t.get("name")}
    if any(n and n.startswith(stem) for n in names):
        return xslt_text, 0, 0
    root_ns = dict(root.nsmap)
    # pass 1: candidate blocks, keyed by their text and the template variables they name
    Key = tuple[bytes, tuple[str, ...], tuple[tuple[str, str], ...]]
    sites: list[tuple[etree._Element, Key, list[str], list[tuple[str, str]]]] = []
    counts: dict[Key, int] = {}
    for tpl in root:
        if not isinstance(tpl.tag, str) or tpl.tag != XSL + "template":
            continue
        if set(tpl.attrib) - _TEMPLATE_ATTRS or dict(tpl.nsmap) != root_ns:
            continue
        scope: list[str] = []
        literal: dict[str, str] = {}  # name -> select, for the variables bound to a string literal
        for ch in tpl:
            if not isinstance(ch.tag, str):
                continue
            if ch.tag in _SCOPE:
                name = ch.get("name")
                if name:
                    scope.append(name)
                    literal.pop(name, None)
                    select = ch.get("select")
                    if (ch.tag == XSL + "variable" and select is not None and _STRING_LITERAL.fullmatch(select)
                            and set(ch.attrib) == {"name", "select"} and len(ch) == 0 and not (ch.text or "").strip()):
                        literal[name] = select
                continue
            if ch.tag not in _BLOCKS or not _movable(ch):
                continue
            refs = _refs(ch)
            named_refs = [n for n in dict.fromkeys(scope) if n in refs]
            passed = tuple(n for n in named_refs if n not in literal)
            lits = tuple((n, literal[n]) for n in named_refs if n in literal)
            tail, ch.tail = ch.tail, None
            key = (etree.tostring(ch), passed, lits)
            ch.tail = tail
            counts[key] = counts.get(key, 0) + 1
            sites.append((ch, key, list(passed), list(lits)))
    # pass 2: runs of adjacent blocks (siblings, only whitespace between, no variable in between) that
    # repeat as a whole become one named template each; the other repeated blocks one template each
    groups: list[list[int]] = []
    runs = runs and root.get("{http://www.w3.org/XML/1998/namespace}space") is None  # else whitespace counts
    for i, (ch, _key, _p, _c) in enumerate(sites):
        if groups and runs:
            prev = sites[groups[-1][-1]][0]
            if prev.getnext() is ch and not (prev.tail or "").strip():
                groups[-1].append(i)
                continue
        groups.append([i])
    run_counts: dict[tuple, int] = {}
    for g in groups:
        if len(g) > 1:
            rk = tuple(sites[i][1] for i in g)
            run_counts[rk] = run_counts.get(rk, 0) + 1
    named: dict[object, str] = {}
    replaced = 0

    def call_for(key: object, blocks: list[etree._Element], params: list[str],
                 consts: list[tuple[str, str]]) -> etree._Element:
        name = named.get(key)
        if name is None:
            name = f"{stem}{len(named) + 1}"
            named[key] = name
            nt = etree.SubElement(root, XSL + "template", name=name)
            for p in params:
                etree.SubElement(nt, XSL + "param", name=p)
            for n, select in consts:
                etree.SubElement(nt, XSL + "variable", name=n, select=select)
            for b in blocks:
                body = copy.deepcopy(b)
                body.tail = None
                nt.append(body)
        call = etree.Element(XSL + "call-template", name=name)
        for p in params:
            etree.SubElement(call, XSL + "with-param", name=p, select="$" + p)
        return call

    for g in groups:
        rk = tuple(sites[i][1] for i in g)
        if len(g) > 1 and run_counts[rk] >= min_copies:
            blocks = [sites[i][0] for i in g]
            params = sorted({p for i in g for p in sites[i][2]})
            run_lits = sorted({c for i in g for c in sites[i][3]})
            call = call_for(("run", rk), blocks, params, run_lits)
            call.tail = blocks[-1].tail
            parent = blocks[0].getparent()
            assert parent is not None
            parent.replace(blocks[0], call)
            for b in blocks[1:]:
                parent.remove(b)
            replaced += len(g)
            continue
        for i in g:
            ch, key, params, block_lits = sites[i]
            if counts[key] < min_copies:
                continue
            call = call_for(key, [ch], params, block_lits)
            call.tail = ch.tail
            parent = ch.getparent()
            assert parent is not None
            parent.replace(ch, call)
            replaced += 1
    if not replaced:
        return xslt_text, 0, 0
    return etree.tostring(root, encoding="unicode"), replaced, len(named)
