"""Static analysis of the XPath match patterns of a generated schematron XSLT (issue 16 fast path).

What the rewrites of :mod:`conformance.cda.fastsch` need to know about a rule context: the element
names and attribute values it requires of a document (:func:`context_requirements`, against
:func:`document_tokens`), the templateId roots or element names that bound what it can match
(:func:`template_id_roots`, :func:`rule_selection`), the parent-name test that can go first
(:func:`parent_first`). A small scanner (strings, brackets and parentheses aware) underlies them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lxml import etree

XSL_NS = "http://www.w3.org/1999/XSL/Transform"
SC_NS = "urn:segur-conformance:schematron"
_X = f"{{{XSL_NS}}}"

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
            alternatives = _split_top(inner, "or")
            if alternatives is not None and len(alternatives) > 1:
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
    """The tokens a document offers: ``e:{ns}local`` per element name, ``a:name=value`` per attribute
    without a namespace (elements only: ``iter(etree.Element)`` skips comments and PIs; names collected
    first, then prefixed once each — ≈ 0.3 ms less per document than prefixing each element's)."""
    toks: set[str] = set()
    tags: set[str] = set()
    add = toks.add
    for el in tree.getroot().iter(etree.Element):
        tags.add(el.tag)
        for k, v in el.items():
            if k[0] != "{":
                add(f"a:{k}={v}")
    toks.update(("e:" + t) if t[0] == "{" else ("e:{}" + t) for t in tags)
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


NAME_KEY = "sc:byname"  # <xsl:key name="sc:byname" match="*" use="node-name(.)"/>, one per stylesheet
_EQNAME_RE = re.compile(r"Q\{([^{}']*)\}([^\s{}'|]+)")


def qname_sequence(union: str) -> str:
    """``Q{ns}a | Q{ns}b`` → ``(QName('ns', 'a'), QName('ns', 'b'))``: the values of the name index."""
    names = [n.strip() for n in union.split("|")]
    parts = []
    for n in names:
        m = _EQNAME_RE.fullmatch(n)
        if m is None:
            raise ValueError(f"not an EQName: {n!r}")
        parts.append(f"QName('{m.group(1)}', '{m.group(2)}')")
    return "(" + ", ".join(parts) + ")"


@dataclass
class Selection:
    """A superset of the elements a pattern's rules can match, as key roots and element names."""

    roots: set[str] = field(default_factory=set)  # key('sc:tid', roots): a templateId child root
    names: set[str] = field(default_factory=set)  # //Q{ns}name: the final step's element name
    parents: set[str] = field(default_factory=set)  # //Q{ns}name/*: a wildcard step's parent name

    def expression(self, keys: dict[str, str] | None = None) -> str:
        """The selection as XPath; with ``keys`` (name union → variable name, filled here), element
        names are looked up in the stylesheet's name index instead of ``//(a | b | ...)``.

        ``key('sc:byname', $N)`` of ``<xsl:key name="sc:byname" match="*" use="node-name(.)"/>``,
        with ``$N`` the sequence ``(QName(ns-a, 'a'), QName(ns-b, 'b'), ...)``, is the same node set
        in the same (document) order as ``//(a | b | ...)``: every element whose expanded name is
        one of them (``key()`` returns the union of the nodes of each value, in document order,
        without duplicates). The path costs about one child scan per name and node (StrucMin's main
        pattern selects by 146 names: ≈ 4 ms per document). One name index serves every selection
        of the stylesheet: Saxon builds it in one pass per document, one hash per element, where a
        key per union (``match="a | b | ..." use="''"``, the previous form) cost one pass each,
        testing the union's names one by one (StrucMin's two unions: ≈ 1 ms each per document,
        the name index ≈ 0.3 ms).
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
                vname = keys.setdefault(union, f"sc:names-{len(keys) + 1}")
                parts.append(f"key('{NAME_KEY}', ${vname}){tail}")
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
