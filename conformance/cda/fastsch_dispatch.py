"""Per-pattern dispatch of the fast path (issue 16, :mod:`conformance.cda.fastsch`): a pattern's full
traversal replaced by a selection of the elements its rules can fire on (:func:`_key_dispatch`), and
for a pattern of wildcard rules only, each element trying only its parent's rules
(:func:`_parent_dispatch`, :func:`_group_filter`, :func:`excluded_names`).
"""

from __future__ import annotations

import re

from lxml import etree

from conformance.cda.fastsch_cache import FastPlan
from conformance.cda.fastsch_xpath import (
    _NAME,
    _QNAME_RE,
    _X,
    HL7_NS,
    NAME_KEY,
    Selection,
    _boolean_predicate,
    _split_top,
    _step_parts,
    qname_sequence,
    rule_selection,
)


def _visits_elements_only(root: etree._Element) -> bool:
    """True when rule templates recurse with ``select="*"`` only (no attribute visits)."""
    for at in root.iter(_X + "apply-templates"):
        mode = (at.get("mode") or "").strip()
        if at.get("select") not in ("*", "/") and (re.fullmatch(r"[MD]\d+", mode) or mode == "#current"):
            return False
    return True


def _is_default_template(t: etree._Element) -> bool:
    """One of the generated no-op templates every pattern mode shares: ``text()`` (empty) or
    ``@*|node()`` whose only content is ``<xsl:apply-templates select="*" mode="#current"/>``."""
    match = (t.get("match") or "").replace(" ", "")
    if (t.text or "").strip():
        return False
    if match == "text()":
        return len(t) == 0
    if match == "@*|node()" and len(t) == 1:
        at = t[0]
        return (at.tag == _X + "apply-templates" and at.get("select") == "*" and at.get("mode") == "#current"
                and not len(at) and not (at.tail or "").strip() and set(at.attrib) == {"select", "mode"})
    return False


def _drop_empty_traversals(root: etree._Element, main: etree._Element, result: FastPlan) -> None:
    """Do not walk the document for a pattern whose walk can write nothing.

    Two exact cases, from the generated form (each pattern mode has, besides its rules, only the
    shared no-op templates of :func:`_is_default_template`): a pattern without any rule — its
    ``<xsl:apply-templates select="/" mode="Mn"/>`` visits every element and writes nothing, so it
    is removed (StrucMin's first pattern, ModelesDeContenusCDA's last); and a pattern whose rules all
    match ``/`` only — the recursion ending its rules visits elements, which no rule of the pattern
    can match, so it writes nothing and is removed (StrucMin's second pattern). Each walk costs
    about 0.5 ms on a VSM or DLU.
    """
    rules_of: dict[str, list[etree._Element]] = {}
    for t in root.iterchildren(_X + "template"):
        if _is_default_template(t):
            continue
        for mode in (t.get("mode") or "").split():
            rules_of.setdefault(mode, []).append(t)
    for at in list(main.iter(_X + "apply-templates")):
        mode = (at.get("mode") or "").strip()
        if at.get("select") != "/" or not re.fullmatch(r"[MD]\d+", mode) or len(at):
            continue
        rules = rules_of.get(mode, [])
        if not rules:
            parent = at.getparent()
            if parent is None or (at.tail or "").strip():
                continue
            parent.remove(at)  # its tail is whitespace, which a stylesheet ignores
            result.dropped_walks += 1
        elif all((t.get("match") or "").strip() == "/" and t.get("mode") == mode for t in rules):
            for t in rules:
                last = t[-1] if len(t) else None
                if (last is not None and last.tag == _X + "apply-templates" and last.get("select") == "*"
                        and last.get("mode") == mode and not len(last) and not (last.tail or "").strip()):
                    t.remove(last)
                    result.dropped_walks += 1


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
        # a stylesheet of one pattern gives its no-op templates that pattern's mode alone (terminologie)
        if re.fullmatch(r"[MD]\d+", mode) and t.get("match") and not _is_default_template(t):
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
    if name_keys:  # one name index, and the names of each selection as a sequence of QNames
        key = etree.Element(_X + "key")
        key.set("name", NAME_KEY)
        key.set("match", "*")
        key.set("use", "node-name(.)")
        main.addprevious(key)
    for union, vname in name_keys.items():
        var = etree.Element(_X + "variable")
        var.set("name", vname)
        var.set("select", qname_sequence(union))
        main.addprevious(var)
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


def _clark(q: str) -> tuple[str, str]:
    """(namespace, local name) of a ``Q{ns}local`` name."""
    ns, _sep, local = q[2:].partition("}")
    return ns, local


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
            qnames = ", ".join("QName('{}', '{}')".format(*_clark(q)) for q in sorted(names))
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
            if q is None:
                continue
            prefix, local = q.group(1), q.group(2)
            if prefix is not None and prefix not in nsmap:
                continue
            out.add(f"Q{{{nsmap.get(prefix, '') if prefix is not None else ''}}}{local}")
    return out
