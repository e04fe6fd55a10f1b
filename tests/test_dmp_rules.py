"""The DMP metadata rule table (profiles/dmp/rules.yaml) and its engine (conformance/dmp/rules.py).

What the data promises is checked against the catalogue, the suite and profiles/traceability.yaml; the
table's behaviour itself is pinned by tests/test_dmp_rules_golden.py (the findings before and after the
rules moved to data are the same)."""

from __future__ import annotations

from pathlib import Path

import pytest
from rules_golden import load_golden

from conformance.dmp import rules
from conformance.dmp.valuesets import ValueSets
from conformance.ihe.xds import Author, Coded, DocumentEntry
from conformance.requirements import load_catalogue
from conformance.traceability import ProofIndex, load_rule_map


def _index() -> ProofIndex:
    return ProofIndex.build(load_catalogue())


def suite_marker_ids(module_name: str) -> set[str]:
    """Every id on a ``requirement`` marker of a suite module (parametrized marks included)."""
    import importlib

    module = importlib.import_module(module_name)
    ids: set[str] = set()
    for name in dir(module):
        fn = getattr(module, name)
        if not name.startswith("test_") or not callable(fn):
            continue
        for mark in getattr(fn, "pytestmark", []):
            if mark.name == "requirement":
                ids.update(mark.args)
            if mark.name == "parametrize":
                for param in mark.args[1]:
                    for inner in getattr(param, "marks", ()):
                        if inner.name == "requirement":
                            ids.update(inner.args)
    return ids


def test_every_rule_is_complete_and_cited() -> None:
    table = rules.load_rules()
    assert len(table) >= 40
    for rule in table:
        assert rule.source and rule.scope and rule.proofs and rule.requirements, rule.id
        assert rule.message and rule.message_en, rule.id
        assert rule.severity in rules.SEVERITIES and rule.check in rules.PREDICATES, rule.id


def test_rule_proofs_are_automated_proofs_of_their_requirements_verified_by_the_suite() -> None:
    index = _index()
    marked = set(index.proofs_of(suite_marker_ids("conformance.suites.test_dmp")))
    for rule in rules.load_rules():
        assert set(rule.proofs) <= set(index.proofs_of(rule.requirements)), rule.id
        assert set(rule.proofs) <= marked, f"{rule.id}: no suite test verifies {rule.proofs}"


def test_traceability_is_referenced_not_repeated() -> None:
    """profiles/traceability.yaml maps some DMP rules (consequences, unconfirmed checks): a table rule never
    gives another proof list for a rule id traceability.yaml already maps."""
    traces = load_rule_map()
    for rule in rules.load_rules():
        trace = traces.lookup(rule.rule)
        if trace is not None and trace.proofs:
            assert set(trace.proofs) == set(rule.proofs), rule.id


def test_every_automated_dmp_proof_is_covered_by_a_rule_or_a_marker() -> None:
    index = _index()
    catalogue = load_catalogue()
    dmp = {p.id for r in catalogue if r.section == "DMP" for s in r.scenarios for p in s.proofs
           if p.method != "manual"}
    assert dmp
    covered = {p for rule in rules.load_rules() for p in rule.proofs}
    covered |= set(index.proofs_of(suite_marker_ids("conformance.suites.test_dmp")))
    assert dmp <= covered, sorted(dmp - covered)


def test_the_golden_findings_exercise_every_rule() -> None:
    golden = load_golden()
    seen = {f["rule"] for cases in golden["dmp_mutations"].values() for f in cases}
    seen |= {f.get("rule") for per_input in golden["dmp"].values() for fs in per_input.values() for f in fs}
    missing = {r.rule for r in rules.load_rules()} - seen
    assert not missing, sorted(missing)


@pytest.mark.parametrize("row, error", [
    ("{id: X.a, object: DocumentEntry, check: nope, message: m, message_en: m}", "unknown check"),
    ("{id: X.a, object: Document, check: present, with: {field: title}, message: m, message_en: m}", "object"),
    ("{id: X.a, object: DocumentEntry, check: present, with: {field: title}, severity: fatal, message: m, "
     "message_en: m}", "severity"),
    ("{id: X.a, object: DocumentEntry, check: equals, with: {field: title, value: $ns.NOPE}, message: m, "
     "message_en: m}", "unknown constant"),
    ("{id: X.a, object: DocumentEntry, check: present, with: {field: title}, message: m, message_en: m, "
     "colour: red}", "unknown keys"),
])
def test_a_malformed_table_is_refused(tmp_path: Path, row: str, error: str) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(f"rules:\n  - {row}\n", encoding="utf-8")
    with pytest.raises(rules.RuleError, match=error):
        rules.load_rules(path)


def test_a_new_rule_is_data_only(tmp_path: Path) -> None:
    """A rule added to a table is evaluated with no code: here, a title that must not be empty is made a warning
    with its own message and source."""
    path = tmp_path / "rules.yaml"
    path.write_text("""
defaults: {severity: error, requirements: [DUI.DMP.01], proofs: [DUI.DMP.01.04.01], scope: test, source: test}
rules:
  - id: DMP.TEST.title
    object: DocumentEntry
    check: present
    with: {field: title}
    severity: warning
    message: "titre absent"
    message_en: "title missing"
  - id: DMP.TEST.authors/person
    object: DocumentEntry
    check: author_without_person
    over: authors
    message: "auteur {found|sans personne}"
    message_en: "author without person"
""", encoding="utf-8")
    table = rules.load_rules(path)
    entry = DocumentEntry(id="Doc1", title="", authors=[Author(person=["1^A"]), Author()],
                          codes={"classCode": [Coded("10", "1.2.250.1.213.1.1.4.1")]})
    found = rules.evaluate("DocumentEntry", entry, ValueSets(), artefact="a", xpath="/x", table=table)
    assert [(f.rule, f.severity.value, f.message) for f in found] == [
        ("DMP.TEST.title", "warning", "DocumentEntry Doc1 : titre absent"),
        ("DMP.TEST.authors", "error", "DocumentEntry Doc1 : auteur sans personne")]
    entry.title = "Titre"
    entry.authors = [Author(person=["1^A"])]
    assert rules.evaluate("DocumentEntry", entry, ValueSets(), artefact="a", xpath="/x", table=table) == []
