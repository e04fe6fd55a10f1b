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

This module is the room's face of layer 3; the work is done, one job a module, by ``model_types``
(rules, models, value sets), ``model_loader`` (reading and checking the data, ``ModelLibrary``),
``rule_engine`` (evaluating each rule kind, the named-check registry) and ``header_checks`` (the named
checks of the header; N1's lives in ``n1``).
"""

from __future__ import annotations

# importing header_checks registers the header's named checks (ins_identity, header_timestamps, language_tag)
from conformance.cda.header_checks import timestamp_problem
from conformance.cda.model_loader import ModelLibrary, kit_valuesets, load_builtin_valuesets, load_models
from conformance.cda.model_types import (
    BASES,
    HL7,
    KINDS,
    SEVERITIES,
    VERIFIED,
    XPATH_NS,
    Model,
    ModelError,
    N1Form,
    Rule,
    ValueSet,
)
from conformance.cda.rule_engine import (
    CheckFn,
    EvalContext,
    evaluate_rules,
    min_severity,
    readable_path,
    register_check,
    run_model,
    run_models,
)

__all__ = [
    "BASES", "HL7", "KINDS", "SEVERITIES", "VERIFIED", "XPATH_NS", "CheckFn", "EvalContext", "Model", "ModelError",
    "ModelLibrary", "N1Form", "Rule", "ValueSet", "evaluate_rules", "kit_valuesets", "load_builtin_valuesets",
    "load_models", "min_severity", "readable_path", "register_check", "run_model", "run_models",
    "timestamp_problem",
]
