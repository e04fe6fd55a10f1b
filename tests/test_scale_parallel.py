"""``run --jobs 2`` gives the same verdicts as ``--jobs 1`` (issue 15 item 7), proof by proof.

Every defect switch twice would take an hour on two cores; one campaign carrying one defect per room,
each of a different kind, exercises what parallelism can break:

- ``two_legal_authenticators`` (CDA): a content-model failure found through the session fixture
  ``cda_model_results``, which each xdist worker computes on its own;
- ``status_changed_on_error`` (INS): behaviour scenarios driving the INSi simulator's per-identity state;
- ``hash_mismatch`` (DMP): a failure plus a proof made "not evaluated" by its failed prerequisite, a
  verdict that must travel from the worker that saw it;
- ``ignores_mdn_error`` (MSSanté): an asynchronous scenario (an error notification the candidate must show);
- ``no_nonce_check`` (Pro Santé Connect): a login scenario against the mock provider.

The defects fail disjoint proofs (samples/reference_dui/defect_proofs.yaml), so the combined campaign must
fail at least the union of their rows: the comparison is never between two empty runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
DEFECTS = ("two_legal_authenticators", "status_changed_on_error", "hash_mismatch", "ignores_mdn_error",
           "no_nonce_check")
RUN_TIMEOUT_S = 900


def _campaign(report: Path, jobs: int) -> dict:
    cmd = [sys.executable, "-m", "conformance.cli", "run", "--profile", "MS1", "--report-dir", str(report)]
    for defect in DEFECTS:
        cmd += ["--defect", defect]
    if jobs > 1:
        cmd += ["--jobs", str(jobs)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, cwd=ROOT,
                          env={**os.environ, "COLUMNS": "200"})
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out[-3000:]
    assert "Traceback" not in out, out[-3000:]
    return json.loads((report / "results.json").read_text(encoding="utf-8"))


def _proofs(results: dict) -> dict[str, str]:
    return {p["id"]: p["verdict"] for r in results["requirements"] for s in r.get("scenarios") or []
            for p in s.get("proofs") or []}


def test_two_workers_give_the_verdicts_of_one(tmp_path: Path) -> None:
    one = _campaign(tmp_path / "j1", 1)
    two = _campaign(tmp_path / "j2", 2)
    p1, p2 = _proofs(one), _proofs(two)
    assert p1 and set(p1) == set(p2)
    differ = {pid: (p1[pid], p2[pid]) for pid in p1 if p1[pid] != p2[pid]}
    assert not differ, differ
    assert {r["id"]: r["verdict"] for r in one["requirements"]} == \
        {r["id"]: r["verdict"] for r in two["requirements"]}

    rows = yaml.safe_load((ROOT / "samples" / "reference_dui" / "defect_proofs.yaml").read_text("utf-8"))
    expected = {pid for d in DEFECTS for pid in rows["defects"][d].get("fails", [])}
    failed = {pid for pid, verdict in p1.items() if verdict == "failed"}
    assert expected <= failed, sorted(expected - failed)
