"""The MSSanté check table (profiles/mss/rules.yaml) and its engine (conformance/mss/rules.py).

Each check is declared once (rules, requirements, proofs, source, scope, its closing INFO); these tests hold
the data to the code, the catalogue, the suite's markers and profiles/traceability.yaml. The findings
themselves are pinned by tests/test_mss_rules_golden.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from rules_golden import load_golden
from test_dmp_rules import suite_marker_ids

from conformance.mss import checks as mc
from conformance.mss import rules
from conformance.requirements import load_catalogue
from conformance.traceability import ProofIndex, load_rule_map


def test_every_message_check_is_declared_and_every_declaration_has_its_check() -> None:
    specs = rules.load_specs()
    message_specs = {name for name, spec in specs.items() if spec.object != "session"}
    assert set(rules.REGISTRY) == message_specs
    assert set(mc.MESSAGE_CHECKS.values()) | {mc.check_replacement} == set(rules.REGISTRY.values())
    for spec in specs.values():
        assert spec.source and spec.scope and spec.rules and spec.requirements and spec.proofs, spec.id


def test_proofs_are_the_automated_proofs_of_the_requirements_and_make_the_suite_markers() -> None:
    index = ProofIndex.build(load_catalogue())
    marked = suite_marker_ids("conformance.suites.test_mss")
    for spec in rules.load_specs().values():
        assert set(spec.proofs) <= set(index.proofs_of(spec.requirements)), spec.id
        assert all(index.knows(r) for r in spec.requirements), spec.id
        assert set(spec.proofs) <= marked, f"{spec.id}: no suite test is marked with {spec.proofs}"


def test_every_automated_mss_proof_is_covered_by_a_check_or_a_marker() -> None:
    index = ProofIndex.build(load_catalogue())
    mss = {p.id for r in load_catalogue() if r.section == "MSS" for s in r.scenarios for p in s.proofs
           if p.method != "manual"}
    assert mss
    covered = {p for spec in rules.load_specs().values() for p in spec.proofs}
    covered |= set(index.proofs_of(suite_marker_ids("conformance.suites.test_mss")))
    assert mss <= covered, sorted(mss - covered)


def test_traceability_narrows_within_the_check_proofs() -> None:
    """traceability.yaml says which of a check's proofs some of its rules count against; it never names a proof
    the check (hence its test) does not verify, and the table does not repeat it."""
    traces = load_rule_map()
    for spec in rules.load_specs().values():
        for rule in spec.rules:
            trace = traces.lookup(rule)
            if trace is not None and trace.proofs and trace.rule == rule:
                owners = [s for s in rules.load_specs().values() if rule in s.rules]
                assert set(trace.proofs) <= {p for s in owners for p in s.proofs}, rule


def test_the_data_names_every_rule_the_checks_emit() -> None:
    golden = load_golden()["mss"]
    declared = {r for spec in rules.load_specs().values() for r in spec.rules} | {"MSS.MIME.PARSE"}
    emitted = {f["rule"] for per_input in golden.values() for fs in per_input.values() for f in fs}
    emitted -= {r for r in emitted if r.startswith(("MSS.XDM.", "MSS.MIME."))}  # XDM/MIME readers' own findings
    assert emitted <= declared, sorted(emitted - declared)


def test_unreadable_message_fails_every_check_that_reads_it() -> None:
    it = mc.inspect(b"\x00\x01 not a message", "broken.eml")
    if it.msg.ok:
        pytest.skip("the MIME reader accepts this input")
    for name, check in rules.REGISTRY.items():
        found = check(it)
        assert any(f.is_error for f in found), name
        if rules.spec(name).readable:
            assert [f.rule for f in found] == ["MSS.MIME.PARSE"]
            assert found[0].requirements == rules.requirements(name)


@pytest.mark.parametrize("row, error", [
    ("{id: x, object: letter, rules: [A], requirements: [R], proofs: [P], source: s}", "object"),
    ("{id: x, object: headers, rules: [A], requirements: [R], proofs: [P]}", "source missing"),
    ("{id: x, object: headers, rules: [A], requirements: [R], proofs: [P], source: s, ok: {when: always, rule: A, "
     "message: m, message_en: m}}", "ok needs"),
    ("{id: x, object: headers, rules: [A], requirements: [R], proofs: [P], source: s, requirements_by_rule: "
     "{B: [R]}}", "requirements_by_rule"),
])
def test_a_malformed_table_is_refused(tmp_path: Path, row: str, error: str) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(f"defaults: {{severity: error}}\nchecks:\n  - {row}\n", encoding="utf-8")
    with pytest.raises(rules.RuleError, match=error):
        rules.load_specs(path)


def test_an_undeclared_check_cannot_be_registered() -> None:
    with pytest.raises(rules.RuleError, match="not declared"):
        rules.message_check("no_such_check")


def test_every_applies_condition_is_registered_and_says_not_applicable() -> None:
    """The applicability conditions are data (applies.when): each names a registered predicate, and a message
    it does not hold on gets only the declared INFO "not applicable"."""
    applying = {name: spec for name, spec in rules.load_specs().items() if spec.applies is not None}
    assert set(applying) == {"mime", "xdm", "reply", "applicative"}
    assert {spec.applies.when for spec in applying.values()} <= set(rules.CONDITIONS)
    plain = (b"From: Dr A <a@hopital.mssante.fr>\r\nTo: b@hopital.mssante.fr\r\nSubject: bonjour\r\n"
             b"Message-ID: <1@hopital.mssante.fr>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nbonjour\r\n")
    it = mc.inspect(plain, "plain.eml", mc.MessageContext(applicative=False))
    assert it.msg.ok
    for name, spec in applying.items():
        found = rules.REGISTRY[name](it)
        assert [(f.rule, f.severity.value, f.message) for f in found] == [
            (spec.applies.rule, "info", spec.applies.message)], name
        assert found[0].requirements == spec.requirements


def test_an_unknown_condition_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("checks:\n  - {id: x, object: headers, rules: [A], requirements: [R], proofs: [P], source: s, "
                    "severity: error, applies: {when: c, rule: B, message: m, message_en: m}}\n", encoding="utf-8")
    with pytest.raises(rules.RuleError, match="applies needs"):
        rules.load_specs(path)


def test_a_check_declared_as_a_warning_never_fails_a_readable_message() -> None:
    """`severity: warning` in the data is what the check does: on the recorded messages, its findings are never
    errors (but the common opening's: an unreadable message fails every check that reads it)."""
    golden = load_golden()["mss"]
    warning_only = {rules.REGISTRY[name].__name__ for name, spec in rules.load_specs().items()
                    if spec.severity == "warning" and name in rules.REGISTRY}
    assert warning_only == {"check_delivery_receipt_request", "check_body_type"}
    seen = 0
    for per_input in golden.values():
        for fn, findings in per_input.items():
            if fn in warning_only:
                seen += 1
                assert all(f["severity"] != "error" or f["rule"] == "MSS.MIME.PARSE" for f in findings), fn
    assert seen
