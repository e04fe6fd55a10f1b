"""The engine of the MSSanté checks: profiles/mss/rules.yaml, and the opening and closing every check shares.

Why: each message check used to start by refusing an unreadable message, build the place of its findings
from its header, and end with an INFO "conforms" when nothing was found; and its requirement ids were
typed three times (the YAML catalogue, an ``R_*`` constant, the suite's marker). Now a check is declared
once in the data (rule ids, severity, requirements, proofs, source, scope, the INFO it records when it
held) and its function holds only its condition. ``@message_check(id)`` wraps it with the common opening and
closing; ``marker(id)`` is the suite test's ``requirement`` marker, made from the same data.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conformance.check_table import OK_WHEN, CheckTable, Ok, open_row
from conformance.findings import Finding, error, info

if TYPE_CHECKING:
    from conformance.mss.checks import Inspected

OBJECTS = ("message", "headers", "xdm", "body", "session")
PLACES = ("check", "message")


class RuleError(ValueError):
    """A malformed profiles/mss/rules.yaml."""


@dataclass(frozen=True)
class Applies:
    """When a check applies to a message (``when``: a condition registered with ``@condition``), and the INFO
    "not applicable" it records otherwise, at the check's place or the message's (``place``)."""

    when: str
    rule: str
    message: str
    message_en: str
    place: str = "check"


@dataclass(frozen=True)
class CheckSpec:
    """One entry of profiles/mss/rules.yaml."""

    id: str
    object: str
    rules: tuple[str, ...]
    requirements: tuple[str, ...]
    proofs: tuple[str, ...]
    source: str
    scope: str
    severity: str = "error"
    header: str = ""
    xpath: str = ""
    readable: bool = True
    ok: Ok | None = None
    applies: Applies | None = None
    requirements_by_rule: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def requirements_of(self, rule: str) -> tuple[str, ...]:
        return self.requirements_by_rule.get(rule, self.requirements)


_KEYS = {"id", "object", "rules", "requirements", "proofs", "source", "scope", "severity", "header", "xpath",
         "readable", "ok", "applies", "requirements_by_rule"}


def _spec(row: Mapping[str, Any], defaults: Mapping[str, Any]) -> CheckSpec:
    row, name = open_row(row, defaults, keys=_KEYS, objects=OBJECTS, error=RuleError)
    if row.get("severity") not in ("error", "warning"):
        raise RuleError(f"{name}: severity must be error or warning")
    for key in ("rules", "requirements", "proofs", "source"):
        if not row.get(key):
            raise RuleError(f"{name}: {key} missing")
    ok = row.get("ok")
    if ok is not None:
        if ok.get("when") not in OK_WHEN or ok.get("rule") not in row["rules"]:
            raise RuleError(f"{name}: ok needs when in {OK_WHEN} and a rule among the check's rules")
        ok = Ok(ok["when"], ok["rule"], ok["message"], ok["message_en"])
    applies = row.get("applies")
    if applies is not None:
        if not applies.get("when") or applies.get("rule") not in row["rules"] \
                or applies.get("place", "check") not in PLACES:
            raise RuleError(f"{name}: applies needs a when, a rule among the check's rules and a place in {PLACES}")
        applies = Applies(applies["when"], applies["rule"], applies["message"], applies["message_en"],
                          applies.get("place", "check"))
    by_rule = {r: tuple(v) for r, v in (row.get("requirements_by_rule") or {}).items()}
    if set(by_rule) - set(row["rules"]):
        raise RuleError(f"{name}: requirements_by_rule names rules the check does not emit")
    return CheckSpec(id=name, object=row["object"], rules=tuple(row["rules"]),
                     requirements=tuple(row["requirements"]), proofs=tuple(row["proofs"]), source=row["source"],
                     scope=row.get("scope", ""), severity=row["severity"], header=row.get("header", ""),
                     xpath=row.get("xpath", ""), readable=row.get("readable", True), ok=ok, applies=applies,
                     requirements_by_rule=by_rule)


def default_path() -> Path:
    return Path(str(resources.files("segur_profiles") / "mss" / "rules.yaml"))


TABLE = CheckTable(default_path, _spec, error=RuleError)
load_specs = TABLE.load
specs = TABLE.specs
spec = TABLE.spec
requirements = TABLE.requirements
marker = TABLE.marker


# ---------------------------------------------------------------------------------------------
# the common opening and closing
# ---------------------------------------------------------------------------------------------
def header_where(it: Inspected, header: str) -> dict[str, Any]:
    """Where a finding about one header points: its xpath and its line in the message."""
    return {"artefact": it.artefact, "xpath": f"/en-têtes/{header}", "line": it.msg.line_of(header)}


def unreadable(it: Inspected, reqs: tuple[str, ...]) -> list[Finding]:
    """An unreadable message fails every check that reads it (it never passes one by saying nothing)."""
    if it.msg.ok:
        return []
    first = it.msg.findings[0] if it.msg.findings else None
    reason = first.message if first else "message illisible"
    return [error(f"message illisible, vérification impossible : {reason}",
                  f"unreadable message, check impossible: {first.message_en if first else 'unreadable'}",
                  rule="MSS.MIME.PARSE", artefact=it.artefact, requirements=reqs)]


@dataclass
class Check:
    """What a check's condition receives besides the message: where its findings point, and how it ends."""

    spec: CheckSpec
    it: Inspected
    #: the value the closing INFO shows (``found``), set by the condition when it has one
    found: str | None = None
    stopped: bool = False

    @property
    def requirements(self) -> tuple[str, ...]:
        return self.spec.requirements

    @property
    def where(self) -> dict[str, Any]:
        """artefact, xpath and line (of the check's header, or its fixed xpath) and requirements."""
        place: dict[str, Any] = {"artefact": self.it.artefact}
        if self.spec.header:
            place = header_where(self.it, self.spec.header)
        elif self.spec.xpath:
            place["xpath"] = self.spec.xpath
        return {**place, "requirements": self.spec.requirements}

    def at(self, header: str) -> dict[str, Any]:
        """``where``, pointing at another header."""
        return {**self.where, **header_where(self.it, header)}

    def stop(self, findings: list[Finding]) -> list[Finding]:
        """End the check with exactly these findings (no closing INFO)."""
        self.stopped = True
        return findings


Condition = Callable[["Inspected", Check], list[Finding]]
REGISTRY: dict[str, Callable[[Inspected], list[Finding]]] = {}
#: the named conditions ``applies.when`` may use (registered with ``@condition`` in conformance/mss/checks.py)
CONDITIONS: dict[str, Callable[[Inspected], bool]] = {}


def condition(name: str) -> Callable[[Callable[[Inspected], bool]], Callable[[Inspected], bool]]:
    """Register a predicate on a message under ``name``, for the ``applies.when`` of profiles/mss/rules.yaml."""
    def wrap(fn: Callable[[Inspected], bool]) -> Callable[[Inspected], bool]:
        CONDITIONS[name] = fn
        return fn

    return wrap


def not_applicable(declared: CheckSpec, it: Inspected) -> list[Finding] | None:
    """The INFO "not applicable" of a check whose ``applies.when`` does not hold on a readable message (after
    the reader's own findings when the check reports them, ``readable: false``), else None."""
    applies = declared.applies
    if applies is None or not it.msg.ok:
        return None
    try:
        holds = CONDITIONS[applies.when]
    except KeyError:
        raise RuleError(f"check {declared.id}: unknown condition {applies.when!r}") from None
    if holds(it):
        return None
    place = {"artefact": it.artefact, "requirements": declared.requirements} if applies.place == "message" \
        else Check(declared, it).where
    return [*([] if declared.readable else it.msg.findings),
            info(applies.message, applies.message_en, rule=applies.rule, **place)]


def message_check(name: str) -> Callable[[Condition], Callable[[Inspected], list[Finding]]]:
    """Declare the function checking ``name`` of profiles/mss/rules.yaml: it is called with the message and a
    ``Check`` only when the message is readable (unless ``readable: false``) and the check applies to it
    (``applies.when``, else the data's "not applicable" INFO), and the data's ``ok`` INFO is added when it
    held."""
    declared = spec(name)

    def wrap(condition: Condition) -> Callable[[Inspected], list[Finding]]:
        @functools.wraps(condition)
        def check(it: Inspected) -> list[Finding]:
            if declared.readable:
                out = unreadable(it, declared.requirements)
                if out:
                    return out
            skipped = not_applicable(declared, it)
            if skipped is not None:
                return skipped
            state = Check(declared, it)
            out = condition(it, state)
            ok = declared.ok
            if ok is not None and not state.stopped and (
                    not out if ok.when == "no_findings" else not any(f.is_error for f in out)):
                extra = {} if state.found is None else {"found": state.found}
                out.append(info(ok.message, ok.message_en, rule=ok.rule, **extra, **state.where))
            return out

        check.spec = declared  # type: ignore[attr-defined]
        REGISTRY[name] = check
        return check

    return wrap
