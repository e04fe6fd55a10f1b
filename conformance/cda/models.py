"""Layer 3: the built-in document models, as data, run by one generic rule engine.

Why data and one engine rather than a module per volet: the CI-SIS volets differ only in *which*
templateIds, codes, sections and value sets they demand (cda.md §2–§7). Writing those as rules in
``profiles/documents/*.yaml`` keeps each rule next to its source and its confidence (``verified``),
lets a reviewer read the whole model without reading Python, and gives every finding the same
shape. Only two checks need code (the INS identity rule, shared with conformance.ins, and the N1
body decoding); they are plugged in by name (``kind: check``).

Rule kinds: ``exists``, ``absent``, ``count``, ``equals``, ``regex``, ``in_valueset``, ``assert``
(a boolean XPath), ``check`` (named Python check) and ``when`` (a group of rules applied where a
condition holds; any rule can also carry its own ``when``). XPath is 1.0 (lxml) with the EXSLT
regular expressions as ``re:test(string, pattern)``.

Severity policy: a rule whose ``verified`` is ``I`` (inferred) or ``?`` (unconfirmed) never gives
more than a WARNING. ``dui_severity`` replaces ``severity`` when the caller knows the document was
produced by a DUI (the suite knows; ``segur-conformance validate`` on an arbitrary file does not).
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

import langcodes
import yaml
from lxml import etree

from conformance.findings import Finding, Severity
from conformance.ins.cda_identity import check_cda_identity
from conformance.safexml import Limits, XmlRejected, parse_bytes

HL7 = "urn:hl7-org:v3"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
SVS = "urn:ihe:iti:svs:2008"
XPATH_NS = {
    "h": HL7,
    "xsi": XSI,
    "sdtc": "urn:hl7-org:sdtc",
    "pharm": "urn:ihe:pharm:medication",
    "re": "http://exslt.org/regular-expressions",
}

KINDS = ("exists", "absent", "count", "equals", "regex", "in_valueset", "covers_valueset", "assert", "check",
         "when")
SEVERITIES = {"error": Severity.ERROR, "warning": Severity.WARNING, "info": Severity.INFO}
VERIFIED = ("P", "K", "V", "Vd", "D", "I", "?")
UNCONFIRMED = ("I", "?")
FORMS = ("any", "structured", "n1")

RULE_FIELDS = {
    "id", "kind", "message", "message_en", "context", "xpath", "when", "test", "values", "valueset",
    "pattern", "min", "max", "required", "allow_null_flavor", "check_system", "severity", "dui_severity",
    "verified", "source", "requirements", "expected", "check", "rules", "basis", "scope",
}
MODEL_FIELDS = {"model", "title", "source", "verified", "applies_to", "requirements", "rules", "detect",
                "format_code", "basis", "scope", "n1_form"}
# Why a rule exists (issue 12): ``official`` restates a rule of the official chain (the kit's XSD or
# schematrons, named in ``source``); ``sourced`` is stricter than the official chain on the strength
# of another primary text (REM, volet, DMP guide) that ``source`` cites, within ``scope``;
# ``inferred`` is stricter with no such text: it never gives more than a WARNING.
BASES = ("official", "sourced", "inferred")
VALUESET_FIELDS = {"id", "oid", "name", "version", "complete", "source", "concepts"}
_KIT_VS_LIMITS = Limits(max_bytes=32 * 1024 * 1024, max_depth=64)
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: 5-10x faster


class ModelError(ValueError):
    """Bad model or value-set data: every problem, each with its file and rule."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(self.errors))


# ---------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Rule:
    id: str
    kind: str
    message: str
    message_en: str
    context: str = "."
    xpath: str = ""
    when: str = ""
    test: str = ""
    values: tuple[str, ...] = ()
    valueset: str = ""
    pattern: str = ""
    min: int | None = None
    max: int | None = None
    required: bool = False
    allow_null_flavor: bool = False
    check_system: bool = True
    severity: str = "error"
    dui_severity: str = ""
    verified: str = "P"
    source: str = ""
    requirements: tuple[str, ...] = ()
    expected: str = ""
    check: str = ""
    rules: tuple[Rule, ...] = ()
    basis: str = "official"
    scope: str = ""


@dataclass(frozen=True)
class N1Form:
    """Whether a document type that has a structured model may be produced as N1 in a corridor."""

    acceptable: bool
    verified: str
    source: str
    reason: str = ""


@dataclass(frozen=True)
class Model:
    """One document model (or a family of shared rules) and the documents it applies to."""

    id: str
    title: str
    source: str
    verified: str
    doc_types: tuple[str, ...]
    form: str
    requirements: tuple[str, ...]
    rules: tuple[Rule, ...]
    detect_templates: tuple[str, ...] = ()
    detect_codes: tuple[str, ...] = ()
    format_code: str = ""
    file: str = ""
    versions: tuple[str, ...] = ()
    n1_form: Mapping[str, N1Form] = field(default_factory=dict)

    def n1_form_for(self, corridor: str | None) -> N1Form | None:
        """The N1 judgement for ``corridor`` (its own entry, else ``default``)."""
        return self.n1_form.get(corridor or "") or self.n1_form.get("default")

    def applies(self, doc_type: str, structured: bool) -> bool:
        if self.form == "structured" and not structured:
            return False
        if self.form == "n1" and structured:
            return False
        return "*" in self.doc_types or doc_type in self.doc_types


@dataclass(frozen=True)
class ValueSet:
    """A value set: code → the code systems it is allowed in. ``complete`` False = a subset."""

    id: str
    oid: str
    name: str
    version: str
    complete: bool
    source: str
    concepts: Mapping[str, frozenset[str]] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    from_kit: bool = False

    @property
    def empty(self) -> bool:
        return not self.concepts


# ---------------------------------------------------------------------------------------------
# loading
# ---------------------------------------------------------------------------------------------
def _data_dir(name: str) -> Path:
    return Path(str(resources.files("segur_profiles") / name))


def _as_tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list | tuple):
        return tuple(str(v) for v in value)
    return (str(value),)


def _compile_xpath(expr: str, where: str, errors: list[str]) -> None:
    try:
        etree.XPath(expr, namespaces=XPATH_NS)
    except etree.XPathSyntaxError as exc:
        errors.append(f"{where}: bad XPath {expr!r}: {exc}")


def _read_rule(data: Any, where: str, errors: list[str], seen: dict[str, str],
               defaults: Mapping[str, str] | None = None) -> Rule | None:
    if not isinstance(data, dict):
        errors.append(f"{where}: a rule must be a mapping")
        return None
    rid = str(data.get("id") or "")
    here = f"{where} rule {rid or '?'}"
    unknown = set(data) - RULE_FIELDS
    if unknown:
        errors.append(f"{here}: unknown field(s) {', '.join(sorted(unknown))}")
    if not rid:
        errors.append(f"{here}: missing id")
    elif rid in seen:
        errors.append(f"{here}: duplicate rule id (also in {seen[rid]})")
    else:
        seen[rid] = where
    kind = str(data.get("kind") or "")
    if kind not in KINDS:
        errors.append(f"{here}: bad kind {kind!r} (known: {', '.join(KINDS)})")
    for key in ("message", "message_en"):
        if not str(data.get(key) or "").strip():
            errors.append(f"{here}: missing {key}")
    severity = str(data.get("severity") or "error")
    dui_severity = str(data.get("dui_severity") or "")
    for key, value in (("severity", severity), ("dui_severity", dui_severity)):
        if value and value not in SEVERITIES:
            errors.append(f"{here}: bad {key} {value!r}")
    verified = str(data.get("verified") or "P")
    if verified not in VERIFIED:
        errors.append(f"{here}: bad verified {verified!r} (known: {', '.join(VERIFIED)})")
    for key in ("context", "xpath", "when", "test"):
        if data.get(key):
            _compile_xpath(str(data[key]), here, errors)
    needs = {"exists": "xpath", "absent": "xpath", "count": "xpath", "equals": "values", "regex": "pattern",
             "in_valueset": "valueset", "covers_valueset": "valueset", "assert": "test", "check": "check", "when": "rules"}
    if kind in needs and not data.get(needs[kind]):
        errors.append(f"{here}: kind {kind} needs {needs[kind]!r}")
    if kind in ("equals", "regex", "in_valueset", "covers_valueset") and not data.get("xpath"):
        errors.append(f"{here}: kind {kind} needs 'xpath'")
    if kind == "count" and data.get("min") is None and data.get("max") is None:
        errors.append(f"{here}: kind count needs min and/or max")
    pattern = str(data.get("pattern") or "")
    if pattern:
        try:
            re.compile(pattern)
        except re.error as exc:
            errors.append(f"{here}: bad pattern {pattern!r}: {exc}")
    defaults = defaults or {}
    basis = str(data.get("basis") or defaults.get("basis") or "")
    scope = str(data.get("scope") or defaults.get("scope") or "")
    source = str(data.get("source") or "")
    if basis and basis not in BASES:
        errors.append(f"{here}: bad basis {basis!r} (known: {', '.join(BASES)})")
    if kind != "when" and defaults.get("strict"):
        if basis not in BASES:
            errors.append(f"{here}: basis {basis!r} must be one of {', '.join(BASES)} (on the rule or its model)")
        if not scope.strip():
            errors.append(f"{here}: missing scope (on the rule or its model)")
        if not (source or defaults.get("source", "")).strip():
            errors.append(f"{here}: missing source (on the rule or its model)")
    children: list[Rule] = []
    if kind == "when":
        if not data.get("when"):
            errors.append(f"{here}: kind when needs 'when'")
        for child in data.get("rules") or []:
            rule = _read_rule(child, f"{where} > {rid}", errors, seen, defaults)
            if rule is not None:
                children.append(rule)
    return Rule(
        id=rid, kind=kind, message=str(data.get("message") or ""), message_en=str(data.get("message_en") or ""),
        context=str(data.get("context") or "."), xpath=str(data.get("xpath") or ""),
        when=str(data.get("when") or ""), test=str(data.get("test") or ""),
        values=_as_tuple(data.get("values")), valueset=str(data.get("valueset") or ""), pattern=pattern,
        min=data.get("min"), max=data.get("max"), required=bool(data.get("required", False)),
        allow_null_flavor=bool(data.get("allow_null_flavor", False)),
        check_system=bool(data.get("check_system", True)), severity=severity, dui_severity=dui_severity,
        verified=verified, source=source or str(defaults.get("source") or ""),
        requirements=_as_tuple(data.get("requirements")),
        expected=str(data.get("expected") or ""), check=str(data.get("check") or ""), rules=tuple(children),
        basis=basis or "official", scope=scope,
    )


def _read_n1_form(data: Any, where: str, errors: list[str]) -> dict[str, N1Form]:
    out: dict[str, N1Form] = {}
    if data is None:
        return out
    if not isinstance(data, dict):
        errors.append(f"{where}: n1_form must map a corridor (or default) to a judgement")
        return out
    for corridor, item in data.items():
        if not isinstance(item, dict) or "acceptable" not in item or not str(item.get("source") or "").strip():
            errors.append(f"{where}: n1_form.{corridor} needs acceptable and source")
            continue
        verified = str(item.get("verified") or "P")
        if verified not in VERIFIED:
            errors.append(f"{where}: n1_form.{corridor}: bad verified {verified!r}")
        out[str(corridor)] = N1Form(bool(item["acceptable"]), verified, str(item["source"]),
                                    str(item.get("reason") or ""))
    return out


def load_models(directory: Path | str | None = None, *, strict: bool | None = None) -> list[Model]:
    """Read every ``*.yaml`` model file; raise ModelError listing all problems at once.

    ``strict`` (default: for the built-in data) also demands of every rule its basis, source and scope."""
    folder = Path(directory) if directory else _data_dir("documents")
    strict = directory is None if strict is None else strict
    errors: list[str] = []
    seen_rules: dict[str, str] = {}
    seen_models: dict[str, str] = {}
    models: list[Model] = []
    for path in sorted(folder.glob("*.yaml")):
        try:
            data = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)  # noqa: S506 - safe loader
        except (OSError, yaml.YAMLError) as exc:
            errors.append(f"{path.name}: unreadable YAML: {exc}")
            continue
        if not isinstance(data, dict):
            errors.append(f"{path.name}: a model file must be a mapping")
            continue
        unknown = set(data) - MODEL_FIELDS
        if unknown:
            errors.append(f"{path.name}: unknown field(s) {', '.join(sorted(unknown))}")
        mid = str(data.get("model") or "")
        if not mid:
            errors.append(f"{path.name}: missing 'model'")
        elif mid in seen_models:
            errors.append(f"{path.name}: duplicate model {mid!r} (also in {seen_models[mid]})")
        seen_models[mid] = path.name
        applies = data.get("applies_to") or {}
        form = str(applies.get("form") or "any")
        if form not in FORMS:
            errors.append(f"{path.name}: bad applies_to.form {form!r}")
        doc_types = _as_tuple(applies.get("doc_types"))
        if not doc_types:
            errors.append(f"{path.name}: applies_to.doc_types is empty")
        detect = data.get("detect") or {}
        defaults = {"basis": str(data.get("basis") or ""), "scope": str(data.get("scope") or ""),
                    "source": str(data.get("source") or ""), "strict": "1" if strict else ""}
        rules = [r for r in (_read_rule(item, path.name, errors, seen_rules, defaults)
                             for item in data.get("rules") or []) if r is not None]
        models.append(Model(
            id=mid, title=str(data.get("title") or mid), source=str(data.get("source") or ""),
            verified=str(data.get("verified") or "P"), doc_types=doc_types, form=form,
            requirements=_as_tuple(data.get("requirements")), rules=tuple(rules),
            detect_templates=_as_tuple(detect.get("template_ids")), detect_codes=_as_tuple(detect.get("codes")),
            format_code=str(data.get("format_code") or ""), file=path.name,
            versions=_as_tuple(detect.get("versions")), n1_form=_read_n1_form(data.get("n1_form"), path.name, errors),
        ))
    if errors:
        raise ModelError(errors)
    return models


def load_builtin_valuesets(directory: Path | str | None = None) -> dict[str, ValueSet]:
    folder = Path(directory) if directory else _data_dir("valuesets")
    errors: list[str] = []
    out: dict[str, ValueSet] = {}
    for path in sorted(folder.glob("*.yaml")):
        try:
            data = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)  # noqa: S506 - safe loader
        except (OSError, yaml.YAMLError) as exc:
            errors.append(f"{path.name}: unreadable YAML: {exc}")
            continue
        if not isinstance(data, dict) or not data.get("id"):
            errors.append(f"{path.name}: a value set needs at least 'id'")
            continue
        unknown = set(data) - VALUESET_FIELDS
        if unknown:
            errors.append(f"{path.name}: unknown field(s) {', '.join(sorted(unknown))}")
        concepts: dict[str, set[str]] = {}
        labels: dict[str, str] = {}
        for item in data.get("concepts") or []:
            if not isinstance(item, dict) or not item.get("code"):
                errors.append(f"{path.name}: each concept needs a code")
                continue
            code = str(item["code"])
            concepts.setdefault(code, set()).add(str(item.get("system") or ""))
            labels.setdefault(code, str(item.get("label") or ""))
        vs = ValueSet(id=str(data["id"]), oid=str(data.get("oid") or ""), name=str(data.get("name") or data["id"]),
                      version=str(data.get("version") or ""), complete=bool(data.get("complete", False)),
                      source=str(data.get("source") or ""),
                      concepts={k: frozenset(v) for k, v in concepts.items()}, labels=labels)
        if vs.id in out:
            errors.append(f"{path.name}: duplicate value set {vs.id!r}")
        out[vs.id] = vs
    if errors:
        raise ModelError(errors)
    return out


_kit_vs_cache: dict[str, dict[str, ValueSet]] = {}
_kit_vs_lock = threading.Lock()


def kit_valuesets(valueset_dir: Path) -> dict[str, ValueSet]:
    """Every IHE SVS value set of the kit's ``jeuxDeValeurs/``, by OID (read once per folder).

    When two files carry the same OID (the kit ships placeholder copies of the AGGIR sets whose
    only concept reads "à compléter", cda.md §7) the one with the most concepts wins.
    """
    key = str(valueset_dir.resolve())
    with _kit_vs_lock:
        if key in _kit_vs_cache:
            return _kit_vs_cache[key]
    found: dict[str, ValueSet] = {}
    for path in sorted(valueset_dir.glob("*.xml")):
        try:
            root = parse_bytes(path.read_bytes(), _KIT_VS_LIMITS).getroot()
        except (OSError, XmlRejected):
            continue
        vs_el = root.find(f"{{{SVS}}}ValueSet")
        if vs_el is None or not vs_el.get("id"):
            continue
        concepts: dict[str, set[str]] = {}
        labels: dict[str, str] = {}
        for c in vs_el.iter(f"{{{SVS}}}Concept"):
            code = c.get("code")
            if code:
                concepts.setdefault(code, set()).add(c.get("codeSystem") or "")
                labels.setdefault(code, c.get("displayName") or "")
        oid = vs_el.get("id") or ""
        vs = ValueSet(id=oid, oid=oid, name=path.stem, version=vs_el.get("dateMaj") or vs_el.get("version") or "",
                      complete=True, source=f"kit jeuxDeValeurs/{path.name}",
                      concepts={k: frozenset(v) for k, v in concepts.items()}, labels=labels, from_kit=True)
        if oid not in found or len(vs.concepts) > len(found[oid].concepts):
            found[oid] = vs
    with _kit_vs_lock:
        _kit_vs_cache[key] = found
    return found


class ModelLibrary:
    """The models and the value sets one validation uses (built-in, or overlaid by the kit's)."""

    def __init__(self, models: Iterable[Model], valuesets: Mapping[str, ValueSet], *, kit_loaded: bool = False
                 ) -> None:
        self.models = tuple(models)
        self.valuesets = dict(valuesets)
        self.kit_loaded = kit_loaded
        errors = [f"{m.file} rule {r.id}: unknown value set {r.valueset!r}"
                  for m in self.models for r in _walk(m.rules) if r.kind in ("in_valueset", "covers_valueset")
                  and r.valueset not in self.valuesets]
        if errors:
            raise ModelError(errors)

    @classmethod
    @functools.cache
    def default(cls) -> ModelLibrary:
        return cls(load_models(), load_builtin_valuesets())

    def with_kit(self, valueset_dir: Path | None) -> ModelLibrary:
        """The same models with every value set the kit also has (same OID) replaced by the kit's."""
        if valueset_dir is None or not valueset_dir.is_dir():
            return self
        by_oid = kit_valuesets(valueset_dir)
        merged = {vid: (replace(by_oid[vs.oid], id=vid, name=vs.name) if vs.oid in by_oid else vs)
                  for vid, vs in self.valuesets.items()}
        return ModelLibrary(self.models, merged, kit_loaded=True)

    def models_for(self, doc_type: str, structured: bool) -> list[Model]:
        return [m for m in self.models if m.applies(doc_type, structured)]

    def model(self, model_id: str) -> Model:
        for m in self.models:
            if m.id == model_id:
                return m
        raise KeyError(model_id)


def _walk(rules: Iterable[Rule]) -> Iterable[Rule]:
    for r in rules:
        yield r
        yield from _walk(r.rules)


# ---------------------------------------------------------------------------------------------
# evaluation
# ---------------------------------------------------------------------------------------------
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


def _eval(expr: str, node: etree._Element) -> Any:
    return _xpath(expr)(node)


def _as_list(result: Any) -> list[Any]:
    if isinstance(result, list):
        return result
    if isinstance(result, bool):
        return [True] if result else []
    if isinstance(result, float):
        return [result] if result else []
    return [result] if result not in (None, "") else []


def _truthy(result: Any) -> bool:
    return bool(_as_list(result))


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


def _locate(node: Any, fallback: etree._Element) -> tuple[str, int | None]:
    if isinstance(node, etree._Element):
        return readable_path(node), node.sourceline
    parent = getattr(node, "getparent", lambda: None)()
    if isinstance(parent, etree._Element):
        suffix = f"/@{node.attrname}" if getattr(node, "is_attribute", False) else ""
        return readable_path(parent) + suffix, parent.sourceline
    return readable_path(fallback), fallback.sourceline


def _value(node: Any) -> str:
    if isinstance(node, etree._Element):
        return "".join(node.itertext()).strip()
    if isinstance(node, float):
        return str(int(node)) if node.is_integer() else str(node)
    return str(node)


def _show(value: str, limit: int = 80) -> str:
    return value if len(value) <= limit else value[:limit] + "…"


def _strip_prefix(expr: str) -> str:
    return expr.replace("h:", "")


class _Emitter:
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
    nodes = [n for n in _as_list(_eval(rule.context, parent)) if isinstance(n, etree._Element)]
    if rule.when:
        nodes = [n for n in nodes if _truthy(_eval(rule.when, n))]
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
    emit = _Emitter(rule, ctx, requirements)
    here, line = readable_path(node), node.sourceline
    target = f"{here}/{_strip_prefix(rule.xpath)}" if rule.xpath else here
    if rule.kind == "assert":
        if _truthy(_eval(rule.test, node)):
            return []
        return [emit.finding(xpath=here, line=line, expected=_strip_prefix(rule.test), found="condition non remplie")]
    result = _eval(rule.xpath, node)
    items = _as_list(result)
    if rule.kind == "exists":
        return [] if items else [emit.finding(xpath=target, line=line, expected="présent", found="absent")]
    if rule.kind == "absent":
        out = []
        for item in items if isinstance(result, list) else ([node] if items else []):
            where, ln = _locate(item, node)
            out.append(emit.finding(xpath=where, line=ln, expected="absent", found=_value(item) or "présent"))
        return out
    if rule.kind == "count":
        n = len(items) if isinstance(result, list) else int(result or 0)
        if (rule.min is not None and n < rule.min) or (rule.max is not None and n > rule.max):
            lo = "" if rule.min is None else str(rule.min)
            hi = "*" if rule.max is None else str(rule.max)
            expected = lo if lo == hi else f"{lo or 0}..{hi}"
            where, ln = (target, line)
            if rule.max is not None and n > rule.max and isinstance(result, list):
                where, ln = _locate(items[rule.max], node)
            return [emit.finding(xpath=where, line=ln, expected=expected, found=str(n))]
        return []
    if rule.kind in ("equals", "regex"):
        if not items:
            if rule.required:
                return [emit.finding(xpath=target, line=line, expected=_expected(rule), found="absent")]
            return []
        out = []
        for item in items:
            value = _value(item)
            ok = value in rule.values if rule.kind == "equals" else re.fullmatch(rule.pattern, value) is not None
            if not ok:
                where, ln = _locate(item, node)
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


def _kit_only(rule: Rule, emit: _Emitter, vs: ValueSet, target: str, line: int | None) -> list[Finding]:
    """A value set we do not ship and no kit was given: say once that the rule did not run."""
    ctx = emit.ctx
    if rule.id in ctx.kit_only_reported:
        return []
    ctx.kit_only_reported.add(rule.id)
    return [emit.finding(xpath=target, line=line, expected=vs.name, found="non vérifié",
                         suffix=(f" — non vérifié : {vs.name} n'est pas intégré, fournir --cisis-kit",
                                 f" — not checked: {vs.name} is not built in, give --cisis-kit"),
                         severity=Severity.INFO)]


def _covers_valueset(rule: Rule, emit: _Emitter, items: list[Any], target: str, line: int | None) -> list[Finding]:
    vs = emit.ctx.library.valuesets[rule.valueset]
    if vs.empty:
        return _kit_only(rule, emit, vs, target, line)
    present = {(i.get("code") if isinstance(i, etree._Element) else _value(i)) for i in items}
    missing = [code for code in vs.concepts if code not in present]
    if not missing:
        return []
    return [emit.finding(xpath=target, line=line, expected=f"{len(vs.concepts)} codes de {vs.name}",
                         found="manquants : " + ", ".join(missing))]


def _in_valueset(rule: Rule, emit: _Emitter, items: list[Any], node: etree._Element, target: str,
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
        where, ln = _locate(item, node)
        if isinstance(item, etree._Element):
            if item.get("nullFlavor") is not None and item.get("code") is None:
                if not rule.allow_null_flavor:
                    out.append(emit.finding(xpath=where, line=ln, expected=vs.name,
                                            found=f"nullFlavor={item.get('nullFlavor')}"))
                continue
            code, system = item.get("code") or "", item.get("codeSystem") or ""
        else:
            code, system = _value(item), ""
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
            message=f"modèle « {model.title} » : {sum(1 for _ in _walk(model.rules))} règles vérifiées, aucune erreur",
            message_en=f"model \"{model.title}\": {sum(1 for _ in _walk(model.rules))} rules checked, no error",
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


# ---------------------------------------------------------------------------------------------
# named checks
# ---------------------------------------------------------------------------------------------
def _load_builtin_checks() -> None:
    """The N1 check lives with the N1 code; importing it registers it."""
    import conformance.cda.n1  # noqa: F401


@register_check("ins_identity")
def _check_ins_identity(root: etree._Element, ctx: EvalContext, rule: Rule,
                        requirements: tuple[str, ...]) -> list[Finding]:
    """The INS rule of the CI-SIS header (cda.md §1.1), by the INS room's own reader and checks."""
    return [replace(f, requirements=tuple(dict.fromkeys((*requirements, *f.requirements))))
            for f in check_cda_identity(root.getroottree(), ctx.artefact, resident=ctx.resident,
                                        test_environment=ctx.test_environment)]


# ---------------------------------------------------------------------------------------------
# header data types (issue 12 item 14): a timestamp is a real date and time, a language tag exists
# ---------------------------------------------------------------------------------------------
_TS_RE = re.compile(r"(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\.\d{1,4})?(?:([+-])(\d+))?")
_MAX_TS_CHECKED = 500


def timestamp_problem(value: str) -> tuple[str, str, bool] | None:
    """Why an HL7 TS value is not a real date/time: (fr, en, impossible) or None when it is fine.

    ``impossible`` is True for a component out of range (month 13, 30 February, hour 24…): no
    reading of the value is a moment. An offset of other than four digits (``+100``) is a malformed
    offset, reported apart (``impossible`` False): the XSD pattern of the kit accepts it.
    """
    import calendar

    m = _TS_RE.fullmatch(value.strip())
    if m is None:
        return ("valeur qui n'a pas la forme AAAA[MM[JJ[hh[mm[ss]]]]][.s][±hhmm]",
                "value not of the form YYYY[MM[DD[hh[mm[ss]]]]][.s][±hhmm]", True)
    year, month, day, hour, minute, second, _frac, sign, offset = m.groups()
    if month is not None and not 1 <= int(month) <= 12:
        return (f"mois {month} hors de 01..12", f"month {month} not in 01..12", True)
    if day is not None:
        last = calendar.monthrange(int(year), int(month))[1]
        if not 1 <= int(day) <= last:
            return (f"jour {day} hors de 01..{last}", f"day {day} not in 01..{last}", True)
    if hour is not None and not int(hour) <= 23:
        return (f"heure {hour} hors de 00..23", f"hour {hour} not in 00..23", True)
    if minute is not None and not int(minute) <= 59:
        return (f"minute {minute} hors de 00..59", f"minute {minute} not in 00..59", True)
    if second is not None and not int(second) <= 60:
        return (f"seconde {second} hors de 00..60", f"second {second} not in 00..60", True)
    if sign is not None:
        if len(offset) != 4:
            return (f"décalage UTC {sign}{offset} : 4 chiffres ±hhmm attendus",
                    f"UTC offset {sign}{offset}: four digits ±hhmm expected", False)
        if int(offset[:2]) > 14 or int(offset[2:]) > 59:
            return (f"décalage UTC {sign}{offset} hors de -1200..+1400", f"UTC offset {sign}{offset} out of range",
                    True)
    return None


@register_check("header_timestamps")
def _check_header_timestamps(root: etree._Element, ctx: EvalContext, rule: Rule,
                             requirements: tuple[str, ...]) -> list[Finding]:
    """Every ``@value`` the rule's XPath selects is a real date/time (HL7 V3 TS, ISO 8601)."""
    emit = _Emitter(rule, ctx, requirements)
    out: list[Finding] = []
    for node in _as_list(_eval(rule.xpath, root))[:_MAX_TS_CHECKED]:
        value = _value(node)
        problem = timestamp_problem(value)
        if problem is None:
            continue
        fr, en, impossible = problem
        where, line = _locate(node, root)
        out.append(emit.finding(xpath=where, line=line, expected="date et heure réelles (HL7 TS)", found=value,
                                suffix=(f" : {fr}", f": {en}"),
                                severity=None if impossible else min_severity(emit.severity, Severity.WARNING)))
    return out


@register_check("language_tag")
def _check_language_tag(root: etree._Element, ctx: EvalContext, rule: Rule,
                        requirements: tuple[str, ...]) -> list[Finding]:
    """``languageCode/@code`` is a registered BCP 47 tag (IANA subtag registry, through langcodes)."""
    emit = _Emitter(rule, ctx, requirements)
    out: list[Finding] = []
    for node in _as_list(_eval(rule.xpath, root))[:10]:
        value = _value(node)
        if value and len(value) <= 64 and langcodes.tag_is_valid(value):
            continue
        where, line = _locate(node, root)
        out.append(emit.finding(xpath=where, line=line, expected="étiquette BCP 47 enregistrée (fr-FR)",
                                found=value or "(vide)"))
    return out
