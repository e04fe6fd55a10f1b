"""The layer-3 rule engine: every rule kind passes a good input and fails a broken one; the loader
rejects bad model data with the file and the rule; the severity policy (inferred → warning, DUI
context) and the kit value-set overlay."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lxml import etree

from conformance.cda.models import (
    EvalContext,
    ModelError,
    ModelLibrary,
    Rule,
    ValueSet,
    evaluate_rules,
    kit_valuesets,
    load_builtin_valuesets,
    load_models,
    readable_path,
    run_models,
)
from conformance.findings import Severity
from conformance.safexml import parse_bytes

DOC = b"""<?xml version="1.0"?>
<ClinicalDocument xmlns="urn:hl7-org:v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <realmCode code="FR"/>
  <code code="74207-2" codeSystem="2.16.840.1.113883.6.1" displayName="DLU"/>
  <title>Titre</title>
  <component><structuredBody>
    <component><section><templateId root="1.1"/><code code="A"/></section></component>
    <component><section><templateId root="1.2"/><code code="B"/></section></component>
    <component><section><templateId root="1.2"/><code code="C" codeSystem="9.9"/></section></component>
  </structuredBody></component>
</ClinicalDocument>"""

VALUESETS = {
    "LETTERS": ValueSet("LETTERS", "1.9", "JDV_LETTERS", "1", True, "test",
                        {"A": frozenset({""}), "B": frozenset({""}), "C": frozenset({"8.8"})}),
    "PARTIAL": ValueSet("PARTIAL", "1.8", "JDV_PARTIAL", "1", False, "test", {"A": frozenset({""})}),
    "KITONLY": ValueSet("KITONLY", "1.7", "JDV_KIT", "kit", False, "test", {}),
}


def _rule(**kw) -> Rule:
    kw.setdefault("id", "T.rule")
    kw.setdefault("message", "message")
    kw.setdefault("message_en", "message")
    return Rule(**kw)


def _run(rule: Rule, *, dui: bool = False, doc: bytes = DOC) -> list:
    lib = ModelLibrary([], VALUESETS)
    root = parse_bytes(doc).getroot()
    return evaluate_rules([rule], root, EvalContext("doc.xml", lib, dui=dui), ("REQ.01",))


SEC = "h:component/h:structuredBody/h:component/h:section"


@pytest.mark.parametrize("good, bad", [
    (_rule(kind="exists", xpath="h:realmCode"), _rule(kind="exists", xpath="h:typeId")),
    (_rule(kind="absent", xpath="h:typeId"), _rule(kind="absent", xpath="h:realmCode")),
    (_rule(kind="count", xpath=f"{SEC}[h:templateId/@root='1.2']", min=2, max=2),
     _rule(kind="count", xpath=f"{SEC}[h:templateId/@root='1.2']", min=1, max=1)),
    (_rule(kind="equals", xpath="h:realmCode/@code", values=("FR",)),
     _rule(kind="equals", xpath="h:realmCode/@code", values=("US",))),
    (_rule(kind="equals", xpath="h:typeId/@root", values=("x",)),
     _rule(kind="equals", xpath="h:typeId/@root", values=("x",), required=True)),
    (_rule(kind="regex", xpath="h:title", pattern="T.*"), _rule(kind="regex", xpath="h:title", pattern="[0-9]+")),
    (_rule(kind="assert", test="count(h:code) = 1"), _rule(kind="assert", test="count(h:code) = 2")),
    (_rule(kind="in_valueset", xpath=f"({SEC}[h:templateId/@root='1.2'])[1]/h:code", valueset="LETTERS"),
     _rule(kind="in_valueset", xpath=f"{SEC}/h:code[@code='A']", valueset="PARTIAL", severity="error",
           check_system=True, context=".", when="false()")),
    (_rule(kind="covers_valueset", xpath=f"{SEC}/h:code", valueset="LETTERS"),
     _rule(kind="covers_valueset", xpath=f"{SEC}[h:templateId/@root='1.2']/h:code", valueset="LETTERS")),
])
def test_each_rule_kind_passes_good_and_fails_bad(good: Rule, bad: Rule) -> None:
    assert [f for f in _run(good) if f.severity is not Severity.INFO] == []
    found = _run(bad)
    if bad.when == "false()":  # a rule whose condition does not hold never fires
        assert found == []
        return
    assert found and all(f.rule == "T.rule" and f.artefact == "doc.xml" for f in found)
    assert all(f.requirements == ("REQ.01",) and f.message and f.message_en for f in found)


def test_findings_are_located_with_readable_xpath_and_line() -> None:
    found = _run(_rule(kind="equals", xpath=f"{SEC}/h:code/@code", values=("A", "B")))
    assert len(found) == 1
    f = found[0]
    assert f.xpath == "/ClinicalDocument/component/structuredBody/component[3]/section/code/@code"
    assert f.line == 9 and f.found == "C" and f.expected == "A | B"


def test_value_set_code_system_is_checked_and_subset_misses_are_warnings() -> None:
    wrong_system = _run(_rule(kind="in_valueset", xpath=f"{SEC}/h:code[@code='C']", valueset="LETTERS"))
    assert wrong_system[0].severity is Severity.ERROR and "8.8" in wrong_system[0].expected
    partial = _run(_rule(kind="in_valueset", xpath=f"{SEC}/h:code[@code='B']", valueset="PARTIAL"))
    assert partial[0].severity is Severity.WARNING and "--cisis-kit" in partial[0].message
    kit_only = _run(_rule(kind="in_valueset", xpath=f"{SEC}/h:code", valueset="KITONLY"))
    assert len(kit_only) == 1 and kit_only[0].severity is Severity.INFO


def test_inferred_rules_never_fail_and_dui_severity_applies_only_in_dui_context() -> None:
    inferred = _run(_rule(kind="exists", xpath="h:typeId", verified="I"))
    assert inferred[0].severity is Severity.WARNING and "déduite" in inferred[0].message
    dui_rule = _rule(kind="exists", xpath="h:typeId", severity="info", dui_severity="error")
    assert _run(dui_rule)[0].severity is Severity.INFO
    assert _run(dui_rule, dui=True)[0].severity is Severity.ERROR


def test_when_group_applies_children_per_context_node() -> None:
    group = _rule(kind="when", context=f"{SEC}[h:templateId/@root='1.2']", when="true()",
                  rules=(_rule(id="T.child", kind="equals", xpath="h:code/@code", values=("B",)),))
    found = _run(group)
    assert [f.rule for f in found] == ["T.child"] and found[0].found == "C"


def test_readable_path_numbers_only_repeated_siblings() -> None:
    root = parse_bytes(DOC).getroot()
    section = root.xpath("//h:section", namespaces={"h": "urn:hl7-org:v3"})[1]
    assert readable_path(section) == "/ClinicalDocument/component/structuredBody/component[2]/section"


def _write(folder: Path, name: str, text: str) -> None:
    (folder / name).write_text(text, encoding="utf-8")


def test_loader_reports_every_problem_with_file_and_rule(tmp_path: Path) -> None:
    _write(tmp_path, "bad.yaml", """
model: BAD
applies_to: {doc_types: [X], form: sideways}
oops: 1
rules:
  - {id: R.1, kind: teleport, message: a, message_en: b}
  - {id: R.2, kind: exists, xpath: "h:a[", message: a, message_en: b}
  - {id: R.2, kind: regex, xpath: "h:a", pattern: "(", message: a, message_en: b}
  - {id: R.3, kind: count, xpath: "h:a", message: a}
""")
    with pytest.raises(ModelError) as err:
        load_models(tmp_path)
    text = str(err.value)
    for expected in ("bad.yaml: unknown field(s) oops", "bad applies_to.form", "rule R.1: bad kind 'teleport'",
                     "rule R.2: bad XPath", "duplicate rule id", "bad pattern", "rule R.3: missing message_en",
                     "kind count needs min and/or max"):
        assert expected in text, expected


def test_library_rejects_rules_naming_unknown_value_sets(tmp_path: Path) -> None:
    _write(tmp_path, "m.yaml", """
model: M
applies_to: {doc_types: ["*"]}
rules:
  - {id: R.1, kind: in_valueset, xpath: "h:code", valueset: NOPE, message: a, message_en: b}
""")
    with pytest.raises(ModelError, match="unknown value set 'NOPE'"):
        ModelLibrary(load_models(tmp_path), load_builtin_valuesets())


def test_shipped_models_and_value_sets_load() -> None:
    lib = ModelLibrary.default()
    ids = {m.id for m in lib.models}
    assert {"HEADER", "VSM", "IPS-FR", "DLU", "FLUDT", "FLUDR", "FT-SU", "FR-SU", "PPS", "CAREPLAN", "EVAL",
            "GRILLE-EVAL", "EXPORT-DUI", "N1", "PPA"} <= ids
    assert lib.valuesets["J02"].complete and "SA17" in lib.valuesets["J02"].concepts
    assert not lib.valuesets["J07"].complete and "80788-3" in lib.valuesets["J07"].concepts
    assert [m.id for m in lib.models_for("DLU", True)] == ["CAREPLAN", "DLU", "EVAL", "HEADER"]
    assert [m.id for m in lib.models_for("PPA", False)] == ["HEADER", "N1", "PPA"]


def test_kit_value_sets_replace_builtin_ones_by_oid(tmp_path: Path) -> None:
    jdv = tmp_path / "jeuxDeValeurs"
    jdv.mkdir()
    (jdv / "JDV_J07_test.xml").write_text(
        '<RetrieveValueSetResponse xmlns="urn:ihe:iti:svs:2008"><ValueSet id="1.2.250.1.213.1.1.5.471" '
        'dateMaj="20990101"><ConceptList><Concept code="11502-2" codeSystem="2.16.840.1.113883.6.1" '
        'displayName="CR d\'examens biologiques"/></ConceptList></ValueSet></RetrieveValueSetResponse>',
        encoding="utf-8")
    (jdv / "broken.xml").write_text("<not xml", encoding="utf-8")
    lib = ModelLibrary.default().with_kit(jdv)
    j07 = lib.valuesets["J07"]
    assert j07.from_kit and j07.complete and set(j07.concepts) == {"11502-2"}
    assert "1.2.250.1.213.1.1.5.471" in kit_valuesets(jdv)
    assert lib.valuesets["J02"] is ModelLibrary.default().valuesets["J02"]  # not in that kit: built-in kept


def test_run_models_reports_one_info_per_clean_model() -> None:
    tree = etree.ElementTree(parse_bytes(DOC).getroot())
    findings, ran = run_models(tree, "doc.xml", "NOTHING", True, library=ModelLibrary([], VALUESETS))
    assert findings == [] and ran == []


def _svs(oid: str, codes: list[str]) -> str:
    concepts = "".join(f'<Concept code="{c}" codeSystem="1.2.3" displayName="label {c}"/>' for c in codes)
    return (f'<RetrieveValueSetResponse xmlns="urn:ihe:iti:svs:2008"><ValueSet id="{oid}" version="v1">'
            f"<ConceptList>{concepts}</ConceptList></ValueSet></RetrieveValueSetResponse>")


def test_kit_value_sets_are_kept_in_the_cache_and_read_again_when_the_folder_changes(tmp_path, monkeypatch) -> None:
    """Reading the kit's 524 JDV files was a tenth of a ``validate`` command's start-up (issue 16): the
    reading is stored as JSON in the cache folder, keyed by every file's name and content. A stored
    reading gives the same value sets; a changed file (even of the same size and time), an added file
    or a damaged cache file gives the files' own reading."""
    import os

    from conformance.cda import model_loader

    monkeypatch.setenv("SEGUR_CONFORMANCE_CACHE", str(tmp_path / "cache"))
    jdv = tmp_path / "jdv"
    jdv.mkdir()
    (jdv / "JDV_A.xml").write_text(_svs("1.1", ["a", "b"]), encoding="utf-8")
    (jdv / "JDV_B.xml").write_text(_svs("1.2", ["c"]), encoding="utf-8")

    def read() -> dict:
        model_loader._kit_vs_cache.clear()
        return model_loader.kit_valuesets(jdv)

    first = read()
    stored = list((tmp_path / "cache" / "valuesets").glob("*.json"))
    assert len(stored) == 1 and set(first) == {"1.1", "1.2"}
    # the stored reading answers (proven by editing it: a reading from the files would not say "z")
    data = json.loads(stored[0].read_text(encoding="utf-8"))
    assert read() == first
    data["1.2"]["concepts"] = {"z": ["9"]}
    stored[0].write_text(json.dumps(data), encoding="utf-8")
    assert set(read()["1.2"].concepts) == {"z"}
    # a changed file: another key, the files read again — even with the same size and modification time
    before = (jdv / "JDV_B.xml").stat()
    (jdv / "JDV_B.xml").write_text(_svs("1.2", ["x"]), encoding="utf-8")
    os.utime(jdv / "JDV_B.xml", ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (jdv / "JDV_B.xml").stat().st_size == before.st_size
    assert set(read()["1.2"].concepts) == {"x"}
    (jdv / "JDV_B.xml").write_text(_svs("1.2", ["c", "d"]), encoding="utf-8")
    assert set(read()["1.2"].concepts) == {"c", "d"}
    (jdv / "JDV_C.xml").write_text(_svs("1.3", ["e"]), encoding="utf-8")
    assert set(read()) == {"1.1", "1.2", "1.3"}
    for f in (tmp_path / "cache" / "valuesets").glob("*.json"):
        f.write_text("{not json", encoding="utf-8")
    again = read()
    assert again == model_loader._read_kit_valuesets(sorted(jdv.glob("*.xml"))) and set(again["1.2"].concepts) == {"c", "d"}
