"""Fast path for the compiled official schematrons: the same generated XSLT, rewritten so that it does
less work per document, with byte-identical SVRL (issue 16).

Two rewrites of the XSLT that ``sch_compile.xsl`` generates, both semantics-preserving by construction
and checked by ``tests/test_cda_equivalence.py`` against the unmodified stylesheet on every official
example of the kit and on the mutation set:

1. **Pattern skipping.** The ISO processing model runs every pattern as one full traversal of the
   document (``<xsl:apply-templates select="/" mode="Mn"/>``); IHE.sch has 231 patterns, so 231
   traversals per document, nearly all of which fire nothing. Each rule context is analysed
   statically (:func:`context_requirements`): an alternative of a match pattern can only match if
   every element name of its path steps exists in the document and every top-level ``and``-conjunct
   of the form ``path/@name = 'literal'`` in its predicates holds for some attribute of the document.
   A pattern none of whose rule contexts can match produces no output at all (no fired-rule, no
   assert), so its traversal is skipped; its ``svrl:active-pattern`` element is still written, since
   it is emitted before and outside the traversal. Contexts the analysis does not understand (functions,
   variables, ``or``, ``not()``, other axes) give no requirement, so their pattern always runs.
2. **Preloaded code systems and value sets.** ``doc()``/``doc-available()`` calls (terminologie.sch
   builds ``../terminologie/<codeSystem>.rdf`` from the document: multi-MB RDF files that Saxon
   re-parses for every document, then scans linearly) go through ``sc:doc``/``sc:doc-available``,
   which answer from documents parsed once per process and passed as a stylesheet parameter (a map
   from absolute URI to document); a URI not preloaded falls back to the original function, with the
   original semantics. The linear scans ``doc(X)//name[text() = value]`` become ``key()`` lookups on
   the same document (same general-comparison semantics: string equality of any text child), and
   Saxon keeps a key index with the preloaded document, so it is built once. XSLT's ``document()``
   of a single string (the volets' and ModelesDeContenusCDA's ``document($jdv_...)``) goes through
   ``sc:document`` the same way; a ``doc-available()`` of a file the listed folder does not hold is
   answered ``false`` without asking the file system (``sc:listed``, :func:`listed_entries`).

Then, per pattern (:func:`_key_dispatch`): rules moved to a mode without the recursion, visiting only a
superset of the elements they can match — by ``key()`` on templateId roots or on element names
(``Selection.expression``: a name key is built in one pass, where ``//(a | b | ...)`` costs one child
scan per name and node) — and, for a pattern of wildcard rules only (StrucMin's closed templates),
each element tries only the rules of its parent's name, behind a one-test filter of the names they
all exclude (:func:`_parent_dispatch`, :func:`_group_filter`). Every rewrite keeps the matched node
set, the rule chosen and the document order of the output.
"""
from __future__ import annotations

import re
from pathlib import Path

from lxml import etree

# The fast path is split by job; the names below are this module's public face (sch_compile,
# sch_run, equivalence, the tests and benchmarks use ``fastsch.<name>``).
from conformance.cda.fastsch_cache import FAST_VERSION, FASTSCH_MODULES, FastPlan
from conformance.cda.fastsch_dispatch import (
    PARENT_DISPATCH_MIN_RULES,
    _drop_empty_traversals,
    _key_dispatch,
    _visits_elements_only,
    excluded_names,
)
from conformance.cda.fastsch_docs import (
    _SUPPORT,
    _XPATH_ATTRS,
    MAX_PRELOAD_BYTES,
    MAX_PRELOAD_FILES,
    _doc_literals,
    _preload_targets,
    _rewrite_expr,
    listed_entries,
    pattern_files,
    pattern_literals,
    uri_key,
)
from conformance.cda.fastsch_xpath import (
    _X,
    HL7_NS,
    SC_NS,
    XSL_NS,
    Selection,
    context_requirements,
    document_tokens,
    parent_first,
    rule_selection,
    template_id_roots,
)

__all__ = [
    "FAST_VERSION", "FASTSCH_MODULES", "FastPlan", "HL7_NS", "MAX_PRELOAD_BYTES", "MAX_PRELOAD_FILES",
    "PARENT_DISPATCH_MIN_RULES", "SC_NS", "XSL_NS", "Selection", "context_requirements", "document_tokens",
    "excluded_names", "listed_entries", "parent_first", "plan", "rule_selection", "template_id_roots", "uri_key",
]


def plan(xslt_text: str, *, confine_to: tuple[Path, ...] = ()) -> FastPlan:
    """Rewrite a generated schematron XSLT for the fast path (see the module docstring)."""
    parser = etree.XMLParser(remove_blank_text=False, huge_tree=True, resolve_entities=False, no_network=True)
    root = etree.fromstring(xslt_text.encode("utf-8"), parser)
    if root.nsmap.get("sc") != SC_NS:
        if "sc" in root.nsmap:
            raise ValueError("the prefix sc is bound to another namespace")
        # declare xmlns:sc on the stylesheet element (the generated stylesheets already do)
        text = re.sub(r"<((?:\w+:)?stylesheet)\b", rf'<\1 xmlns:sc="{SC_NS}"', xslt_text, count=1)
        root = etree.fromstring(text.encode("utf-8"), parser)
    result = FastPlan(xslt="")
    by_mode, anywhere = pattern_literals(root)  # before any rewrite: the patterns' own modes

    # 1. rule contexts per pattern mode
    contexts: dict[str, list[frozenset[str]]] = {}
    for t in root.iterchildren(_X + "template"):
        mode = t.get("mode") or ""
        match = t.get("match")
        if not match or " " in mode.strip() or not re.fullmatch(r"[MD]\d+", mode.strip()):
            continue
        nsmap = {k: v for k, v in t.nsmap.items()}
        contexts.setdefault(mode.strip(), []).extend(context_requirements(match, nsmap))
    # 1b. wildcard rules: test the parent's name before the final step's own predicates
    for t in root.iterchildren(_X + "template"):
        mode = (t.get("mode") or "").strip()
        match = t.get("match")
        if match and re.fullmatch(r"[MD]\d+", mode):
            new = parent_first(match)
            if new is not None:
                t.set("match", new)
                result.parent_first += 1
    main = None
    for t in root.iterchildren(_X + "template"):
        if t.get("match") == "/" and not t.get("mode"):
            main = t
            break
    if main is not None:
        for at in list(main.iter(_X + "apply-templates")):
            mode = (at.get("mode") or "").strip()
            if at.get("select") != "/" or not re.fullmatch(r"[MD]\d+", mode):
                continue
            result.modes.append(mode)
            alts = contexts.get(mode, [])
            if alts and all(alt for alt in alts):
                result.guards[mode] = alts
                guard = etree.Element(_X + "if", nsmap={"xsl": XSL_NS})
                # one character per pattern, read at its position: contains() on the list of active
                # modes cost ≈ 2 µs a guard, ×440 guards per VSM/DLU (IHE has 231 patterns)
                guard.set("test", f"$sc:run = '*' or substring($sc:run, {len(result.modes)}, 1) eq '1'")
                parent = at.getparent()
                idx = parent.index(at)
                guard.tail = at.tail
                at.tail = None
                parent.remove(at)
                guard.append(at)
                parent.insert(idx, guard)

    # 1c. patterns whose every rule needs a templateId root: visit only the elements carrying one
    if main is not None and _visits_elements_only(root):
        _drop_empty_traversals(root, main, result)
        _key_dispatch(root, main, result)

    # 2. doc()/doc-available()/document() through the preloaded map, scans through keys — only when the
    # only static base is the root's: sc:doc resolves a name against the root's base, the call site
    # against its own (independent review: an inner xml:base made doc-available() answer otherwise)
    keys: dict[str, str] = {}
    xml_base = "{http://www.w3.org/XML/1998/namespace}base"
    one_base = all(el is root or el.get(xml_base) is None for el in root.iter() if isinstance(el.tag, str))
    for el in root.iter() if one_base else ():
        if not isinstance(el.tag, str) or not el.tag.startswith(_X):
            continue
        for attr in _XPATH_ATTRS.get(el.tag[len(_X):], ()):
            v = el.get(attr)
            if v and "doc" in v:
                new, calls, keyed = _rewrite_expr(v, keys)
                if new != v:
                    el.set(attr, new)
                result.doc_calls += calls
                result.keyed_lookups += keyed
    support = etree.fromstring(_SUPPORT)
    first = next((i for i, c in enumerate(root) if isinstance(c.tag, str) and c.tag != _X + "output"), 0)
    for offset, el in enumerate(list(support)):
        root.insert(first + offset, el)
    for name, kname in sorted(keys.items(), key=lambda kv: kv[1]):
        k = etree.Element(_X + "key")
        k.set("name", kname)
        k.set("match", name)
        k.set("use", "text()")
        root.insert(first, k)
    if result.doc_calls:
        base = root.get("{http://www.w3.org/XML/1998/namespace}base") or ""
        result.preload, result.on_demand = _preload_targets(
            base, _doc_literals(root), tuple(r.resolve() for r in confine_to)
        )
        result.by_pattern = pattern_files(base, result.preload, by_mode, anywhere)
    result.xslt = etree.tostring(root, encoding="unicode")
    return result
