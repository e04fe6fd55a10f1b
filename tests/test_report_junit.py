"""JUnit export: one testcase per requirement with its metadata as testcase properties, evidence as
[[ATTACHMENT|path]] lines, manual proofs skipped as segur.manual; valid against the Jenkins xunit
junit-10.xsd once the testcase properties (which that schema does not know) are set aside."""

from __future__ import annotations

from pathlib import Path

import pytest
import xmlschema
from lxml import etree

from conformance.report import synthetic as syn
from conformance.report.junit import junit_bytes, write_junit
from conformance.safexml import parse_bytes

XSD = Path(__file__).resolve().parent / "data" / "report" / "junit-10.xsd"


@pytest.fixture(scope="module")
def schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(XSD))


def _results() -> dict:
    failing = syn.requirement("DUI.MSS.07", "MSS", "failed",
                              findings=[syn.finding("DUI.MSS.07", 1), syn.finding("DUI.MSS.07", 2, "warning")])
    return syn.results([
        failing,
        syn.requirement("DUI.INS.01", "INS", "passed"),
        syn.requirement("DUI.INS.02", "INS", "error"),
        syn.requirement("DUI.DMP.01", "DMP", "not_run"),
        syn.requirement("DUI.PSC.01", "PSC", "manual", manual_only=True),
    ])


def _without_case_properties(data: bytes) -> etree._Element:
    root = etree.fromstring(data)
    for props in root.findall("testsuite/testcase/properties"):
        props.getparent().remove(props)
    return root


def test_valid_against_xsd(schema: xmlschema.XMLSchema, tmp_path: Path) -> None:
    path = write_junit(_results(), tmp_path / "junit-requirements.xml")
    schema.validate(_without_case_properties(path.read_bytes()))


def test_large_and_hostile_results_stay_valid(schema: xmlschema.XMLSchema) -> None:
    res = syn.large(300, per_requirement=10)
    evil = res["requirements"][0]
    evil["findings"].append(syn.finding(evil["id"], 99) | {"message": "ctrl \x00\x07\x1b ]]> <x/> &amp;",
                                                          "found": "\ud800"})
    data = junit_bytes(res)
    schema.validate(_without_case_properties(data))


def test_metadata_per_testcase_evidence_as_attachments_and_no_repr() -> None:
    res = _results()
    failing = res["requirements"][0]
    failing["findings"][0] |= {"evidence": "evidence/t/mss-D1.eml", "found": {"logged_in": False, "error": None}}
    res["evidence"] = [{"path": "evidence/t/connexions.json", "sha256": "0" * 64, "size": 1, "kind": "Log",
                        "test": failing["tests"][0]["nodeid"]}]
    root = parse_bytes(junit_bytes(res)).getroot()
    case = next(c for c in root.iter("testcase") if c.get("name") == "DUI.MSS.07")
    props = {p.get("name"): p.get("value") for p in case.find("properties")}
    assert props["verdict"] == "failed" and props["mandatory"] == "true" and props["proof.DUI.MSS.07.01.01"]
    suite_props = {p.get("name") for p in root.find("testsuite").find("properties")}
    assert not any(name.startswith("DUI.") for name in suite_props)  # no longer ~1,800 suite-level entries
    out = case.find("system-out").text
    assert "[[ATTACHMENT|evidence/t/mss-D1.eml]]" in out and "[[ATTACHMENT|evidence/t/connexions.json]]" in out
    assert "logged_in = faux, error = absent" in case.find("failure").text
    assert "{'" not in out and "{'" not in case.find("failure").text
    english = parse_bytes(junit_bytes(res, "en")).getroot()
    failure = next(c for c in english.iter("testcase") if c.get("name") == "DUI.MSS.07").find("failure")
    assert failure.get("message").startswith("1 blocking finding:") and "constat" not in failure.get("message")


def test_one_testcase_per_requirement_with_verdict_mapping() -> None:
    root = parse_bytes(junit_bytes(_results())).getroot()
    cases = {c.get("name"): c for c in root.iter("testcase")}
    assert set(cases) == {"DUI.MSS.07", "DUI.INS.01", "DUI.INS.02", "DUI.DMP.01", "DUI.PSC.01"}
    assert cases["DUI.MSS.07"].get("classname") == "segur.MS1.MSS"
    failure = cases["DUI.MSS.07"].find("failure")
    assert failure is not None and failure.get("message").startswith("1 constat bloquant :")
    assert "RULE.DUI.MSS.07.1" in failure.text and "RULE.DUI.MSS.07.2" not in failure.text  # warnings do not fail
    assert cases["DUI.INS.01"].find("failure") is None and cases["DUI.INS.01"].find("skipped") is None
    assert cases["DUI.INS.02"].find("error").get("type") == "segur.not_evaluated"
    assert cases["DUI.DMP.01"].find("skipped").get("type") == "segur.not_run"
    manual = cases["DUI.PSC.01"].find("skipped")
    assert manual.get("type") == "segur.manual" and "preuve manuelle à fournir" in manual.get("message")
    out = cases["DUI.MSS.07"].find("system-out").text
    assert "requirement: DUI.MSS.07" in out and "verdict: failed" in out and "proof DUI.MSS.07.01.01" in out


def test_suites_per_section_in_ans_order_with_counts_and_properties() -> None:
    root = parse_bytes(junit_bytes(_results())).getroot()
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["MS1.INS", "MS1.DMP", "MS1.MSS", "MS1.PSC"]
    ins = suites[0]
    assert (ins.get("tests"), ins.get("failures"), ins.get("errors"), ins.get("skipped")) == ("2", "0", "1", "0")
    props = {p.get("name"): p.get("value") for p in ins.find("properties")}
    assert props["candidate.product"] == "DUI Exemple" and props["cisis_kit.version"] == "3.0.1"
    case = {p.get("name"): p.get("value") for p in ins.find("testcase[@name='DUI.INS.01']/properties")}
    assert case["verdict"] == "passed" and case["mandatory"] == "true"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("5", "1", "1")


def test_suites_name_the_catalogue_the_verdicts_were_judged_on() -> None:
    """Issue 18: the JUnit file says which requirement catalogue (version, SHA-256, origin) it was judged on."""
    catalogue = {"version": "2026.12.1", "sha256": "cd" * 32, "origin": "Catalogue du banc (exports Squash TM)"}
    root = parse_bytes(junit_bytes(syn.results(_results()["requirements"], catalogue=catalogue))).getroot()
    for suite in root.findall("testsuite"):
        props = {p.get("name"): p.get("value") for p in suite.find("properties")}
        assert (props["catalogue.version"], props["catalogue.sha256"], props["catalogue.origin"]) == (
            "2026.12.1", "cd" * 32, "Catalogue du banc (exports Squash TM)")
    without = parse_bytes(junit_bytes(_results())).getroot()
    assert not [p for p in without.iter("property") if p.get("name", "").startswith("catalogue.")]
