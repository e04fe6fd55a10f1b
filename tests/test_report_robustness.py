"""A results file may come from anywhere (diff, merge, export): no writer may crash on odd content."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance.report import synthetic as syn
from conformance.report.convergence import csv_text
from conformance.report.diff import diff
from conformance.report.html import render_html
from conformance.report.junit import junit_bytes
from conformance.report.merge import merge_results
from conformance.safexml import parse_bytes

scalars = st.none() | st.booleans() | st.integers(-5, 10**6) | st.floats(allow_nan=True) | st.text(max_size=40)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=20)

FIELDS = ("id", "section", "title", "statement", "verdict", "mandatory", "wave", "corridors", "verified",
          "criticite", "findings", "tests", "scenarios", "reason", "conditional_profile", "refs")


def _mutated_requirement(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    out.update(changes)
    out["id"] = str(out.get("id") or "X")  # writers skip entries without an id; keep one to exercise the rest
    return out


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=6), json_values, json_values)
def test_writers_survive_odd_values(changes: dict[str, Any], run: Any, evidence: Any) -> None:
    base = syn.requirement("DUI.MSS.01", "MSS", "failed", findings=[syn.finding("DUI.MSS.01", 1)],
                           extra_manual_proof=True)
    results = {"run": run, "requirements": [_mutated_requirement(base, changes), run], "evidence": evidence}
    html = render_html(results, "fr")
    assert "</html>" in html
    parse_bytes(junit_bytes(results))
    assert csv_text(results).startswith("\ufeff")
    diff(results, results)
    merged = merge_results([results, results]).results
    assert len(merged["requirements"]) == 1
