"""Proof-level traceability: which proofs a test verifies, and which proofs a finding is evidence for.

Why: a requirement has scenarios and proofs (ANS's own shape), and an auditor judges proof by proof. A
verdict copied from the whole test, or from the whole requirement, blames proofs for their siblings'
failures. Two sources say where a finding belongs, both data:

- the test's ``@pytest.mark.requirement`` marker, which may name requirement, scenario or proof ids
  (a requirement or scenario id stands for its automated proofs);
- ``profiles/traceability.yaml``, which maps rule ids (exact, or a ``PREFIX.*`` family) to the proofs their
  findings are evidence for, and says which checks can only warn (``can_fail: false``) and which
  findings are consequences of another (shown after their cause).

A finding counts only against proofs of its own test: the proofs it names, else those of its rule, else
those of the requirements it names, else every proof of the test.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import yaml

from conformance.findings import Finding

ENV_FILE = "SEGUR_TRACEABILITY_FILE"


class _ProofLike(Protocol):  # read-only members: the catalogue's frozen dataclasses satisfy them
    @property
    def id(self) -> str: ...

    @property
    def method(self) -> str: ...


class _ScenarioLike(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def proofs(self) -> tuple[Any, ...]: ...


class _RequirementLike(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def scenarios(self) -> tuple[Any, ...]: ...


class TraceabilityError(ValueError):
    pass


@dataclass(frozen=True)
class RuleTrace:
    """One line of profiles/traceability.yaml."""

    rule: str
    proofs: tuple[str, ...] = ()
    can_fail: bool = True
    consequence: bool = False
    reason: str = ""

    def matches(self, rule: str) -> bool:
        if self.rule.endswith(".*"):
            return rule == self.rule[:-2] or rule.startswith(self.rule[:-1])
        return rule == self.rule

    @property
    def specificity(self) -> int:
        return len(self.rule) + (1000 if not self.rule.endswith(".*") else 0)


@dataclass
class ProofIndex:
    """Where every requirement, scenario and proof id of the catalogue sits."""

    requirement_of: dict[str, str] = field(default_factory=dict)  # proof or scenario id -> requirement id
    automated: dict[str, tuple[str, ...]] = field(default_factory=dict)  # any id -> its automated proofs
    manual: set[str] = field(default_factory=set)

    @classmethod
    def build(cls, catalogue: Iterable[_RequirementLike]) -> ProofIndex:
        index = cls()
        for req in catalogue:
            req_auto: list[str] = []
            for scenario in req.scenarios:
                auto = tuple(p.id for p in scenario.proofs if p.method != "manual")
                for p in scenario.proofs:
                    index.requirement_of[p.id] = req.id
                    index.automated[p.id] = (p.id,) if p.method != "manual" else ()
                    if p.method == "manual":
                        index.manual.add(p.id)
                index.requirement_of[scenario.id] = req.id
                index.automated[scenario.id] = auto
                req_auto.extend(auto)
            index.requirement_of[req.id] = req.id
            index.automated[req.id] = tuple(req_auto)
        return index

    def knows(self, any_id: str) -> bool:
        return any_id in self.requirement_of

    def requirement(self, any_id: str) -> str:
        return self.requirement_of.get(any_id, any_id)

    def proofs_of(self, ids: Iterable[str]) -> tuple[str, ...]:
        out: list[str] = []
        for any_id in ids:
            out.extend(self.automated.get(any_id, ()))
        return tuple(dict.fromkeys(out))


@dataclass(frozen=True)
class RuleMap:
    traces: tuple[RuleTrace, ...] = ()

    def lookup(self, rule: str) -> RuleTrace | None:
        if not rule:
            return None
        best: RuleTrace | None = None
        for trace in self.traces:
            if trace.matches(rule) and (best is None or trace.specificity > best.specificity):
                best = trace
        return best

    def can_fail(self, rule: str) -> bool:
        trace = self.lookup(rule)
        return True if trace is None else trace.can_fail

    def consequence(self, rule: str) -> bool:
        trace = self.lookup(rule)
        return bool(trace and trace.consequence)

    def reason(self, rule: str) -> str:
        trace = self.lookup(rule)
        return trace.reason if trace else ""


def parse_rule_map(data: Any, where: str = "traceability.yaml") -> RuleMap:
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        raise TraceabilityError(f"{where}: expected a mapping with a 'rules' list")
    traces: list[RuleTrace] = []
    problems: list[str] = []
    for i, raw in enumerate(data["rules"]):
        if not isinstance(raw, dict) or not isinstance(raw.get("rule"), str) or not raw["rule"]:
            problems.append(f"{where}: rules[{i}] needs a 'rule' string")
            continue
        proofs = raw.get("proofs", [])
        if not isinstance(proofs, list) or not all(isinstance(p, str) for p in proofs):
            problems.append(f"{where}: rules[{i}] ({raw['rule']}): 'proofs' must be a list of ids")
            continue
        unknown = set(raw) - {"rule", "proofs", "can_fail", "consequence", "reason"}
        if unknown:
            problems.append(f"{where}: rules[{i}] ({raw['rule']}): unknown key(s) {sorted(unknown)}")
            continue
        if raw.get("can_fail") is False and not raw.get("reason"):
            problems.append(f"{where}: rules[{i}] ({raw['rule']}): can_fail: false needs a 'reason'")
            continue
        traces.append(RuleTrace(rule=raw["rule"], proofs=tuple(proofs), can_fail=bool(raw.get("can_fail", True)),
                                consequence=bool(raw.get("consequence", False)), reason=str(raw.get("reason", ""))))
    if problems:
        raise TraceabilityError("\n".join(problems))
    return RuleMap(tuple(traces))


def _default_path() -> Path:
    env = os.environ.get(ENV_FILE)
    if env:
        return Path(env)
    try:
        return Path(str(resources.files("segur_profiles") / "traceability.yaml"))
    except ModuleNotFoundError:  # running from a source tree without the install
        return Path(__file__).resolve().parent.parent / "profiles" / "traceability.yaml"


@functools.lru_cache(maxsize=4)
def _load(path: str) -> RuleMap:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise TraceabilityError(f"{path}: {exc}") from None
    return parse_rule_map(data, path)


def load_rule_map(path: Path | None = None) -> RuleMap:
    return _load(str(path or _default_path()))


def check_rule_map(rule_map: RuleMap, index: ProofIndex) -> list[str]:
    """Every proof named in the data exists and is automated."""
    problems = []
    for trace in rule_map.traces:
        for pid in trace.proofs:
            if pid not in index.requirement_of or pid in index.manual or pid not in index.automated.get(pid, ()):
                problems.append(f"traceability.yaml: {trace.rule}: {pid!r} is not an automated proof of the catalogue")
    return problems


def attribute(finding: Finding, test_proofs: tuple[str, ...], index: ProofIndex, rule_map: RuleMap
              ) -> tuple[str, ...]:
    """The proofs of ``test_proofs`` that ``finding`` counts against; () when it belongs to none of them."""
    if not test_proofs:
        return ()
    own = set(test_proofs)
    if finding.proofs:
        named = [p for p in index.proofs_of(finding.proofs) if p in own]
        return tuple(named)
    trace = rule_map.lookup(finding.rule)
    if trace is not None and trace.proofs:
        return tuple(p for p in trace.proofs if p in own)  # the data says where it belongs
    if finding.requirements:
        named = [p for p in index.proofs_of(finding.requirements) if p in own]
        return tuple(named)  # a finding naming only other requirements is not this test's evidence
    return test_proofs
