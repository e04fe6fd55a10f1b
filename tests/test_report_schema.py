"""docs/results.schema.json accepts what conformance/results.py writes, and rejects broken files."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from conformance import results as runner
from conformance.findings import error, info
from conformance.report import synthetic as syn
from conformance.report.merge import merge_results

jsonschema = pytest.importorskip(
    "jsonschema", reason="the jsonschema package is not installed (it belongs in the [test] extra)")

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "docs" / "results.schema.json"


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


@dataclass
class _Req:
    """The minimum of a catalogue requirement that results.aggregate needs (to_dict, flags)."""

    id: str
    manual_only: bool = False
    mandatory: bool = True
    proofs: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "section": "MSS", "sub_section": "MSS/CONF", "title": "t", "statement": "s",
                "nature": "EXIGENCE", "criticite": "MAJEURE", "conditional_profile": "", "wave": 1,
                "corridors": ["MS1"], "verified": "Vd", "source": "rem.md", "socle": "", "refs": [],
                "scenarios": [{"id": f"{self.id}.01", "title": "sc", "proofs": copy.deepcopy(self.proofs)}]}


def _lead_results() -> dict[str, Any]:
    auto = {"id": "X.01.01", "kind": "Log", "verification": ["v"], "method": "automated", "manual_reason": ""}
    manual = {"id": "X.01.02", "kind": "Démonstration", "verification": ["v"], "method": "manual",
              "manual_reason": "vidéo"}
    reqs = [_Req("DUI.MSS.01", proofs=[auto, manual]), _Req("DUI.MSS.02", manual_only=True, proofs=[manual])]
    records = [runner.TestRecord(nodeid="t::a", requirements=("DUI.MSS.01",), outcome="failed", duration=0.1,
                          findings=[error("m", "m", rule="R", line=3), info("ok", "ok")])]
    run = syn.run_block()
    return runner.build_results(run, runner.aggregate(reqs, records), [])


def test_results_written_by_the_runner_validate(validator: jsonschema.protocols.Validator) -> None:
    validator.validate(_lead_results())


def test_synthetic_and_merged_results_validate(validator: jsonschema.protocols.Validator) -> None:
    big = syn.large(200)
    validator.validate(big)
    validator.validate(merge_results([big, syn.large(100, seed=3)]).results)


@pytest.mark.parametrize("breakage", [
    lambda r: r.update(format="something-else"),
    lambda r: r.update(format_version="3.0"),
    lambda r: r["requirements"][0].update(verdict="ok"),
    lambda r: r["requirements"][0]["findings"][0].update(severity="fatal"),
    lambda r: r["requirements"][0]["scenarios"][0]["proofs"][1].update(verdict="passed"),  # manual never passed
    lambda r: r["run"].pop("started_at"),
    lambda r: r["evidence"].append({"path": "/etc/passwd", "sha256": "0" * 64, "size": 1, "kind": "Log"}),
])
def test_broken_results_are_rejected(validator: jsonschema.protocols.Validator, breakage: Any) -> None:
    results = _lead_results()
    breakage(results)
    assert list(validator.iter_errors(results))
