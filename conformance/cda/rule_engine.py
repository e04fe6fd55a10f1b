"""The one rule engine of layer 3: each rule kind evaluated on a parsed document, findings built with
the severity policy applied once, and the registry of named Python checks (``kind: check``)."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from conformance.cda.model_loader import ModelLibrary
from conformance.cda.model_types import (
    SEVERITIES,
    UNCONFIRMED,
    XPATH_NS,
    Model,
    Rule,
    ValueSet,
    walk_rules,
)
from conformance.findings import Finding, Severity


@dataclass
class EvalContext:
    """What a rule may need besides the document: who produced it and against which identity."""

    artefact: str
    library: ModelLibrary
    dui: bool = False
    resident: Mapping[str, Any] | None = None
    test_environment: bool = False
    kit_only_reported: set[str] = field(default_factory=set)


CheckFn = Callable[[etree._Element, EvalContext, Rule, tuple[str, ...]], list[Finding]]
_CHECKS: dict[str, CheckFn] = {}


def register_check(name: str) -> Callable[[CheckFn], CheckFn]:
    def deco(fn: CheckFn) -> CheckFn:
        _CHECKS[name] = fn
        return fn

    return deco


@functools.lru_cache(maxsize=4096)
def _xpath(expr: str) -> etree.XPath:
    return etree.XPath(expr, namespaces=XPATH_NS)


def evaluate_xpath(expr: str, node: etree._Element) -> Any:
    return _xpath(expr)(node)


def as_list(result: Any) -> list[Any]:
    if isinstance(result, list):
        return result
    if isinstance(result, bool):
        return [True] if result else []
    if isinstance(result, float):
        return [result] if result else []
    return [result] if result not in (None, "") else []


def _truthy(result: Any) -> bool:
    return bool(as_list(result))


def readable_path(el: etree._Element) -> str:
    """``/ClinicalDocument/component/structuredBody/component[3]/section``: prefix-free, 1-based."""
    parts: list[str] = []
    node: etree._Element | None = el
    while node is not None:
        if not isinstance(node.tag, str):
            node = node.getparent()
            continue
        name = etree.QName(node).localname
        parent = node.getparent()
        if parent is not None:
            same = [c for c in parent if isinstance(c.tag, str) and c.tag == node.tag]
            if len(same) > 1:
                name += f"[{same.index(node) + 1}]"
        parts.append(name)
        node = parent
    return "/" + "/".join(reversed(parts))


def locate(node: Any, fallback: etree._Element) -> tuple[str, int | None]:
    if isinstance(node, etree._Element):
        return readable_path(node), node.sourceline
    parent = getattr(node, "getparent", lambda: None)()
    if isinstance(parent, etree._Element):
        suffix = f"/@{node.attrname}" if getattr(node, "is_attribute", False) else ""
        return readable_path(parent) + suffix, parent.sourceline
    return readable_path(fallback), fallback.sourceline


def node_value(node: Any) -> str:
    if isinstance(node, etree._Element):
        return "".join(node.itertext()).strip()
    if isinstance(node, float):
        return str(int(node)) if node.is_integer() else str(node)
    return str(node)


def _show(value: str, limit: int = 80) -> str:
    return value if len(value) <= limit else value[:limit] + "…"


def _strip_prefix(expr: str) -> str:
    return expr.replace("h:", "")


class Emitter:
    """Builds the findings of one rule with the severity policy applied once."""

    def __init__(self, rule: Rule, ctx: EvalContext, requirements: tuple[str, ...]) -> None:
        self.rule = rule
        self.ctx = ctx
        self.requirements = rule.requirements or requirements
        sev = rule.dui_severity if (ctx.dui and rule.dui_severity) else rule.severity
        if (rule.verified in UNCONFIRMED or rule.basis == "inferred") and sev == "error":
            sev = "warning"
        self.severity = SEVERITIES[sev]

    def finding(self, *, xpath: str, line: int | None, expected: str = "", found: str = "",
                suffix: tuple[str, str] = ("", ""), severity: Severity | None = None) -> Finding:
        rule = self.rule
        note = ""
        note_en = ""
        if rule.verified in UNCONFIRMED or rule.basis == "inferred":
            note, note_en = " (règle déduite, non confirmée)", " (inferred rule, not confirmed)"
        return Finding(
            message=rule.message + suffix[0] + note, message_en=rule.message_en + suffix[1] + note_en,
            severity=severity or self.severity, rule=rule.id, artefact=self.ctx.artefact, xpath=xpath, line=line,
            expected=_show(rule.expected or expected, 200), found=_show(found, 200), requirements=self.requirements,
        )


def _contexts(rule: Rule, parent: etree._Element) -> list[etree._Element]:
    nodes = [n for n in as_list(evaluate_xpath(rule.context, parent)) if isinstance(n, etree._Element)]
    if rule.when:
        nodes = [n for n in nodes if _truthy(evaluate_xpath(rule.when, n))]
    return nodes


def evaluate_rules(rules: Iterable[Rule], parent: etree._Element, ctx: EvalContext,
                   requirements: tuple[str, ...]) -> list[Finding]:
    out: list[Finding] = []
    for rule in rules:
        try:
            contexts = _contexts(rule, parent)
            if rule.kind == "check":
                if contexts:
                    out.extend(_run_check(rule, parent, ctx, requirements))
                continue
            for node in contexts:
                if rule.kind == "when":
                    out.extend(evaluate_rules(rule.rules, node, ctx, requirements))
                else:
                    out.extend(_evaluate(rule, node, ctx, requirements))
        except etree.XPathError as exc:  # a model bug must not hide the other rules
            out.append(Finding(
                message=f"règle {rule.id} non évaluée : XPath invalide ({exc})",
                message_en=f"rule {rule.id} not evaluated: invalid XPath ({exc})", severity=Severity.ERROR,
                rule="CDA.MODEL.NOT_EVALUATED", artefact=ctx.artefact, requirements=rule.requirements or requirements))
    return out


def _run_check(rule: Rule, root: etree._Element, ctx: EvalContext, requirements: tuple[str, ...]) -> list[Finding]:
    fn = _CHECKS.get(rule.check)
    if fn is None:
        _load_builtin_checks()
        fn = _CHECKS.get(rule.check)
    if fn is None:
        return [Finding(message=f"contrôle {rule.check!r} inconnu : règle {rule.id} non évaluée",
                        message_en=f"unknown check {rule.check!r}: rule {rule.id} not evaluated",
                        severity=Severity.ERROR, rule="CDA.MODEL.NOT_EVALUATED", artefact=ctx.artefact,
                        requirements=rule.requirements or requirements)]
    return fn(root.getroottree().getroot(), ctx, rule, rule.requirements or requirements)


def _evaluate(rule: Rule, node: etree._Element, ctx: EvalContext, requirements: tuple[str, ...]) -> list[Finding]:
    emit = Emitter(rule, ctx, requirements)
    here, line = readable_path(node), node.sourceline
    target = f"{here}/{_strip_prefix(rule.xpath)}" if rule.xpath else here
    if rule.kind == "assert":
        if _truthy(evaluate_xpath(rule.test, node)):
            return []
        return [emit.finding(xpath=here, line=line, expected=_strip_prefix(rule.test), found="condition non remplie")]
    result = evaluate_xpath(rule.xpath, node)
    items = as_list(result)
    if rule.kind == "exists":
        return [] if items else [emit.finding(xpath=target, line=line, expected="présent", found="absent")]
    if rule.kind == "absent":
        out = []
        for item in items if isinstance(result, list) else ([node] if items else []):
            where, ln = locate(item, node)
            out.append(emit.finding(xpath=where, line=ln, expected="absent", found=node_value(item) or "présent"))
        return out
    if rule.kind == "count":
        n = len(items) if isinstance(result, list) else int(result or 0)
        if (rule.min is not None and n < rule.min) or (rule.max is not None and n > rule.max):
            lo = "" if rule.min is None else str(rule.min)
            hi = "*" if rule.max is None else str(rule.max)
            expected = lo if lo == hi else f"{lo or 0}..{hi}"
            where, ln = (target, line)
            if rule.max is not None and n > rule.max and isinstance(result, list):
                where, ln = locate(items[rule.max], node)
            return [emit.finding(xpath=where, line=ln, expected=expected, found=str(n))]
        return []
    if rule.kind in ("equals", "regex"):
        if not items:
            if rule.required:
                return [emit.finding(xpath=target, line=line, expected=_expected(rule), found="absent")]
            return []
        out = []
        for item in items:
            value = node_value(item)
            ok = value in rule.values if rule.kind == "equals" else re.fullmatch(rule.pattern, value) is not None
            if not ok:
                where, ln = locate(item, node)
                out.append(emit.finding(xpath=where, line=ln, expected=_expected(rule), found=value or "(vide)"))
        return out
    if rule.kind == "in_valueset":
        return _in_valueset(rule, emit, items, node, target, line)
    if rule.kind == "covers_valueset":
        return _covers_valueset(rule, emit, items, here, line)
    return []


def _expected(rule: Rule) -> str:
    if rule.kind == "equals":
        return " | ".join(rule.values)
    return rule.pattern


def _kit_only(rule: Rule, emit: Emitter, vs: ValueSet, target: str, line: int | None) -> list[Finding]:
    """A value set we do not ship and no kit was given: say once that the rule did not run."""
    ctx = emit.ctx
    if rule.id in ctx.kit_only_reported:
        return []
    ctx.kit_only_reported.add(rule.id)
    return [emit.finding(xpath=target, line=line, expected=vs.name, found="non vérifié",
                         suffix=(f" — non vérifié : {vs.name} n'est pas intégré, fournir --cisis-kit",
                                 f" — not checked: {vs.name} is not built in, give --cisis-kit"),
                         severity=Severity.INFO)]


def _covers_valueset(rule: Rule, emit: Emitter, items: list[Any], target: str, line: int | None) -> list[Finding]:
    vs = emit.ctx.library.valuesets[rule.valueset]
    if vs.empty:
        return _kit_only(rule, emit, vs, target, line)
    present = {(i.get("code") if isinstance(i, etree._Element) else node_value(i)) for i in items}
    missing = [code for code in vs.concepts if code not in present]
    if not missing:
        return []
    return [emit.finding(xpath=target, line=line, expected=f"{len(vs.concepts)} codes de {vs.name}",
                         found="manquants : " + ", ".join(missing))]


def _in_valueset(rule: Rule, emit: Emitter, items: list[Any], node: etree._Element, target: str,
                 line: int | None) -> list[Finding]:
    ctx = emit.ctx
    vs = ctx.library.valuesets[rule.valueset]
    if not items:
        if rule.required:
            return [emit.finding(xpath=target, line=line, expected=vs.name, found="absent")]
        return []
    if vs.empty:
        return _kit_only(rule, emit, vs, target, line)
    out: list[Finding] = []
    for item in items:
        where, ln = locate(item, node)
        if isinstance(item, etree._Element):
            if item.get("nullFlavor") is not None and item.get("code") is None:
                if not rule.allow_null_flavor:
                    out.append(emit.finding(xpath=where, line=ln, expected=vs.name,
                                            found=f"nullFlavor={item.get('nullFlavor')}"))
                continue
            code, system = item.get("code") or "", item.get("codeSystem") or ""
        else:
            code, system = node_value(item), ""
        systems = vs.concepts.get(code)
        if systems is None:
            if vs.complete:
                out.append(emit.finding(xpath=where, line=ln, expected=vs.name, found=code or "(vide)"))
            else:
                out.append(emit.finding(
                    xpath=where, line=ln, expected=vs.name, found=code or "(vide)", severity=min_severity(
                        emit.severity, Severity.WARNING),
                    suffix=(f" (absent du sous-ensemble intégré {vs.version} ; fournir --cisis-kit pour la liste complète)",
                            f" (not in the built-in subset {vs.version}; give --cisis-kit for the full list)")))
            continue
        if rule.check_system and system and "" not in systems and system not in systems:
            out.append(emit.finding(xpath=where, line=ln, expected=f"{code} @ {' | '.join(sorted(systems))}",
                                    found=f"{code} @ {system}",
                                    suffix=(" (système de codage incorrect)", " (wrong code system)")))
    return out


def min_severity(a: Severity, b: Severity) -> Severity:
    order = [Severity.INFO, Severity.WARNING, Severity.ERROR]
    return order[min(order.index(a), order.index(b))]


def run_model(model: Model, root: etree._Element, ctx: EvalContext) -> list[Finding]:
    """All findings of one model, plus one INFO recording that it ran (a point of verification)."""
    findings = evaluate_rules(model.rules, root, ctx, model.requirements)
    if not any(f.is_error for f in findings):
        findings.append(Finding(
            message=f"modèle « {model.title} » : {sum(1 for _ in walk_rules(model.rules))} règles vérifiées, aucune erreur",
            message_en=f"model \"{model.title}\": {sum(1 for _ in walk_rules(model.rules))} rules checked, no error",
            severity=Severity.INFO, rule=f"CDA.MODEL.{model.id}", artefact=ctx.artefact,
            requirements=model.requirements))
    return findings


def run_models(tree: etree._ElementTree | etree._Element, artefact: str, doc_type: str, structured: bool, *,
               library: ModelLibrary | None = None, dui: bool = False, resident: Mapping[str, Any] | None = None,
               test_environment: bool = False, skip: Iterable[str] = ()) -> tuple[list[Finding], list[str]]:
    """Run every model that applies to ``doc_type`` (but those in ``skip``); returns (findings, models run)."""
    lib = library or ModelLibrary.default()
    root = tree.getroot() if isinstance(tree, etree._ElementTree) else tree
    ctx = EvalContext(artefact=artefact, library=lib, dui=dui, resident=resident, test_environment=test_environment)
    findings: list[Finding] = []
    ran: list[str] = []
    skipped = set(skip)
    for model in lib.models_for(doc_type, structured):
        if model.id in skipped:
            continue
        findings.extend(run_model(model, root, ctx))
        ran.append(model.id)
    return findings, ran



def _load_builtin_checks() -> None:
    """The named checks live with their code (header checks here, N1 with the N1 code); importing registers."""
    import conformance.cda.header_checks  # noqa: F401
    import conformance.cda.n1  # noqa: F401
