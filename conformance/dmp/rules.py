"""The engine of the DMP metadata rules: profiles/dmp/rules.yaml evaluated on a SubmissionSet or a DocumentEntry.

Why data: the rules on the XDS metadata are many, alike and cited one by one (protocols.md §1.4, the CI-SIS
volets, IHE ITI TF-3). As a table each carries its id, severity, source, scope and proofs next to its
condition, a new rule is a few lines of YAML, and the code is the small set of named predicates below
(``PREDICATES``), each a condition that yields what it found. The file format is described at the top of
profiles/dmp/rules.yaml.
"""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from conformance.dmp import engine
from conformance.dmp import valuesets as _valuesets
from conformance.dmp.valuesets import ValueSets
from conformance.findings import Finding, error, warning
from conformance.ihe import ns as _ns
from conformance.ihe.xds import RegistryObject, is_oid, parse_dtm, parse_xcn, parse_xon

KINDS = ("SubmissionSet", "DocumentEntry")
SEVERITIES = ("error", "warning", "authoritative")
_CONSTANTS = {"ns": _ns, "valuesets": _valuesets}
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")  # cda.md §1.1

Hit = dict[str, Any]
Predicate = Callable[[RegistryObject, Mapping[str, Any], ValueSets], Iterable[Hit]]


class RuleError(ValueError):
    """A malformed rule table (unknown predicate, kind, severity, constant, duplicate id)."""


@dataclass(frozen=True)
class Rule:
    """One row of profiles/dmp/rules.yaml (``each`` groups expanded)."""

    id: str
    object: str
    check: str
    params: Mapping[str, Any]
    severity: str
    message: str
    message_en: str
    expected: str = ""
    found: str = ""
    source: str = ""
    scope: str = ""
    proofs: tuple[str, ...] = ()
    requirements: tuple[str, ...] = ()
    over: str = ""

    @property
    def rule(self) -> str:
        """The rule id its findings carry (the table id without its ``/variant``)."""
        return self.id.split("/", 1)[0]


# ---------------------------------------------------------------------------------------------
# predicates: each yields one hit (the values it found) per violation
# ---------------------------------------------------------------------------------------------
def _value(obj: RegistryObject, p: Mapping[str, Any]) -> Any:
    if "slot" in p:
        return obj.slot(p["slot"])
    if "identifier" in p:
        return obj.identifiers.get(p["identifier"], "")
    if "codes" in p:
        return obj.codes.get(p["codes"]) or []
    return getattr(obj, p["field"])


def _present(obj: RegistryObject, p: Mapping[str, Any], _vs: ValueSets) -> Iterator[Hit]:
    if not _value(obj, p):
        yield {}


def _equals(obj: RegistryObject, p: Mapping[str, Any], _vs: ValueSets) -> Iterator[Hit]:
    value = _value(obj, p)
    if value != p["value"]:
        yield {"value": value}


def _oid(obj: RegistryObject, p: Mapping[str, Any], _vs: ValueSets) -> Iterator[Hit]:
    value = _value(obj, p)
    if value and not is_oid(value):
        yield {"value": value}


def _oid_or_uuid_root(obj: RegistryObject, p: Mapping[str, Any], _vs: ValueSets) -> Iterator[Hit]:
    value = _value(obj, p)
    root = value.split("^", 1)[0]
    if value and not (is_oid(root) or _UUID.fullmatch(root)):
        yield {"value": value}


def _dtm(obj: RegistryObject, p: Mapping[str, Any], _vs: ValueSets) -> Iterator[Hit]:
    value = _value(obj, p)
    if (value or p.get("required")) and parse_dtm(value) is None:
        yield {"value": value}


def _xcn_complete(obj: RegistryObject, p: Mapping[str, Any], _vs: ValueSets) -> Iterator[Hit]:
    value = _value(obj, p)
    if value:
        xcn = parse_xcn(value)
        if not xcn.id or not xcn.authority_oid:
            yield {"value": xcn.raw}


def _people(obj: RegistryObject, what: str) -> Iterator[tuple[tuple[int, ...], str]]:
    """(position, value) of each authorPerson (``what="person"``) or authorInstitution, author by author."""
    rank = {"person": 1, "institution": 2}[what]
    for a, author in enumerate(obj.authors):
        for i, value in enumerate(getattr(author, what)):
            yield (a, rank, i), value


def _author_without_person(obj: RegistryObject, _p: Mapping[str, Any], _vs: ValueSets) -> Iterator[Hit]:
    for a, author in enumerate(obj.authors):
        if not author.person:
            yield {"_item": (a, 0)}


def _author_person_incomplete(obj: RegistryObject, _p: Mapping[str, Any], _vs: ValueSets) -> Iterator[Hit]:
    for item, person in _people(obj, "person"):
        xcn = parse_xcn(person)
        if not xcn.id or not xcn.authority_oid:
            yield {"value": person, "_item": item}


def _author_person_type(obj: RegistryObject, p: Mapping[str, Any], _vs: ValueSets) -> Iterator[Hit]:
    """A complete authorPerson whose assigning authority is ``authority`` has the identifier type ``type``."""
    for item, person in _people(obj, "person"):
        xcn = parse_xcn(person)
        if xcn.id and xcn.authority_oid == p["authority"] and xcn.id_type != p["type"]:
            yield {"value": xcn.id_type, "_item": item}


def _author_institution_incomplete(obj: RegistryObject, _p: Mapping[str, Any], _vs: ValueSets) -> Iterator[Hit]:
    for item, inst in _people(obj, "institution"):
        xon = parse_xon(inst)
        if not xon.name or not xon.id:
            yield {"value": inst, "_item": item}


def _code_incomplete(obj: RegistryObject, p: Mapping[str, Any], _vs: ValueSets) -> Iterator[Hit]:
    for i, c in enumerate(_value(obj, p)):
        if not c.code or not c.scheme:
            yield {"code": c.code, "scheme": c.scheme, "_item": (i,)}


def _in_valueset(obj: RegistryObject, p: Mapping[str, Any], vs: ValueSets) -> Iterator[Hit]:
    """Each code is in the value set of its metadata name (``complete_only``: codes with code and scheme)."""
    name = p["codes"]
    for i, c in enumerate(_value(obj, p)):
        if p.get("complete_only", True) and (not c.code or not c.scheme):
            continue
        if vs.contains(name, c.code, c.scheme) is False:
            yield {"code": c.code, "scheme": c.scheme, "valueset": vs.source.get(name, ""), "_item": (i,)}


def _first_code_in(obj: RegistryObject, p: Mapping[str, Any], _vs: ValueSets) -> Iterator[Hit]:
    codes = _value(obj, p)
    if codes and (codes[0].code, codes[0].scheme) not in {(v, p["scheme"]) for v in p["values"]}:
        yield {"code": codes[0].code, "scheme": codes[0].scheme}


def _max_count(obj: RegistryObject, p: Mapping[str, Any], _vs: ValueSets) -> Iterator[Hit]:
    count = len(_value(obj, p))
    if count > p["max"]:
        yield {"count": count}


def _code_system(obj: RegistryObject, p: Mapping[str, Any], _vs: ValueSets) -> Iterator[Hit]:
    first = obj.code(p["codes"])
    if first and first.scheme and first.scheme not in p["schemes"]:
        yield {"scheme": first.scheme}


def _sector_in(obj: RegistryObject, p: Mapping[str, Any], _vs: ValueSets) -> Iterator[Hit]:
    """A first code starting with ``prefix`` (a sector code) is one of ``values``."""
    first = obj.code(p["codes"])
    if first and first.code.startswith(p["prefix"]) and first.code not in p["values"]:
        yield {"code": first.code}


def _first_code_is(obj: RegistryObject, p: Mapping[str, Any], _vs: ValueSets) -> Iterator[Hit]:
    first = obj.code(p["codes"])
    if first and first.code != p["value"]:
        yield {"code": first.code}


def _lines_start_with(obj: RegistryObject, p: Mapping[str, Any], _vs: ValueSets) -> Iterator[Hit]:
    for line in obj.slots.get(p["slot"]) or []:
        if not line.startswith(tuple(p["prefixes"])):
            yield {"line": line[:80]}


PREDICATES: dict[str, Predicate] = {
    "present": _present,
    "equals": _equals,
    "oid": _oid,
    "oid_or_uuid_root": _oid_or_uuid_root,
    "dtm": _dtm,
    "xcn_complete": _xcn_complete,
    "author_without_person": _author_without_person,
    "author_person_incomplete": _author_person_incomplete,
    "author_person_type": _author_person_type,
    "author_institution_incomplete": _author_institution_incomplete,
    "code_incomplete": _code_incomplete,
    "in_valueset": _in_valueset,
    "first_code_in": _first_code_in,
    "max_count": _max_count,
    "code_system": _code_system,
    "sector_in": _sector_in,
    "first_code_is": _first_code_is,
    "lines_start_with": _lines_start_with,
}


# ---------------------------------------------------------------------------------------------
# the table
# ---------------------------------------------------------------------------------------------
class _Template(string.Formatter):
    """``str.format`` with ``{name|default}``: the default when the value is empty."""

    def get_value(self, key: int | str, args: Any, kwargs: Mapping[str, Any]) -> Any:
        name, _, default = str(key).partition("|")
        value = kwargs.get(name, "")
        return value if value not in ("", None) else default


_FORMAT = _Template()


def _resolve(value: Any, names: Mapping[str, str]) -> Any:
    """Expand ``{name}`` of an ``each`` group and ``$module.NAME`` constants in a rule's text and parameters."""
    if isinstance(value, str):
        if value.startswith("$"):
            module, _, attr = value[1:].partition(".")
            if module not in _CONSTANTS or not hasattr(_CONSTANTS[module], attr):
                raise RuleError(f"unknown constant {value}")
            return getattr(_CONSTANTS[module], attr)
        for key, sub in names.items():
            value = value.replace("{" + key + "}", sub)
        return value
    if isinstance(value, list):
        return [_resolve(v, names) for v in value]
    if isinstance(value, dict):
        return {k: _resolve(v, names) for k, v in value.items()}
    return value


def _rule(row: Mapping[str, Any], defaults: Mapping[str, Any], names: Mapping[str, str]) -> Rule:
    row = _resolve({**defaults, **row}, names)
    unknown = set(row) - {"id", "object", "check", "with", "severity", "message", "message_en", "expected", "found",
                          "source", "scope", "proofs", "requirements", "over"}
    if unknown:
        raise RuleError(f"{row.get('id')}: unknown keys {sorted(unknown)}")
    if row.get("object") not in KINDS:
        raise RuleError(f"{row.get('id')}: object must be one of {KINDS}")
    if row.get("check") not in PREDICATES:
        raise RuleError(f"{row.get('id')}: unknown check {row.get('check')!r}")
    if row.get("severity") not in SEVERITIES:
        raise RuleError(f"{row.get('id')}: severity must be one of {SEVERITIES}")
    params = dict(row.get("with") or {})
    for key in ("schemes", "values"):  # lists shown in `expected`
        if key in params:
            params[f"{key}_text"] = " | ".join(params[key])
    if "value" in params:
        params["expected_value"] = params["value"]
    return Rule(id=row["id"], object=row["object"], check=row["check"], params=params, severity=row["severity"],
                message=row["message"], message_en=row["message_en"], expected=str(row.get("expected", "")),
                found=str(row.get("found", "")), source=row.get("source", ""), scope=row.get("scope", ""),
                proofs=tuple(row.get("proofs") or ()), requirements=tuple(row.get("requirements") or ()),
                over=row.get("over", ""))


def default_path() -> Path:
    return Path(str(resources.files("segur_profiles") / "dmp" / "rules.yaml"))


def load_rules(path: Path | None = None) -> tuple[Rule, ...]:
    """The rule table (``each`` groups expanded, in file order); raises RuleError on a malformed table."""
    data = yaml.safe_load((path or default_path()).read_text(encoding="utf-8")) or {}
    check = engine.spec("metadata")  # the check that evaluates the table: its requirements, proofs and scope
    defaults = {"requirements": list(check.requirements), "proofs": list(check.proofs), "scope": check.scope,
                **(data.get("defaults") or {})}
    out: list[Rule] = []
    for row in data.get("rules") or []:
        if "each" in row:
            ((key, values),) = row["each"].items()
            for value in values:
                out.extend(_rule(sub, defaults, {key: value}) for sub in row["rules"])
        else:
            out.append(_rule(row, defaults, {}))
    seen: set[str] = set()
    for rule in out:
        if rule.id in seen:
            raise RuleError(f"duplicate rule id {rule.id}")
        seen.add(rule.id)
    return tuple(out)


@functools.cache
def rules() -> tuple[Rule, ...]:
    return load_rules()


# ---------------------------------------------------------------------------------------------
# evaluation
# ---------------------------------------------------------------------------------------------
def evaluate(kind: str, obj: RegistryObject, vs: ValueSets, *, artefact: str, xpath: str,
             table: Iterable[Rule] | None = None) -> list[Finding]:
    """The findings of every rule on ``kind`` objects (one per hit) for ``obj``, in table order; consecutive
    rules with the same ``over`` (a collection: the authors, the codes of one name) are listed item by item."""
    prefix, prefix_en = (f"DocumentEntry {obj.id} : ", f"DocumentEntry {obj.id}: ") if kind == "DocumentEntry" \
        else ("", "")
    out: list[Finding] = []
    block: list[tuple[tuple[int, ...], int, Finding]] = []
    over = ""
    for n, rule in enumerate(r for r in (rules() if table is None else table) if r.object == kind):
        if rule.over != over or not over:
            out.extend(f for *_, f in sorted(block, key=lambda b: b[:2]))
            block, over = [], rule.over
        for hit in PREDICATES[rule.check](obj, rule.params, vs):
            values = {**rule.params, **hit}
            severe = rule.severity == "error" or (rule.severity == "authoritative"
                                                  and vs.authoritative(rule.params["codes"]))
            make = error if severe else warning
            block.append((hit.get("_item", ()), n, make(
                prefix + _FORMAT.format(rule.message, **values), prefix_en + _FORMAT.format(rule.message_en, **values),
                rule=rule.rule, artefact=artefact, requirements=rule.requirements, xpath=xpath, line=obj.line,
                expected=_FORMAT.format(rule.expected, **values), found=_FORMAT.format(rule.found, **values))))
    out.extend(f for *_, f in sorted(block, key=lambda b: b[:2]))
    return out
