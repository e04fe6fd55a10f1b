"""Measure, for each defect switch of the reference sandbox, which proofs and harness checks fail on MS1.

Used by tests/test_defect_table.py (the gate) and by hand to refresh samples/reference_dui/defect_proofs.yaml:
    python tests/defect_matrix.py [--kit] [DEFECT ...] > /tmp/matrix.yaml
(``--kit``: with ``--cisis-kit ../shared/cisis-kit``, for the rows marked ``kit: true``)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def failing(results: dict[str, Any]) -> dict[str, list[str]]:
    """proof id (or harness check id) -> failed; only 'failed' counts, 'error' is reported apart."""
    out: dict[str, list[str]] = {"failed": [], "error": []}
    for check in results.get("harness_checks", []):
        if check["verdict"] in out:
            out[check["verdict"]].append(check["id"])
    for req in results["requirements"]:
        for scenario in req.get("scenarios", []):
            for proof in scenario.get("proofs", []):
                if proof.get("verdict") in out:
                    out[proof["verdict"]].append(proof["id"])
    return {k: sorted(v) for k, v in out.items()}


def run_defect(defect: str | None, profile: str = "MS1", extra: tuple[str, ...] = (),
               env: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    """Run one MS1 campaign on the embedded sandbox (with ``defect``, and ``env`` added to the environment)."""
    with tempfile.TemporaryDirectory(prefix="segur-defect-") as tmp:
        report = Path(tmp) / "r"
        cmd = [sys.executable, "-m", "conformance.cli", "run", "--profile", profile, "--report-dir", str(report),
               *extra]
        if defect:
            cmd += ["--defect", defect]
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600,
                              env={**os.environ, **(env or {})})
        results = json.loads((report / "results.json").read_text(encoding="utf-8"))
    return proc.returncode, results


def main(argv: list[str]) -> int:
    from segur_reference_dui.defects import all_defects

    kit = ROOT.parent / "shared" / "cisis-kit"
    with_kit = "--kit" in argv
    names = [a for a in argv if a != "--kit"] or sorted(all_defects())
    for name in names:
        code, results = run_defect(name, extra=("--cisis-kit", str(kit)) if with_kit else ())
        f = failing(results)
        print(f"  {name}:  # exit {code}")
        print(f"    fails: [{', '.join(f['failed'])}]")
        if f["error"]:
            print(f"    not_evaluated: [{', '.join(f['error'])}]")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
