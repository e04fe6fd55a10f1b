"""Reading layer 3's data: the model files, the built-in value sets and the kit's SVS value sets, checked
as they are read (``ModelError`` lists every problem with its file and rule), and the ``ModelLibrary``
one validation uses."""

from __future__ import annotations

import functools
import hashlib
import json
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from lxml import etree

from conformance.cda.model_types import (
    BASES,
    FORMS,
    KINDS,
    MODEL_FIELDS,
    RULE_FIELDS,
    SEVERITIES,
    SVS,
    VALUESET_FIELDS,
    VERIFIED,
    XPATH_NS,
    Model,
    ModelError,
    N1Form,
    Rule,
    ValueSet,
    walk_rules,
)
from conformance.safexml import Limits, XmlRejected, parse_bytes

_KIT_VS_LIMITS = Limits(max_bytes=32 * 1024 * 1024, max_depth=64)
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: 5-10x faster


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


def _yaml_files(folder: Path, errors: list[str]) -> Iterator[tuple[Path, Any]]:
    """Each ``*.yaml`` of ``folder`` in name order, parsed; an unreadable one is an error and is skipped."""
    for path in sorted(folder.glob("*.yaml")):
        try:
            data = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)  # noqa: S506 - safe loader
        except (OSError, yaml.YAMLError) as exc:
            errors.append(f"{path.name}: unreadable YAML: {exc}")
            continue
        yield path, data


def load_models(directory: Path | str | None = None, *, strict: bool | None = None) -> list[Model]:
    """Read every ``*.yaml`` model file; raise ModelError listing all problems at once.

    ``strict`` (default: for the built-in data) also demands of every rule its basis, source and scope."""
    folder = Path(directory) if directory else _data_dir("documents")
    strict = directory is None if strict is None else strict
    errors: list[str] = []
    seen_rules: dict[str, str] = {}
    seen_models: dict[str, str] = {}
    models: list[Model] = []
    for path, data in _yaml_files(folder, errors):
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
    for path, data in _yaml_files(folder, errors):
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


_KIT_VS_CACHE_VERSION = "1"  # bump when the reading of a kit value set changes


def kit_valuesets(valueset_dir: Path) -> dict[str, ValueSet]:
    """Every IHE SVS value set of the kit's ``jeuxDeValeurs/``, by OID (read once per folder).

    When two files carry the same OID (the kit ships placeholder copies of the AGGIR sets whose
    only concept reads "à compléter", cda.md §7) the one with the most concepts wins.

    Reading the 524 files takes ≈ 0.17 s, a tenth of a ``validate`` command's start-up (issue 16):
    what they hold is kept in the cache folder as JSON, keyed by the name and content of every file
    of the folder and by this module's code, so any change reads the files again.
    """
    key = str(valueset_dir.resolve())
    with _kit_vs_lock:
        if key in _kit_vs_cache:
            return _kit_vs_cache[key]
    paths = sorted(valueset_dir.glob("*.xml"))
    stamp = _folder_stamp(paths)
    cache = None
    if stamp is not None:
        from conformance.cda.kit import default_cache_root

        cache = default_cache_root() / "valuesets" / f"{stamp}.json"
        found = _read_vs_cache(cache)
        if found is not None:
            with _kit_vs_lock:
                _kit_vs_cache[key] = found
            return found
    found = _read_kit_valuesets(paths)
    if cache is not None:
        from conformance.cda.kit import write_cache_text

        write_cache_text(cache, json.dumps({oid: _vs_to_json(vs) for oid, vs in sorted(found.items())}))
    with _kit_vs_lock:
        _kit_vs_cache[key] = found
    return found


def _folder_stamp(paths: list[Path]) -> str | None:
    """The cache key: this module's code, and every file's name and content (a kit release that keeps
    sizes and modification times still changes it: independent review). Hashing the 4.7 MB takes
    ≈ 10 ms, reading them as XML ≈ 170 ms."""
    h = hashlib.sha256(_KIT_VS_CACHE_VERSION.encode() + b"\0" + Path(__file__).read_bytes())
    try:
        for p in paths:
            data = p.read_bytes()
            h.update(f"{p.resolve()}\0{len(data)}\0".encode() + hashlib.sha256(data).digest())
    except OSError:
        return None
    return h.hexdigest()[:24]


def _vs_to_json(vs: ValueSet) -> dict[str, Any]:
    return {"name": vs.name, "version": vs.version, "source": vs.source,
            "concepts": {c: sorted(s) for c, s in vs.concepts.items()}, "labels": dict(vs.labels)}


def _read_vs_cache(path: Path) -> dict[str, ValueSet] | None:
    """The stored reading, or None (absent, unreadable or not of this shape: read the files again)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {oid: ValueSet(id=oid, oid=oid, name=str(d["name"]), version=str(d["version"]), complete=True,
                              source=str(d["source"]),
                              concepts={c: frozenset(map(str, s)) for c, s in d["concepts"].items()},
                              labels={str(c): str(v) for c, v in d["labels"].items()}, from_kit=True)
                for oid, d in data.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _read_kit_valuesets(paths: list[Path]) -> dict[str, ValueSet]:
    found: dict[str, ValueSet] = {}
    for path in paths:
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
    return found


class ModelLibrary:
    """The models and the value sets one validation uses (built-in, or overlaid by the kit's)."""

    def __init__(self, models: Iterable[Model], valuesets: Mapping[str, ValueSet], *, kit_loaded: bool = False
                 ) -> None:
        self.models = tuple(models)
        self.valuesets = dict(valuesets)
        self.kit_loaded = kit_loaded
        errors = [f"{m.file} rule {r.id}: unknown value set {r.valueset!r}"
                  for m in self.models for r in walk_rules(m.rules) if r.kind in ("in_valueset", "covers_valueset")
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
