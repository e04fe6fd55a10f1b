"""Self-proof as a gate: every automated proof of every profile is made to fail by a defect switch of the
reference sandbox, and each defect fails exactly the proofs samples/reference_dui/defect_proofs.yaml says.

Why exact sets: a defect that also fails a neighbour means a finding is blamed on the wrong proof; one that
fails nothing means a check that cannot catch what it claims. Each defect runs a whole MS1 campaign
(``segur-conformance run``) in a subprocess, as a vendor would.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from defect_matrix import failing, run_defect  # noqa: E402

TABLE_PATH = Path(__file__).resolve().parents[1] / "samples" / "reference_dui" / "defect_proofs.yaml"


def _table() -> dict[str, Any]:
    return yaml.safe_load(TABLE_PATH.read_text(encoding="utf-8"))


TABLE = _table()
DEFECTS = TABLE["defects"]


def _automated_proofs() -> dict[str, set[str]]:
    from conformance.profiles import available_profiles, load_profile
    from conformance.requirements import load_catalogue

    catalogue = load_catalogue()
    out = {}
    for name in available_profiles():
        profile = load_profile(name, catalogue)
        out[name] = {p.id for rid in profile.requirement_ids for p in catalogue[rid].proofs if not p.manual}
    return out


def test_every_defect_switch_has_a_row() -> None:
    from segur_reference_dui.defects import all_defects

    assert sorted(DEFECTS) == sorted(all_defects())
    for name, row in DEFECTS.items():
        assert row.get("fails"), f"{name}: a defect that fails nothing proves nothing"


def test_every_automated_proof_is_failed_by_a_defect() -> None:
    """The gate: an automated proof no defect makes fail has never been shown to catch anything."""
    shown = {p for row in DEFECTS.values() for p in row["fails"]}
    exempt = set(TABLE.get("cannot_fail", {}))
    missing: dict[str, list[str]] = {}
    for name, proofs in _automated_proofs().items():
        for proof in sorted(proofs - shown - exempt):
            missing.setdefault(proof, []).append(name)
    listed = ", ".join(f"{proof} ({'/'.join(names)})" for proof, names in missing.items())
    assert not missing, ("automated proofs that no defect makes fail (add a defect switch to samples/reference_dui "
                         f"and its row to defect_proofs.yaml): {listed}")
    for proof, reason in TABLE.get("cannot_fail", {}).items():
        assert str(reason or "").strip(), f"{proof}: say why no defect can make it fail"


def test_the_compliant_reference_sandbox_fails_nothing() -> None:
    code, results = run_defect(None)
    got = failing(results)
    assert got == {"failed": [], "error": []}, got
    assert code == 0
    reserved = sorted(p["id"] for r in results["requirements"] for s in r["scenarios"] for p in s["proofs"]
                      if p.get("verdict") == "reserved")
    # a proof that can only warn is "passed with reservations", never plainly passed
    assert reserved == sorted(TABLE.get("cannot_fail", {})), reserved


KIT = Path(__file__).resolve().parents[2] / "shared" / "cisis-kit"


@pytest.mark.slow
@pytest.mark.parametrize("defect", sorted(DEFECTS))
def test_defect_fails_exactly_its_proofs(defect: str) -> None:
    row = DEFECTS[defect]
    extra: tuple[str, ...] = ()
    if row.get("kit"):
        if not KIT.is_dir():
            pytest.skip(f"{defect}: the official CDA layers need the CI-SIS kit ({KIT} absent)")
        extra = ("--cisis-kit", str(KIT))
    code, results = run_defect(defect, extra=extra)
    got = failing(results)
    assert got["failed"] == sorted(row["fails"]), (defect, got)
    assert got["error"] == sorted(row.get("not_evaluated", [])), (defect, got)
    assert code == 1, (defect, code)
    # each failing proof says what, where, expected and found
    for req in results["requirements"]:
        proofs = {p["id"] for s in req["scenarios"] for p in s["proofs"] if p.get("verdict") == "failed"}
        for pid in proofs:
            errors = [f for f in req["findings"] if f["severity"] == "error" and pid in f.get("proofs", [])]
            assert errors, (defect, pid, "failed without an ERROR finding")
            assert any(f["rule"] and (f["artefact"] or f["xpath"]) and (f["expected"] or f["found"])
                       for f in errors), (defect, pid, errors[:2])
    checks = {c["id"]: c for c in results.get("harness_checks", [])}
    for cid in (p for p in row["fails"] if p.startswith("HARNESS.")):
        assert checks[cid]["reason"], (defect, cid)


@pytest.mark.slow
def test_the_compliant_reference_sandbox_fails_nothing_with_the_kit() -> None:
    """The kit rows above are only meaningful if the official layers pass the compliant documents."""
    if not KIT.is_dir():
        pytest.skip(f"the official CDA layers need the CI-SIS kit ({KIT} absent)")
    code, results = run_defect(None, extra=("--cisis-kit", str(KIT)))
    assert failing(results) == {"failed": [], "error": []}
    assert code == 0
    verdicts = {p["id"]: p["verdict"] for r in results["requirements"] for s in r["scenarios"] for p in s["proofs"]}
    assert verdicts["DOC/AUTO.01.01.01"] == verdicts["DOC/AUTO.02.01.01"] == "passed"
