"""The data of layer 3: rules, document models, value sets and N1 judgements, with the vocabularies
their YAML may use (``profiles/documents/*.yaml``, ``profiles/valuesets/*.yaml``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from conformance.findings import Severity

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



def walk_rules(rules: Iterable[Rule]) -> Iterable[Rule]:
    for r in rules:
        yield r
        yield from walk_rules(r.rules)
