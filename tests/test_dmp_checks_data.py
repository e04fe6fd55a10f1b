"""The DMP check table (profiles/dmp/checks.yaml) and its engine (conformance/dmp/engine.py).

Each check is declared once (rules with their severity, requirements, proofs, source, scope, its closing
INFO); these tests hold the data to the code (every declared rule is emitted by its check's module, every
rule the checks emit on the recorded inputs is declared, registered functions = declarations), to the
catalogue and to the suite's markers, and check that no requirement or proof id is typed again in
conformance/dmp. The findings themselves are pinned by tests/test_dmp_rules_golden.py."""

from __future__ import annotations

import inspect
import re
import sys
from pathlib import Path

import pytest
from rules_golden import load_golden
from test_dmp_rules import suite_marker_ids

from conformance.dmp import checks, engine, rules, trust, vihf, xades
from conformance.findings import Severity
from conformance.requirements import load_catalogue
from conformance.traceability import ProofIndex

DMP = Path(checks.__file__).parent
CHECK_MODULES = (checks, vihf, xades)


def test_every_registered_check_is_declared_and_every_declaration_has_its_check() -> None:
    import conformance.dmp.iti41  # noqa: F401  (the reader reports through engine.reporter)

    specs = engine.load_specs()
    assert set(engine.REGISTRY) | {"reader"} == set(specs) and "reader" not in engine.REGISTRY
    for name, fn in engine.REGISTRY.items():
        assert fn.spec is specs[name] or fn.spec == specs[name], name  # type: ignore[attr-defined]
        assert sys.modules[fn.__module__] in CHECK_MODULES, name
    for spec in specs.values():
        assert spec.source and spec.scope and spec.rules and spec.requirements and spec.proofs, spec.id


def test_proofs_are_automated_proofs_of_the_requirements_and_the_suite_verifies_them() -> None:
    index = ProofIndex.build(load_catalogue())
    marked = suite_marker_ids("conformance.suites.test_dmp")
    for spec in engine.load_specs().values():
        assert all(index.knows(r) for r in spec.requirements), spec.id
        assert set(spec.proofs) <= set(index.proofs_of(spec.requirements)), spec.id
        assert set(spec.proofs) <= set(index.proofs_of(marked)), f"{spec.id}: no suite test verifies {spec.proofs}"


def _module_source(name: str) -> str:
    return inspect.getsource(sys.modules[engine.REGISTRY[name].__module__])


def test_every_declared_rule_is_emitted_by_its_check() -> None:
    """Each declared rule id (with its variant) is written where its check's module reports it; the trust
    rules ``<prefix>.…`` are reported by conformance/dmp/trust.py for the prefix the module passes."""
    trust_source = inspect.getsource(trust)
    for spec in engine.load_specs().values():
        source = _module_source(spec.id) if spec.id != "reader" else "".join(
            (DMP / m).read_text(encoding="utf-8") for m in ("iti41.py", "mtom.py", "soap.py")) + inspect.getsource(
            sys.modules["conformance.ihe.xds"])
        prefixes = set(re.findall(r'prefix="([A-Z.]+)"', source))
        for rid in spec.rules:
            if f'"{rid}"' in source or (spec.ok is not None and rid == spec.ok.rule):  # ok: the engine's closing
                continue
            head, _, suffix = rid.rpartition(".")
            assert head in prefixes and f'f"{{prefix}}.{suffix}"' in trust_source, f"{spec.id}: {rid} never emitted"


def test_every_emitted_rule_is_declared() -> None:
    """On the recorded campaign and unit-test inputs, every rule the DMP checks emit is declared by a check,
    by the metadata table, or is an external family (the lower layers' own)."""
    specs = engine.load_specs().values()
    declared = {r for s in specs for r in s.finding_rules} | {r.rule for r in rules.load_rules()}
    external = tuple(f.rstrip("*") for s in specs for f in s.external)
    emitted = {f["rule"] for per_input in load_golden()["dmp"].values() for fs in per_input.values()
               for f in fs if "rule" in f}
    assert emitted
    left = {r for r in emitted - declared if not r.startswith(external)}
    assert not left, sorted(left)


def test_severities_come_from_the_data() -> None:
    """The same finding rule declared at two severities only under two variants, and each finding of the
    recorded inputs has the severity its check declares for one of its variants."""
    by_rule: dict[tuple[str, str], set[str]] = {}
    for spec in engine.load_specs().values():
        for r in spec.rules.values():
            by_rule.setdefault((spec.id, r.rule), set()).add(r.severity)
    allowed: dict[str, set[str]] = {}
    for (_check, rule), sevs in by_rule.items():
        allowed.setdefault(rule, set()).update(
            {"error", "warning"} if "registry" in sevs else sevs)
    for per_input in load_golden()["dmp"].values():
        for fs in per_input.values():
            for f in fs:
                if f.get("rule") in allowed:
                    assert f["severity"] in allowed[f["rule"]], f


def test_no_requirement_or_proof_id_is_typed_in_the_dmp_code() -> None:
    """Requirement and proof ids are written once, in the data (docstrings and comments may cite them)."""
    ids = {p.id for r in load_catalogue() for s in r.scenarios for p in s.proofs} | {r.id for r in load_catalogue()}
    pattern = re.compile(r"""["']([A-Z][A-Za-z./]*\.\d{2}(?:\.\d{2})*)["']""")
    for path in DMP.glob("*.py"):
        code = [line for line in path.read_text(encoding="utf-8").splitlines() if not line.lstrip().startswith("#")]
        literals = {m for line in code for m in pattern.findall(line)}
        assert not literals & ids, f"{path.name}: {sorted(literals & ids)}"


def test_findings_name_the_declared_requirements() -> None:
    found = checks.check_td02(b"not xml", "application/soap+xml", "")
    assert [f.rule for f in found] == ["DMP.TD02.unreadable"]
    assert found[0].requirements == engine.requirements("td02") and found[0].severity is Severity.ERROR
    assert checks.check_td02(b"not xml", "", "", requirements=("X",))[0].requirements == ("X",)


def test_an_undeclared_rule_cannot_be_reported() -> None:
    c = engine.Check(engine.spec("td02"), "a", ("R",))
    with pytest.raises(engine.RuleError, match="not declared"):
        c("DMP.TD02.nothing", "fr", "en")
    with pytest.raises(engine.RuleError, match="strict"):
        engine.Check(engine.spec("replacement"))("DMP.RPLC.unknown_target", "fr", "en")
    assert engine.Check(engine.spec("replacement"))("DMP.RPLC.unknown_target", "f", "e", strict=False).severity \
        is Severity.WARNING


def test_a_variant_is_reported_under_its_finding_rule() -> None:
    c = engine.Check(engine.spec("addressing"), "a", ("R",))
    found = c("DMP.WSA.message_id/urn", "fr", "en")
    assert found.rule == "DMP.WSA.message_id" and found.severity is Severity.WARNING
    assert c("DMP.WSA.message_id/missing", "fr", "en").severity is Severity.ERROR


def test_an_undeclared_check_cannot_be_registered() -> None:
    with pytest.raises(engine.RuleError, match="not declared"):
        engine.dmp_check("no_such_check")


def test_the_marker_is_made_from_the_data() -> None:
    mark = engine.marker("transport", "addressing")
    assert mark.mark.name == "requirement" and mark.mark.args == engine.spec("transport").proofs


@pytest.mark.parametrize("row, error", [
    ("{id: x, object: letter, rules: {A: error}, proofs: [P], source: s}", "object"),
    ("{id: x, object: td02, rules: {A: error}, proofs: [P]}", "source missing"),
    ("{id: x, object: td02, rules: {A: fatal}, proofs: [P], source: s}", "severity"),
    ("{id: x, object: td02, rules: {A: warning}, proofs: [P], source: s}", "only warns"),
    ("{id: x, object: td02, rules: {A: error}, proofs: [P], source: s, calls: [nope]}", "calls undeclared"),
    ("{id: x, object: td02, rules: {A: error}, proofs: [P], source: s, ok: {when: no_findings, rule: A, "
     "message: m, message_en: m}}", "ok needs"),
    ("{id: x, object: td02, rules: {A: error}, proofs: [P], source: s, colour: red}", "unknown keys"),
])
def test_a_malformed_table_is_refused(tmp_path: Path, row: str, error: str) -> None:
    path = tmp_path / "checks.yaml"
    path.write_text(f"defaults: {{requirements: [R], scope: s}}\nchecks:\n  - {row}\n", encoding="utf-8")
    with pytest.raises(engine.RuleError, match=error):
        engine.load_specs(path)


def test_the_metadata_table_takes_its_requirements_and_proofs_from_its_check() -> None:
    """profiles/dmp/rules.yaml names no requirement or proof: its rules serve those of the `metadata` check."""
    ids = {p.id for r in load_catalogue() for s in r.scenarios for p in s.proofs} | {r.id for r in load_catalogue()}
    text = "\n".join(line.split("#", 1)[0] for line in rules.default_path().read_text(encoding="utf-8").splitlines())
    assert not {i for i in ids if re.search(rf"(?<![\w.]){re.escape(i)}(?![\w.])", text)}
    metadata = engine.spec("metadata")
    assert {(r.requirements, r.proofs) for r in rules.load_rules()} == {(metadata.requirements, metadata.proofs)}
