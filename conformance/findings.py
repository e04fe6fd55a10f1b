"""Findings: the one shape every check returns.

A check never decides a verdict; it reports what it saw. Verdicts are computed later, per requirement,
from the findings of all the tests linked to it. That separation is what lets the same check serve
pytest, ``segur-conformance validate``, the simulators and the harness's own tests.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field, replace
from typing import Any


class Severity(enum.StrEnum):
    """How much a finding weighs in the verdict.

    ``ERROR`` fails the requirement; ``WARNING`` is reported but does not fail it (used for rules we
    inferred or that are marked unconfirmed); ``INFO`` records a passed point of verification.
    """

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True)
class Finding:
    """One problem (or one observation) about one artefact.

    ``message`` is French (auditors are French); ``message_en`` is its English twin. ``expected`` and
    ``found`` are literal values, never prose, so a reader can compare them at a glance.
    """

    message: str
    message_en: str = ""
    severity: Severity = Severity.ERROR
    rule: str = ""
    artefact: str = ""
    xpath: str = ""
    line: int | None = None
    expected: str = ""
    found: str = ""
    requirements: tuple[str, ...] = ()
    evidence: str = ""
    #: the proof ids (``DUI.DMP.01.04.01``) this finding is evidence for; filled by the plugin from the
    #: test's marker and profiles/traceability.yaml when the check does not name them itself
    proofs: tuple[str, ...] = ()
    evidence_sha256: str = ""

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def text(self, lang: str = "fr") -> str:
        return self.message_en if lang == "en" and self.message_en else self.message

    def with_artefact(self, artefact: str) -> Finding:
        return self if self.artefact else replace(self, artefact=artefact)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["severity"] = self.severity.value
        data["requirements"] = list(self.requirements)
        data["proofs"] = list(self.proofs)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        known = {f for f in cls.__dataclass_fields__}
        kwargs = {k: v for k, v in data.items() if k in known}
        kwargs["severity"] = Severity(kwargs.get("severity", "error"))
        kwargs["requirements"] = tuple(kwargs.get("requirements", ()))
        kwargs["proofs"] = tuple(kwargs.get("proofs", ()))
        return cls(**kwargs)


def error(message: str, message_en: str = "", **kw: Any) -> Finding:
    return Finding(message=message, message_en=message_en, severity=Severity.ERROR, **kw)


def warning(message: str, message_en: str = "", **kw: Any) -> Finding:
    return Finding(message=message, message_en=message_en, severity=Severity.WARNING, **kw)


def info(message: str, message_en: str = "", **kw: Any) -> Finding:
    return Finding(message=message, message_en=message_en, severity=Severity.INFO, **kw)


class NotEvaluated(Exception):
    """Raised by a check that could not run (missing kit, crashed validator, sandbox down).

    The plugin turns it into the ``error`` verdict, never into ``passed``.
    """

    def __init__(self, reason: str, reason_en: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.reason_en = reason_en or reason


@dataclass
class FindingList:
    """A small accumulator so checks can write ``out.add(...)`` and return ``out.items``."""

    items: list[Finding] = field(default_factory=list)

    def add(self, finding: Finding) -> None:
        self.items.append(finding)

    def extend(self, findings: list[Finding]) -> None:
        self.items.extend(findings)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.items if f.is_error]


def has_errors(findings: list[Finding]) -> bool:
    return any(f.is_error for f in findings)
