"""The engine of the DMP checks: profiles/dmp/checks.yaml, and what every check shares.

Why: each check on an ITI-41 request (transport, addressing, VIHF, XAdES signature, replacement, TD0.2…)
used to decide in its own code the severity of each finding and the requirement ids it names, typed in
three modules (``FEED``, ``REQ``, ``REQ_REPLACE``…), with nothing tying them to the proofs the suite
verifies. Now a check is declared once in the data: the rules it emits, each with its severity (and the
source that justifies a warning), the requirements its findings name, the proofs its suite test verifies,
its source and scope, and the INFO it records when it held. The function holds only its condition: it is
registered with ``@dmp_check(id)`` and receives a ``Check`` as first argument, which makes each finding
(``c(rule, fr, en, **place)``) with the declared severity and requirements and refuses a rule the data
does not declare. The metadata rules of a DocumentEntry/SubmissionSet are a table of their own
(profiles/dmp/rules.yaml, conformance/dmp/rules.py); the ``metadata`` check names it (``table``).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Concatenate, ParamSpec

from conformance.check_table import OK_WHEN, CheckTable, Ok, open_row
from conformance.findings import Finding, error, info, warning

#: what a check reads: the HTTP/MIME packaging, the SOAP envelope, the VIHF assertion, an INS identifier,
#: the XDS submission, the XAdES signature document, the TD0.2 request
OBJECTS = ("http", "envelope", "assertion", "identifier", "submission", "signature_document", "td02")
#: ``registry``: an error when the registry state is fully known (sandbox), a warning otherwise (artefact
#: mode: the target may exist in a registry the capture does not show)
SEVERITIES = ("error", "warning", "info", "registry")
_KEYS = {"id", "object", "rules", "calls", "external", "table", "requirements", "proofs", "source", "scope", "ok"}


class RuleError(ValueError):
    """A malformed profiles/dmp/checks.yaml, or a check emitting a rule it does not declare."""


@dataclass(frozen=True)
class RuleSpec:
    """One rule of a check: ``id`` is ``<finding rule>[/<variant>]`` (the variant keeps ids unique when one
    finding rule is reported at two severities, e.g. missing then malformed)."""

    id: str
    severity: str
    source: str = ""

    @property
    def rule(self) -> str:
        return self.id.split("/", 1)[0]


@dataclass(frozen=True)
class CheckSpec:
    """One entry of profiles/dmp/checks.yaml."""

    id: str
    object: str
    rules: Mapping[str, RuleSpec]
    requirements: tuple[str, ...]
    proofs: tuple[str, ...]
    source: str
    scope: str
    #: the declared checks whose findings this one returns with its own
    calls: tuple[str, ...] = ()
    #: rule families emitted by a lower layer the check calls (e.g. ``DMP.META.*`` of conformance.ihe,
    #: ``INS.*`` of conformance.ins), whose severities are that layer's
    external: tuple[str, ...] = ()
    #: the rule table the check evaluates (``rules.yaml``: the metadata rules)
    table: str = ""
    ok: Ok | None = None

    @property
    def finding_rules(self) -> set[str]:
        """The finding rule ids the check emits itself (variants folded)."""
        return {r.rule for r in self.rules.values()}


def _rule(name: str, value: Any, check: str) -> RuleSpec:
    if isinstance(value, str):
        value = {"severity": value}
    if not isinstance(value, Mapping) or set(value) - {"severity", "source"}:
        raise RuleError(f"{check}: rule {name} must be a severity or {{severity, source}}")
    if value.get("severity") not in SEVERITIES:
        raise RuleError(f"{check}: rule {name}: severity must be one of {SEVERITIES}")
    if value["severity"] == "warning" and not value.get("source"):
        # house rule: a check that only warns says why (never stricter than the official chain, never silent)
        raise RuleError(f"{check}: rule {name} only warns: its source must say why")
    return RuleSpec(name, value["severity"], value.get("source", ""))


def _spec(row: Mapping[str, Any], defaults: Mapping[str, Any]) -> CheckSpec:
    row, name = open_row(row, defaults, keys=_KEYS, objects=OBJECTS, error=RuleError)
    for key in ("requirements", "proofs", "source", "scope"):
        if not row.get(key):
            raise RuleError(f"{name}: {key} missing")
    raw: Mapping[str, Any] = row.get("rules") or {}
    if not raw:
        raise RuleError(f"{name}: rules missing")
    specs = {k: _rule(k, v, name) for k, v in raw.items()}
    ok = row.get("ok")
    if ok is not None:
        if ok.get("when") not in OK_WHEN or ok.get("rule") not in specs or specs[ok["rule"]].severity != "info":
            raise RuleError(f"{name}: ok needs when in {OK_WHEN} and an info rule among the check's rules")
        ok = Ok(ok["when"], ok["rule"], ok["message"], ok["message_en"])
    return CheckSpec(id=name, object=row["object"], rules=specs, requirements=tuple(row["requirements"]),
                     proofs=tuple(row["proofs"]), source=row["source"], scope=row["scope"],
                     calls=tuple(row.get("calls") or ()), external=tuple(row.get("external") or ()),
                     table=row.get("table", ""), ok=ok)


def default_path() -> Path:
    return Path(str(resources.files("segur_profiles") / "dmp" / "checks.yaml"))


def _calls_declared(specs: Mapping[str, CheckSpec]) -> None:
    for spec in specs.values():
        if set(spec.calls) - set(specs):
            raise RuleError(f"{spec.id}: calls undeclared checks {sorted(set(spec.calls) - set(specs))}")


TABLE = CheckTable(default_path, _spec, error=RuleError, validate=_calls_declared)
load_specs = TABLE.load
specs = TABLE.specs
spec = TABLE.spec
requirements = TABLE.requirements
marker = TABLE.marker


# ---------------------------------------------------------------------------------------------
# the check's side: findings made from the declaration
# ---------------------------------------------------------------------------------------------
_MAKERS = {"error": error, "warning": warning, "info": info}


@dataclass
class Check:
    """What a check's condition receives: ``c(rule, fr, en, **place)`` makes one of its findings."""

    spec: CheckSpec
    artefact: str = ""
    requirements: tuple[str, ...] = ()
    stopped: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def __call__(self, rule: str, fr: str, en: str, *, strict: bool | None = None, **place: Any) -> Finding:
        """The finding ``rule`` (a declared id, with its ``/variant`` if any) at the declared severity.
        ``strict`` answers a ``registry`` severity: True for an error, False for a warning."""
        declared = self.spec.rules.get(rule)
        if declared is None:
            raise RuleError(f"check {self.spec.id}: rule {rule!r} is not declared in profiles/dmp/checks.yaml")
        severity = declared.severity
        if severity == "registry":
            if strict is None:
                raise RuleError(f"check {self.spec.id}: rule {rule} has a registry severity: strict= is required")
            severity = "error" if strict else "warning"
        place.setdefault("artefact", self.artefact)
        place.setdefault("requirements", self.requirements)
        return _MAKERS[severity](fr, en, rule=declared.rule, **place)

    def stop(self, findings: list[Finding]) -> list[Finding]:
        """End the check with exactly these findings (no closing INFO)."""
        self.stopped = True
        return findings


P = ParamSpec("P")
REGISTRY: dict[str, Callable[..., list[Finding]]] = {}
#: declared checks that report through ``reporter`` instead of a registered function (the request reader)
REPORTERS: set[str] = set()


def reporter(name: str, artefact: str = "", requirements: tuple[str, ...] = ()) -> Check:
    """A ``Check`` for code that reports as it goes instead of returning its findings (the request reader)."""
    declared = spec(name)
    REPORTERS.add(name)
    return Check(declared, artefact, requirements or declared.requirements)


def _artefact_of(arguments: Mapping[str, Any]) -> str:
    if arguments.get("artefact"):
        return str(arguments["artefact"])
    for value in arguments.values():
        artefact = getattr(value, "artefact", None)
        if isinstance(artefact, str):
            return artefact
    return ""


def dmp_check(name: str) -> Callable[[Callable[Concatenate[Check, P], list[Finding]]], Callable[P, list[Finding]]]:
    """Declare the function checking ``name`` of profiles/dmp/checks.yaml. It is called with a ``Check``
    first: the artefact is the ``artefact`` argument, else that of the first argument that has one (the
    request); the requirements are the ``requirements`` argument when the caller gives one, else the data's.
    The data's ``ok`` INFO is added when the check held (unless it ended with ``c.stop``)."""
    declared = spec(name)

    def wrap(condition: Callable[Concatenate[Check, P], list[Finding]]) -> Callable[P, list[Finding]]:
        signature = inspect.signature(condition)
        first = next(iter(signature.parameters))

        @functools.wraps(condition)
        def check(*args: P.args, **kwargs: P.kwargs) -> list[Finding]:
            bound = signature.bind_partial(None, *args, **kwargs)
            bound.apply_defaults()
            arguments = {k: v for k, v in bound.arguments.items() if k != first}
            c = Check(declared, _artefact_of(arguments),
                      tuple(arguments.get("requirements") or ()) or declared.requirements)
            out = condition(c, *args, **kwargs)
            ok = declared.ok
            if ok is not None and not c.stopped and (
                    not out if ok.when == "no_findings" else not any(f.is_error for f in out)):
                out.append(info(ok.message, ok.message_en, rule=ok.rule, artefact=c.artefact,
                                requirements=c.requirements))
            return out

        check.spec = declared  # type: ignore[attr-defined]
        # what callers see: the condition's parameters without the Check
        check.__signature__ = signature.replace(  # type: ignore[attr-defined]
            parameters=list(signature.parameters.values())[1:])
        REGISTRY[name] = check
        return check

    return wrap
