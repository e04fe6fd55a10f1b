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
   Saxon keeps a key index with the preloaded document, so it is built once.

Then, per pattern (:func:`_key_dispatch`): rules moved to a mode without the recursion, visiting only a
superset of the elements they can match — by ``key()`` on templateId roots or on element names
(``Selection.expression``: a name key is built in one pass, where ``//(a | b | ...)`` costs one child
scan per name and node) — and, for a pattern of wildcard rules only (StrucMin's closed templates),
each element tries only the rules of its parent's name, behind a one-test filter of the names they
all exclude (:func:`_parent_dispatch`, :func:`_group_filter`). Every rewrite keeps the matched node
set, the rule chosen and the document order of the output.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

from lxml import etree

# Part of the cache key of stored plans: a version, plus this module's own digest, so that a plan
# stored by another revision of the rewrites (another engineer's checkout sharing the cache) is
# never reused.
FAST_VERSION = "6-" + hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:10]
XSL_NS = "http://www.w3.org/1999/XSL/Transform"
SC_NS = "urn:segur-conformance:schematron"
_X = f"{{{XSL_NS}}}"

# Bounds on what is preloaded (the kit is trusted data, but keep memory predictable).
MAX_PRELOAD_FILES = 200
MAX_PRELOAD_BYTES = 96 * 1024 * 1024
_PRELOAD_SUFFIXES = (".rdf", ".xml")

_NAME = r"[A-Za-z_][\w.\-]*"
_QNAME_RE = re.compile(rf"^(?:({_NAME}):)?({_NAME}|\*)$")
_ATTR_EQ_RE = re.compile(
    rf"^(?P<path>(?:(?:child::)?(?:{_NAME}:)?{_NAME}(?:\[[^\]]*\])*/)*)(?:@|attribute::)(?P<attr>{_NAME})"
    rf"\s*=\s*(?P<q>['\"])(?P<lit>[^'\"]*)(?P=q)$"
)
_ATTR_EQ_REV_RE = re.compile(
    rf"^(?P<q>['\"])(?P<lit>[^'\"]*)(?P=q)\s*=\s*(?P<path>(?:(?:child::)?(?:{_NAME}:)?{_NAME}(?:\[[^\]]*\])*/)*)"
    rf"(?:@|attribute::)(?P<attr>{_NAME})$"
)


# ---------------------------------------------------------------------------------------------
# A small XPath pattern scanner (strings, brackets and parentheses aware)
# ---------------------------------------------------------------------------------------------


def _split_top(expr: str, sep: str) -> list[str] | None:
    """Split ``expr`` on ``sep`` outside strings, brackets and parentheses (None if unbalanced).

    ``sep`` is "|" or "/" (single characters) or a word such as "and"/"or" (whitespace-delimited).
    """
    parts: list[str] = []
    depth = 0
    quote = ""
    start = 0
    i = 0
    n = len(expr)
    word = len(sep) > 1
    while i < n:
        c = expr[i]
        if quote:
            if c == quote:
                quote = ""
        elif c in "'\"":
            quote = c
        elif c in "[(":
            depth += 1
        elif c in "])":
            depth -= 1
            if depth < 0:
                return None
        elif depth == 0:
            if word:
                if (
                    expr.startswith(sep, i)
                    and i > 0
                    and expr[i - 1].isspace()
                    and i + len(sep) < n
                    and expr[i + len(sep)].isspace()
                ):
                    parts.append(expr[start:i])
                    start = i + len(sep)
                    i = start
                    continue
            elif c == sep:
                parts.append(expr[start:i])
                start = i + 1
        i += 1
    if depth != 0 or quote:
        return None
    parts.append(expr[start:])
    return parts


def _step_parts(step: str) -> tuple[str, list[str]] | None:
    """``name[p1][p2]`` → (name, [p1, p2]); None when the step is not of that shape."""
    step = step.strip()
    i = step.find("[")
    head = step if i < 0 else step[:i]
    preds: list[str] = []
    rest = "" if i < 0 else step[i:]
    while rest:
        if not rest.startswith("["):
            return None
        depth = 0
        quote = ""
        for j, c in enumerate(rest):
            if quote:
                if c == quote:
                    quote = ""
            elif c in "'\"":
                quote = c
            elif c == "[":
                depth += 1
            elif c == "]":
                depth -= 1
                if depth == 0:
                    preds.append(rest[1:j])
                    rest = rest[j + 1 :].strip()
                    break
        else:
            return None
    return head.strip(), preds


def _path_requirements(path: str, nsmap: dict[str | None, str], *, pattern: bool) -> set[str] | None:
    """Tokens a relative or absolute child-axis path needs to select anything (None: not understood).

    Every named element step needs an element of that name; every top-level conjunct of a predicate
    of the form ``path/@a = 'lit'`` (or a bare child path, which must select something) needs its own
    tokens. Anything else (functions, variables, ``or``, ``not``, other axes, ``..``) adds nothing.
    """
    steps = _split_top(path.strip(), "/")
    if steps is None:
        return None
    tokens: set[str] = set()
    for k, raw in enumerate(steps):
        if not raw.strip():
            if k == 0 or pattern:  # leading "/" or "//"
                continue
            continue
        parts = _step_parts(raw)
        if parts is None:
            return None
        head, preds = parts
        if head.startswith("child::"):
            head = head[len("child::"):]
        if head.startswith(("@", "attribute::")):
            if k != len(steps) - 1:
                return None
            continue  # an attribute step: its existence is not a token we track
        if "::" in head or "(" in head or head in (".", "..") or head.startswith("$"):
            return None
        m = _QNAME_RE.match(head)
        if m is None:
            return None
        prefix, local = m.group(1), m.group(2)
        if local != "*":
            if prefix is not None and prefix not in nsmap:
                return None
            ns = nsmap.get(prefix, "") if prefix is not None else ""
            tokens.add(f"e:{{{ns}}}{local}")
        for pred in preds:
            tokens |= _predicate_requirements(pred, nsmap)
    return tokens


def _predicate_requirements(pred: str, nsmap: dict[str | None, str]) -> set[str]:
    """Tokens implied by a predicate that must be true (only its top-level ``and`` conjuncts)."""
    pred = pred.strip()
    if _split_top(pred, "or") is None or len(_split_top(pred, "or") or []) != 1:
        return set()
    conjuncts = _split_top(pred, "and") or []
    out: set[str] = set()
    for c in conjuncts:
        c = c.strip()
        while c.startswith("(") and c.endswith(")") and _split_top(c[1:-1], "|") is not None:
            inner = c[1:-1].strip()
            if _split_top(inner, "or") != [inner] and _split_top(inner, "or") is not None and len(_split_top(inner, "or")) > 1:
                break
            c = inner
        m = _ATTR_EQ_RE.match(c) or _ATTR_EQ_REV_RE.match(c)
        if m is not None:
            out.add(f"a:{m.group('attr')}={m.group('lit')}")
            path = m.group("path").rstrip("/")
            if path:
                sub = _path_requirements(path, nsmap, pattern=False)
                if sub:
                    out |= sub
            continue
        if re.fullmatch(rf"(?:(?:child::)?(?:{_NAME}:)?{_NAME}(?:\[.*\])?)(?:/(?:child::)?(?:{_NAME}:)?{_NAME}(?:\[.*\])?)*", c, re.S):
            # a bare child path used as a boolean: it must select at least one element
            sub = _path_requirements(c, nsmap, pattern=False)
            if sub:
                out |= sub
    return out


def context_requirements(context: str, nsmap: dict[str | None, str]) -> list[frozenset[str]]:
    """One token set per ``|`` alternative of a match pattern; an empty set means "may always match"."""
    alts = _split_top(context, "|")
    if alts is None:
        return [frozenset()]
    out: list[frozenset[str]] = []
    for alt in alts:
        req = _path_requirements(alt, nsmap, pattern=True)
        out.append(frozenset(req or ()))
    return out


def document_tokens(tree: etree._ElementTree) -> frozenset[str]:
    """The tokens a document offers: ``e:{ns}local`` per element name, ``a:name=value`` per attribute."""
    toks: set[str] = set()
    for el in tree.getroot().iter():
        tag = el.tag
        if not isinstance(tag, str):
            continue
        toks.add("e:" + (tag if tag.startswith("{") else "{}" + tag))
        for k, v in el.attrib.items():
            if not k.startswith("{"):
                toks.add(f"a:{k}={v}")
    return frozenset(toks)


def _boolean_predicate(pred: str) -> bool:
    """True when a predicate is certainly boolean-valued and position-free (so it may be moved)."""
    p = pred.strip()
    if not p or "position(" in p or "last(" in p or p.startswith("$") or re.fullmatch(r"[\d.]+", p):
        return False
    if p.startswith("not(") and p.endswith(")") and _split_top(p[4:-1], "|") is not None:
        inner_ok = _split_top(p, "and") == [p] and _split_top(p, "or") == [p]
        if inner_ok:
            return True
    ors = _split_top(p, "or")
    if ors is None:
        return False
    if len(ors) > 1:
        return all(_boolean_predicate(o) for o in ors)
    ands = _split_top(p, "and") or [p]
    if len(ands) > 1:
        return all(_boolean_predicate(a) for a in ands)
    if re.search(r"[=<>]", re.sub(r"'[^']*'|\"[^\"]*\"", "", p)) and "(" not in p.split("=")[0]:
        return True  # a comparison
    # a bare path: a node-set used as a boolean
    return re.fullmatch(rf"(?:@|self::|(?:{_NAME}:)?{_NAME}(?:/|\[|$))[^()]*", p) is not None and not re.search(
        r"[+*]|\s(?:div|mod|-)\s", re.sub(r"'[^']*'|\"[^\"]*\"|\[[^\]]*\]", "", p).replace("/*", "")
    )


HL7_NS = "urn:hl7-org:v3"
_TID_RE = re.compile(rf"^(?:child::)?({_NAME}):templateId/(?:@|attribute::)root\s*=\s*(['\"])([0-9A-Za-z.\-]+)\2$")


def template_id_roots(match: str, nsmap: dict[str | None, str]) -> set[str] | None:
    """The templateId roots one of which the matched element must carry, or None.

    Each ``|`` alternative's final step must be an element step with a top-level ``and``-conjunct
    ``cda:templateId/@root = 'literal'`` (cda bound to the HL7 namespace): then a node the pattern
    matches has a child ``templateId`` whose ``root`` is one of the returned literals.
    """
    alts = _split_top(match, "|")
    if alts is None:
        return None
    roots: set[str] = set()
    for alt in alts:
        steps = _split_top(alt.strip(), "/")
        if not steps or not steps[-1].strip():
            return None
        parts = _step_parts(steps[-1])
        if parts is None or parts[0].startswith(("@", "attribute::")) or "(" in parts[0]:
            return None
        found = None
        for pred in parts[1]:
            ors = _split_top(pred, "or")
            if ors is None or len(ors) != 1:
                continue
            for conj in _split_top(pred, "and") or []:
                m = _TID_RE.match(conj.strip())
                if m and nsmap.get(m.group(1)) == HL7_NS:
                    found = m.group(3)
                    break
            if found:
                break
        if found is None:
            return None
        roots.add(found)
    return roots


@dataclass
class Selection:
    """A superset of the elements a pattern's rules can match, as key roots and element names."""

    roots: set[str] = field(default_factory=set)  # key('sc:tid', roots): a templateId child root
    names: set[str] = field(default_factory=set)  # //Q{ns}name: the final step's element name
    parents: set[str] = field(default_factory=set)  # //Q{ns}name/*: a wildcard step's parent name

    def expression(self, keys: dict[str, str] | None = None) -> str:
        """The selection as XPath; with ``keys`` (match pattern → key name, filled here), element
        names are looked up in keys instead of ``//(a | b | ...)``.

        ``key(K, '')`` of ``<xsl:key name="K" match="a | b | ..." use="''"/>`` is the same node
        set in the same (document) order as ``//(a | b | ...)`` — every element named a, b, ... of
        the document — but Saxon builds it in one pass matching names by fingerprint, where the
        path costs about one child scan per name and node (StrucMin's main pattern selects by 146
        names: ≈ 4 ms per document).
        """
        parts = []
        if self.roots:
            parts.append("key('sc:tid', (" + ", ".join(f"'{r}'" for r in sorted(self.roots)) + "))")
        for names, tail in ((self.names, ""), (self.parents, "/*")):
            if not names:
                continue
            union = " | ".join(sorted(names))
            if keys is None:
                parts.append(f"//({union}){tail}")
            else:
                kname = keys.setdefault(union, f"sc:names-{len(keys) + 1}")
                parts.append(f"key('{kname}', ''){tail}")
        return " | ".join(parts)


def rule_selection(match: str, nsmap: dict[str | None, str]) -> Selection | None:
    """Where the elements a match pattern can match are, or None when not known.

    Per ``|`` alternative, in this order: a templateId root its final step needs
    (:func:`template_id_roots`), else the final step's element name, else — for a ``*`` final step —
    its parent step's element name. Attribute, document-node and function steps give None.
    """
    alts = _split_top(match, "|")
    if alts is None:
        return None
    sel = Selection()
    for alt in alts:
        roots = template_id_roots(alt, nsmap)
        if roots:
            sel.roots |= roots
            continue
        steps = _split_top(alt.strip(), "/")
        if not steps or not steps[-1].strip():
            return None
        last = _step_parts(steps[-1])
        if last is None:
            return None
        head = last[0][len("child::"):] if last[0].startswith("child::") else last[0]
        if head == "*":
            if len(steps) < 2 or not steps[-2].strip():
                return None
            prev = _step_parts(steps[-2])
            if prev is None:
                return None
            head = prev[0][len("child::"):] if prev[0].startswith("child::") else prev[0]
            target = sel.parents
        else:
            target = sel.names
        m = _QNAME_RE.match(head)
        if m is None or m.group(2) == "*" or "::" in head:
            return None
        prefix, local = m.group(1), m.group(2)
        if prefix is not None and prefix not in nsmap:
            return None
        ns = nsmap.get(prefix, "") if prefix is not None else ""
        target.add(f"Q{{{ns}}}{local}")
    return sel


def parent_first(match: str) -> str | None:
    """``P/S[q]/*[p1][p2]`` → ``P/S[q]/*[parent::S][p1][p2]``, or None when not applicable.

    The added predicate is implied by the pattern itself (the matched element's parent matches the
    step ``S``), so the set of matched nodes is unchanged; placed first, it lets Saxon reject most
    elements with one name test instead of the final step's predicates. Only done when every
    predicate of the final step is boolean and position-free (a new first predicate would shift
    ``position()``), and the template priority is explicit (the generated stylesheets always set it).
    """
    if _split_top(match, "|") != [match]:
        return None
    steps = _split_top(match, "/")
    if steps is None or len(steps) < 2:
        return None
    last = _step_parts(steps[-1])
    prev = _step_parts(steps[-2])
    if last is None or prev is None or last[0] != "*" or not last[1]:
        return None
    head = prev[0]
    m = _QNAME_RE.match(head)
    if m is None or m.group(2) == "*" or "::" in head:
        return None
    if not all(_boolean_predicate(p) for p in last[1]):
        return None
    steps[-1] = f"*[parent::{head}]" + steps[-1].strip()[1:]
    return "/".join(steps)



# ---------------------------------------------------------------------------------------------
# The plan: rewritten stylesheet + what to decide per document
# ---------------------------------------------------------------------------------------------


@dataclass
class FastPlan:
    xslt: str
    # pattern mode name ("M3", "D1") -> alternatives; a pattern runs when one alternative's tokens
    # are all in the document. Patterns not listed always run.
    guards: dict[str, list[frozenset[str]]] = field(default_factory=dict)
    modes: list[str] = field(default_factory=list)
    preload: list[Path] = field(default_factory=list)
    keyed_lookups: int = 0
    doc_calls: int = 0
    parent_first: int = 0
    keyed_patterns: int = 0
    parent_dispatched: int = 0

    def to_json(self) -> dict:
        """Everything but the stylesheet text (stored next to it in the cache folder)."""
        return {
            "version": FAST_VERSION,
            "guards": {m: [sorted(alt) for alt in alts] for m, alts in self.guards.items()},
            "modes": self.modes,
            "preload": [str(p) for p in self.preload],
            "keyed_lookups": self.keyed_lookups,
            "doc_calls": self.doc_calls,
            "parent_first": self.parent_first,
            "keyed_patterns": self.keyed_patterns,
            "parent_dispatched": self.parent_dispatched,
        }

    @classmethod
    def from_json(cls, xslt: str, data: dict) -> FastPlan:
        if data.get("version") != FAST_VERSION:
            raise ValueError("fast plan from another version")
        return cls(
            xslt=xslt,
            guards={m: [frozenset(alt) for alt in alts] for m, alts in data["guards"].items()},
            modes=list(data["modes"]),
            preload=[Path(p) for p in data["preload"]],
            keyed_lookups=int(data["keyed_lookups"]),
            doc_calls=int(data["doc_calls"]),
            parent_first=int(data["parent_first"]),
            keyed_patterns=int(data.get("keyed_patterns", 0)),
            parent_dispatched=int(data.get("parent_dispatched", 0)),
        )

    def active(self, tokens: frozenset[str]) -> str:
        """The ``sc:run`` parameter: " M1 M7 ... " (the patterns that may fire on this document)."""
        run = [m for m in self.modes if m not in self.guards or any(alt <= tokens for alt in self.guards[m])]
        return " " + " ".join(run) + " "

    def skipped(self, tokens: frozenset[str]) -> list[str]:
        return [m for m in self.modes if m in self.guards and not any(alt <= tokens for alt in self.guards[m])]


_DOC_CALL_RE = re.compile(r"(?<![\w:.$\-])(doc-available|doc)\s*\(")
_KEYABLE_RE = re.compile(
    rf"sc:doc\((?P<arg>[^()]*(?:\([^()]*\)[^()]*)*)\)\s*//\s*(?P<name>(?:{_NAME}:)?{_NAME})"
    rf"\[\s*text\(\)\s*=\s*(?P<val>string\(\s*\$[\w\-]+\s*\))\s*\]"
)
_XPATH_ATTRS = {
    "when": ("test",), "if": ("test",), "variable": ("select",), "param": ("select",),
    "value-of": ("select",), "sequence": ("select",), "for-each": ("select",),
    "apply-templates": ("select",), "copy-of": ("select",), "with-param": ("select",),
}


def _visits_elements_only(root: etree._Element) -> bool:
    """True when rule templates recurse with ``select="*"`` only (no attribute visits)."""
    for at in root.iter(_X + "apply-templates"):
        mode = (at.get("mode") or "").strip()
        if at.get("select") not in ("*", "/") and (re.fullmatch(r"[MD]\d+", mode) or mode == "#current"):
            return False
    return True


def _key_dispatch(root: etree._Element, main: etree._Element, result: FastPlan) -> None:
    """Replace the full traversal of a pattern by a selection of the elements it can fire on.

    A pattern qualifies when, for every one of its rules, :func:`rule_selection` gives a superset of
    the elements the rule can match (the elements carrying a ``cda:templateId`` with a known root —
    ``key('sc:tid', roots)`` —, or the elements of the final step's name, or the children of the
    wildcard step's parent name), every rule body ends with the recursion
    ``<xsl:apply-templates select="*" mode="Mn"/>`` and has no other traversal, and nothing in it uses
    ``position()`` or ``last()`` (whose values depend on how the template was reached). The ISO
    traversal visits every element once, in document order, and fires the first matching rule of the
    pattern; the rewrite visits the union of the rules' supersets, also in document order (a union
    and ``key()`` both return document order without duplicates), with the same templates and
    priorities moved into a new mode without the recursion. A selected element no rule matches falls
    to a no-op default template; an element not selected could not have matched any rule.
    """
    by_mode: dict[str, list[etree._Element]] = {}
    for t in root.iterchildren(_X + "template"):
        mode = (t.get("mode") or "").strip()
        if re.fullmatch(r"[MD]\d+", mode) and t.get("match"):
            by_mode.setdefault(mode, []).append(t)
    new_modes: list[str] = []
    name_keys: dict[str, str] = {}
    for at in list(main.iter(_X + "apply-templates")):
        mode = (at.get("mode") or "").strip()
        rules = by_mode.get(mode)
        if at.get("select") != "/" or not rules:
            continue
        sel = Selection()
        ok = True
        for t in rules:
            r = rule_selection(t.get("match") or "", dict(t.nsmap))
            last = t[-1] if len(t) else None
            inner = [a for a in t.iter(_X + "apply-templates", _X + "call-template", _X + "next-match",
                                       _X + "apply-imports") if a is not last]
            text = etree.tostring(t, encoding="unicode")
            if (
                r is None
                or last is None
                or last.tag != _X + "apply-templates"
                or last.get("select") != "*"
                or (last.get("mode") or "").strip() != mode
                or len(last)
                or (last.tail or "").strip()
                or inner
                or "position()" in text
                or "last()" in text
            ):
                ok = False
                break
            sel.roots |= r.roots
            sel.names |= r.names
            sel.parents |= r.parents
        if not ok or not (sel.roots or sel.names or sel.parents):
            continue
        kmode = "K" + mode[1:] if mode.startswith("M") else "KD" + mode[1:]
        if _parent_dispatch(rules, at, sel, kmode, new_modes, name_keys):
            result.parent_dispatched += 1
            result.keyed_patterns += 1
            continue
        for t in rules:  # moved (not copied): mode Mn is no longer applied anywhere
            t.set("mode", kmode)
            t.remove(t[-1])
        at.set("select", sel.expression(name_keys))
        at.set("mode", kmode)
        new_modes.append(kmode)
        result.keyed_patterns += 1
    if new_modes and "key('sc:tid'" in "".join(
        a.get("select") or "" for a in main.iter(_X + "apply-templates")
    ):
        key = etree.Element(_X + "key")
        key.set("name", "sc:tid")
        key.set("match", "*")
        key.set("use", f"Q{{{HL7_NS}}}templateId/@root")
        main.addprevious(key)
    for union, kname in name_keys.items():
        key = etree.Element(_X + "key")
        key.set("name", kname)
        key.set("match", union)
        key.set("use", "''")
        main.addprevious(key)
    if new_modes:
        default = etree.Element(_X + "template")
        default.set("match", "node()|@*")
        default.set("priority", "-2")
        default.set("mode", " ".join(new_modes))
        main.addprevious(default)


PARENT_DISPATCH_MIN_RULES = 8


def _parent_dispatch(
    rules: list[etree._Element], at: etree._Element, sel: Selection, kmode: str, new_modes: list[str],
    keys: dict[str, str],
) -> bool:
    """A pattern of wildcard rules only (``.../P/*[...]``): each element tries only its parent's rules.

    StrucMin's closed-template pattern has 148 rules ``.../P/*[not(self::a | self::b ...)]``, all
    ending in ``*``: Saxon cannot index them by name, so every selected element is tested against
    all 148 patterns in priority order (and, on a conforming document, none matches). An element
    whose parent is named ``P`` can only match the rules with an alternative ``.../P/*`` (the step
    before ``*`` is a child step, so it is the parent's name). Here each such group of rules gets a
    mode of its own (a rule with several parents belongs to several modes, same priority, same
    declaration order, so the same rule wins among those that match), and the traversal goes, in
    document order, from each selected element to its parent, which a template matching the
    parent's name — indexed by name by Saxon — sends back to the element in its group's mode. The
    element, the rules it can match and their order are those of the plain selection
    (:func:`_key_dispatch`), so the fired rule and its output are the same.
    """
    if sel.roots or sel.names or len(rules) < PARENT_DISPATCH_MIN_RULES:
        return False
    per_rule: list[list[str]] = []
    for t in rules:
        r = rule_selection(t.get("match") or "", dict(t.nsmap))
        if r is None or r.roots or r.names or not r.parents:
            return False
        per_rule.append(sorted(r.parents))
    group = {name: f"{kmode}p{i + 1}" for i, name in enumerate(sorted(sel.parents))}
    dmode = kmode + "P"
    # parent name -> parent-step predicates -> names no rule of that class can match
    classes: dict[str, dict[tuple[str, ...], set[str]]] = {}
    unfiltered: set[str] = set()
    root_ns = dict(at.getroottree().getroot().nsmap)
    for t, parents in zip(rules, per_rule, strict=True):
        t.set("mode", " ".join(group[p] for p in parents))
        t.remove(t[-1])
        match = t.get("match") or ""
        steps = _split_top(match, "/") or []
        prev = _step_parts(steps[-2]) if len(steps) >= 2 and len(parents) == 1 else None
        if prev is None or dict(t.nsmap) != root_ns:
            unfiltered.update(parents)
            continue
        # the parent step's own predicates, when they can be re-evaluated on the parent as is
        preds = tuple(prev[1]) if all(_boolean_predicate(q) and "current()" not in q for q in prev[1]) else ()
        names = excluded_names(match, dict(t.nsmap))
        cls = classes.setdefault(parents[0], {})
        cls[preds] = names if preds not in cls else cls[preds] & names
    first_rule = rules[0]
    for name, gmode in group.items():
        d = etree.Element(_X + "template")
        d.set("match", name)
        d.set("mode", dmode)
        param = etree.SubElement(d, _X + "param")
        param.set("name", "sc:c")
        param.set("as", "element()")
        app = etree.SubElement(d, _X + "apply-templates")
        cond = None if name in unfiltered else _group_filter(classes.get(name, {}))
        app.set("select", f"$sc:c[{cond}]" if cond else "$sc:c")
        app.set("mode", gmode)
        first_rule.addprevious(d)
    loop = etree.Element(_X + "for-each")
    loop.set("select", sel.expression(keys))
    app = etree.SubElement(loop, _X + "apply-templates")
    app.set("select", "..")
    app.set("mode", dmode)
    wp = etree.SubElement(app, _X + "with-param")
    wp.set("name", "sc:c")
    wp.set("select", ".")
    loop.tail = at.tail
    at.getparent().replace(at, loop)
    new_modes.extend([dmode, *group.values()])
    return True


def _group_filter(classes: dict[tuple[str, ...], set[str]]) -> str | None:
    """A necessary condition for a child to match a rule of a parent group, or None (no filter).

    The rules of a group fall into classes by the predicates of their parent step
    (``addr[streetAddressLine]`` / ``addr[not(streetAddressLine)]``); a child can match a rule of a
    class only if its parent satisfies those predicates (boolean and position-free, so the same on a
    ``parent::`` step) and its name is not one every rule of the class excludes
    (:func:`excluded_names`). The filter is the disjunction over classes: a child failing it matches
    no rule of the group, and applying the group's mode to it would only reach the no-op default.
    """
    disjuncts = []
    for preds, names in sorted(classes.items()):
        parts = []
        if names:
            qnames = ", ".join(
                "QName('{}', '{}')".format(*re.fullmatch(r"Q\{([^}]*)\}(.+)", q).groups()) for q in sorted(names)
            )
            parts.append(f"not(node-name(.) = ({qnames}))")
        if preds:
            parts.append("parent::*" + "".join(f"[{q}]" for q in preds))
        if not parts:
            return None
        disjuncts.append(" and ".join(parts))
    if not disjuncts:
        return None
    return " or ".join(f"({d})" for d in disjuncts)


def excluded_names(match: str, nsmap: dict[str | None, str]) -> set[str]:
    """Element names (``Q{ns}local``) a single-alternative ``.../*[...]`` rule can never match.

    A predicate ``not(self::a | self::b[q] | self::c)`` of the final step is false for an element
    named ``a`` or ``c`` (their ``self::`` step selects it whatever else holds), so the rule cannot
    match it; conditioned entries (``self::b[q]``) exclude nothing. ART-DECOR's closed templates
    list the allowed children of an element this way.
    """
    alts = _split_top(match, "|")
    if alts is None or len(alts) != 1:
        return set()
    steps = _split_top(match, "/")
    last = _step_parts(steps[-1]) if steps else None
    if last is None or last[0] != "*":
        return set()
    out: set[str] = set()
    for pred in last[1]:
        pred = pred.strip()
        if not (pred.startswith("not(") and pred.endswith(")")):
            continue
        inner = pred[4:-1]
        if _split_top(inner, ",") is None or _split_top(inner, ",") != [inner]:
            continue  # unbalanced, or "not(...) and (...)" split wrongly
        entries = _split_top(inner, "|")
        if entries is None or len(entries) < 2 and not entries[0].strip().startswith("self::"):
            continue
        for e in entries:
            m = re.fullmatch(rf"\s*self::((?:{_NAME}:)?{_NAME})\s*", e)
            if m is None:
                continue
            q = _QNAME_RE.match(m.group(1))
            prefix, local = q.group(1), q.group(2)
            if prefix is not None and prefix not in nsmap:
                continue
            out.add(f"Q{{{nsmap.get(prefix, '') if prefix is not None else ''}}}{local}")
    return out


def _rewrite_expr(expr: str, keys: dict[str, str]) -> tuple[str, int, int]:
    """doc()/doc-available() → sc:doc()/sc:doc-available(), then doc(X)//n[text() = v] → key()."""
    if "doc" not in expr:
        return expr, 0, 0
    # Leave string literals alone.
    pieces = re.split(r"('[^']*'|\"[^\"]*\")", expr)
    calls = 0
    for i in range(0, len(pieces), 2):
        pieces[i], n = _DOC_CALL_RE.subn(lambda m: f"sc:{m.group(1)}(", pieces[i])
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


def _doc_literals(root: etree._Element) -> list[str]:
    """String literals of the stylesheet that look like paths to XML/RDF resources or folders."""
    lits: list[str] = []
    for el in root.iter():
        if not isinstance(el.tag, str) or not el.tag.startswith(_X):
            continue
        for attr in ("select", "test"):
            v = el.get(attr)
            if not v:
                continue
            for m in re.finditer(r"'([^'\s]+)'|\"([^\"\s]+)\"", v):
                lit = m.group(1) or m.group(2)
                if lit.endswith(("/",) + _PRELOAD_SUFFIXES) and "{" not in lit:
                    lits.append(lit)
    return lits


def _preload_targets(base_uri: str, literals: list[str], roots: tuple[Path, ...]) -> list[Path]:
    """Files the stylesheet may open: literal files, and every XML/RDF file of a literal folder."""
    parsed = urlparse(base_uri)
    if parsed.scheme != "file":
        return []
    base_dir = Path(unquote(parsed.path)).parent
    found: list[Path] = []
    seen: set[Path] = set()
    total = 0
    for lit in dict.fromkeys(literals):
        if "://" in lit or lit.startswith("file:"):
            p = Path(unquote(urlparse(lit).path))
        else:
            p = (base_dir / lit).resolve()
        cands = (
            sorted(q for q in p.iterdir() if q.suffix.lower() in _PRELOAD_SUFFIXES)
            if lit.endswith("/") and p.is_dir() else [p]
        )
        for q in cands:
            q = q.resolve()
            if q in seen or not q.is_file():
                continue
            if roots and not any(q.is_relative_to(r) for r in roots):
                continue  # never preload anything outside the kit and the cache folder
            size = q.stat().st_size
            if len(found) >= MAX_PRELOAD_FILES or total + size > MAX_PRELOAD_BYTES:
                return found
            seen.add(q)
            found.append(q)
            total += size
    return found


_SUPPORT = """<xsl:stylesheet xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
 xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:map="http://www.w3.org/2005/xpath-functions/map"
 xmlns:sc="urn:segur-conformance:schematron">
<xsl:param name="sc:run" as="xs:string" select="'*'"/>
<xsl:param name="sc:docs" as="map(xs:string, document-node())" select="map{}"/>
<xsl:function name="sc:uri-key" as="xs:string?">
  <xsl:param name="uri" as="xs:string?"/>
  <xsl:sequence select="if (exists($uri) and matches($uri, '^[A-Za-z0-9._/\\-]+$'))
      then replace(string(resolve-uri($uri, static-base-uri())), '^file:/+', 'file:/') else ()"/>
</xsl:function>
<xsl:function name="sc:doc" as="document-node()?">
  <xsl:param name="uri" as="xs:string?"/>
  <xsl:variable name="k" select="sc:uri-key($uri)"/>
  <xsl:sequence select="if (exists($k) and exists($sc:docs($k))) then $sc:docs($k) else doc($uri)"/>
</xsl:function>
<xsl:function name="sc:doc-available" as="xs:boolean">
  <xsl:param name="uri" as="xs:string?"/>
  <xsl:variable name="k" select="sc:uri-key($uri)"/>
  <xsl:sequence select="if (exists($k) and exists($sc:docs($k))) then true() else doc-available($uri)"/>
</xsl:function>
</xsl:stylesheet>"""


def uri_key(path: Path) -> str:
    """The map key of a preloaded file (the form ``sc:uri-key`` computes in the stylesheet)."""
    return "file:/" + path.resolve().as_posix().lstrip("/")


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
                guard.set("test", f"$sc:run = '*' or contains($sc:run, ' {mode} ')")
                parent = at.getparent()
                idx = parent.index(at)
                guard.tail = at.tail
                at.tail = None
                parent.remove(at)
                guard.append(at)
                parent.insert(idx, guard)

    # 1c. patterns whose every rule needs a templateId root: visit only the elements carrying one
    if main is not None and _visits_elements_only(root):
        _key_dispatch(root, main, result)

    # 2. doc()/doc-available() through the preloaded map, scans through keys
    keys: dict[str, str] = {}
    for el in root.iter():
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
        result.preload = _preload_targets(base, _doc_literals(root), tuple(r.resolve() for r in confine_to))
    result.xslt = etree.tostring(root, encoding="unicode")
    return result
