"""JUnit export: one testcase per requirement, valid against the Jenkins xunit junit-10.xsd."""

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


def test_valid_against_xsd(schema: xmlschema.XMLSchema, tmp_path: Path) -> None:
    path = write_junit(_results(), tmp_path / "junit-requirements.xml")
    schema.validate(str(path))


def test_large_and_hostile_results_stay_valid(schema: xmlschema.XMLSchema) -> None:
    res = syn.large(300, per_requirement=10)
    evil = res["requirements"][0]
    evil["findings"].append(syn.finding(evil["id"], 99) | {"message": "ctrl \x00\x07\x1b ]]> <x/> &amp;",
                                                          "found": "\ud800"})
    data = junit_bytes(res)
    schema.validate(etree.fromstring(data))


def test_one_testcase_per_requirement_with_verdict_mapping() -> None:
    root = parse_bytes(junit_bytes(_results())).getroot()
    cases = {c.get("name"): c for c in root.iter("testcase")}
    assert set(cases) == {"DUI.MSS.07", "DUI.INS.01", "DUI.INS.02", "DUI.DMP.01", "DUI.PSC.01"}
    assert cases["DUI.MSS.07"].get("classname") == "segur.MS1.MSS"
    failure = cases["DUI.MSS.07"].find("failure")
    assert failure is not None and "1 constat(s) bloquant(s)" in failure.get("message")
    assert "RULE.DUI.MSS.07.1" in failure.text and "RULE.DUI.MSS.07.2" not in failure.text  # warnings do not fail
    assert cases["DUI.INS.01"].find("failure") is None and cases["DUI.INS.01"].find("skipped") is None
    assert cases["DUI.INS.02"].find("error").get("type") == "segur.not_evaluated"
    assert cases["DUI.DMP.01"].find("skipped").get("type") == "segur.not_run"
    manual = cases["DUI.PSC.01"].find("skipped")
    assert manual.get("type") == "segur.manual" and "manual evidence required" in manual.get("message")
    out = cases["DUI.MSS.07"].find("system-out").text
    assert "requirement: DUI.MSS.07" in out and "verdict: failed" in out and "proof DUI.MSS.07.01.01" in out


def test_suites_per_section_in_ans_order_with_counts_and_properties() -> None:
    root = parse_bytes(junit_bytes(_results())).getroot()
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["MS1.INS", "MS1.DMP", "MS1.MSS", "MS1.PSC"]
    ins = suites[0]
    assert (ins.get("tests"), ins.get("failures"), ins.get("errors"), ins.get("skipped")) == ("2", "0", "1", "0")
    props = {p.get("name"): p.get("value") for p in ins.iter("property")}
    assert props["DUI.INS.01.verdict"] == "passed" and props["DUI.INS.01.mandatory"] == "true"
    assert props["candidate.product"] == "DUI Exemple" and props["cisis_kit.version"] == "3.0.1"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("5", "1", "1")
