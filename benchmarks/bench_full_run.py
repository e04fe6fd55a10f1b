"""Full MS1 run against the reference sandbox: wall time and peak memory (target: < 60 s on 2 cores).

Run: ``python benchmarks/bench_full_run.py [--jobs 2] [--repeat 3]``. Prints one line per run and the
median; no assertion (speed is measured here, never asserted in the test suite).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def one_run(jobs: int, profile: str) -> tuple[float, int, dict]:
    with tempfile.TemporaryDirectory(prefix="bench-run-") as tmp:
        cmd = [sys.executable, "-m", "conformance.cli", "run", "--profile", profile, "--report-dir", tmp]
        if jobs > 1:
            cmd += ["--jobs", str(jobs)]
        started = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        elapsed = time.perf_counter() - started
        summary = {}
        results = Path(tmp) / "results.json"
        if results.exists():
            summary = json.loads(results.read_text(encoding="utf-8"))["summary"]
        summary["exit"] = proc.returncode
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return elapsed, peak_kib, summary


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", default="MS1")
    args = parser.parse_args()
    times = []
    for i in range(args.repeat):
        elapsed, peak, summary = one_run(args.jobs, args.profile)
        times.append(elapsed)
        counts = {k: summary.get(k) for k in ("total", "passed", "failed", "error", "not_run", "manual")}
        print(f"run {i + 1}: {elapsed:.1f} s, peak child RSS {peak / 1024:.0f} MiB, exit {summary['exit']}, {counts}")
    print(f"median {statistics.median(times):.1f} s over {args.repeat} runs "
          f"(profile {args.profile}, jobs {args.jobs}); target < 60 s on 2 cores")


if __name__ == "__main__":
    main()
