"""Artefact mode at scale (issue 15 item 5): N CDA documents, documents/s and peak RSS.

    python benchmarks/bench_artefacts_scale.py --counts 1000 10000 [--jobs 1 2] [--distinct 64]
    python benchmarks/bench_artefacts_scale.py --generate-only 500 --out /tmp/cda500

The documents come from the reference sandbox (``segur_reference_dui``, the same session as
``samples/make_artefacts.py``): one qualified resident, ``--distinct`` documents produced in turn for every
document type MS1 requires. The folder of N documents repeats those under distinct names
(``<TYPE>-<n>.xml``): the harness keeps no cache keyed on content, so a copy costs what an original costs,
and producing 10,000 PDF-bearing documents through the sandbox would measure the sandbox, not the harness.

Each count runs ``segur-conformance run --profile MS1 --artefacts DIR`` in a fresh process (the CLI, as a
vendor would); the whole process tree (pytest workers included) is sampled from /proc every 0.2 s, and the
peak RSS is the sum over the tree at its highest sample plus the largest per-process high-water mark
(VmHWM) seen, whichever is larger. Prints a Markdown table; nothing is asserted (the tests check behaviour).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "samples"))


# ---------------------------------------------------------------------------------------------
# the documents
# ---------------------------------------------------------------------------------------------
def produce_distinct(distinct: int, profile: str = "MS1") -> list[tuple[str, bytes]]:
    """``distinct`` documents from the reference sandbox: (type, CDA bytes), types in turn."""
    import make_artefacts as mk

    from conformance.profiles import load_profile
    from conformance.sandbox.candidate import SandboxCandidate
    from conformance.suites._fixtures_cda import decode_cda, requested_document_types

    out: list[tuple[str, bytes]] = []
    with mk.session() as (client, _dmp, _mss):
        types = requested_document_types(SandboxCandidate(client.base_url), load_profile(profile))
        caps = client.capabilities()
        caps.pop("defects", None)
        rid = str(mk.qualified_resident(client)["id"])
        for i in range(distinct):
            doc_type = types[i % len(types)]
            out.append((doc_type, decode_cda(client.create_document(rid, doc_type))))
    out.append(("capabilities.json", json.dumps(caps).encode()))
    return out


def write_folder(folder: Path, count: int, produced: list[tuple[str, bytes]]) -> int:
    """A fresh artefact folder of ``count`` CDA documents (cda/ only, plus capabilities.json)."""
    docs = [p for p in produced if p[0] != "capabilities.json"]
    caps = next(data for name, data in produced if name == "capabilities.json")
    if folder.exists():
        shutil.rmtree(folder)
    (folder / "cda").mkdir(parents=True)
    (folder / "capabilities.json").write_bytes(caps)
    total = 0
    for n in range(count):
        doc_type, data = docs[n % len(docs)]
        (folder / "cda" / f"{doc_type}-{n:05d}.xml").write_bytes(data)
        total += len(data)
    return total


# ---------------------------------------------------------------------------------------------
# measuring a process tree from /proc
# ---------------------------------------------------------------------------------------------
def _status(pid: int) -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM", "Threads"):
                    out[key] = int(value.split()[0])
    except (OSError, ValueError):
        pass
    return out


def _children(pid: int) -> list[int]:
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children", encoding="ascii") as fh:
                out += [int(c) for c in fh.read().split()]
    except OSError:
        pass
    return out


def tree(pid: int) -> list[int]:
    seen, todo = [], [pid]
    while todo:
        p = todo.pop()
        seen.append(p)
        todo += _children(p)
    return seen


class TreeSampler(threading.Thread):
    """Samples the RSS of a process tree until stopped: peak of the sum, and largest single VmHWM."""

    def __init__(self, pid: int, every: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.peak_sum_kib = 0
        self.peak_hwm_kib = 0
        self.max_procs = 0
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(self.every):
            pids = tree(self.pid)
            stats = [_status(p) for p in pids]
            self.peak_sum_kib = max(self.peak_sum_kib, sum(s.get("VmRSS", 0) for s in stats))
            self.peak_hwm_kib = max([self.peak_hwm_kib] + [s.get("VmHWM", 0) for s in stats])
            self.max_procs = max(self.max_procs, len(pids))

    def stop(self) -> None:
        self._done.set()
        self.join()

    @property
    def peak_mib(self) -> float:
        return max(self.peak_sum_kib, self.peak_hwm_kib) / 1024


def run_folder(folder: Path, jobs: int, profile: str = "MS1", show: bool = False) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-scale-report-") as tmp:
        cmd = [sys.executable, "-m", "conformance.cli", "run", "--profile", profile, "--artefacts", str(folder),
               "--report-dir", tmp]
        if jobs > 1:
            cmd += ["--jobs", str(jobs)]
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=None if show else subprocess.DEVNULL,
                                stderr=None if show else subprocess.DEVNULL)
        sampler = TreeSampler(proc.pid)
        sampler.start()
        code = proc.wait()
        elapsed = time.perf_counter() - started
        sampler.stop()
        summary: dict = {}
        results = Path(tmp) / "results.json"
        if results.exists():
            data = json.loads(results.read_text(encoding="utf-8"))
            summary = data["summary"]
            summary["findings"] = sum(len(r.get("findings") or []) for r in data.get("requirements", []))
        report = Path(tmp) / "report.html"
        summary["report_mb"] = report.stat().st_size / 1e6 if report.exists() else 0
        summary["evidence_files"] = sum(1 for p in (Path(tmp) / "evidence").rglob("*") if p.is_file()) \
            if (Path(tmp) / "evidence").is_dir() else 0
    return {"exit": code, "seconds": elapsed, "peak_mib": sampler.peak_mib, "procs": sampler.max_procs,
            "summary": summary}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--jobs", type=int, nargs="+", default=[1])
    parser.add_argument("--distinct", type=int, default=64, help="documents produced by the reference sandbox")
    parser.add_argument("--generate-only", type=int, metavar="N", help="write a folder of N documents and stop")
    parser.add_argument("--out", type=Path, help="folder to write (default: a temporary one)")
    parser.add_argument("--show", action="store_true", help="show the run's console (progress bar)")
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    produced = produce_distinct(args.distinct)
    print(f"{len(produced) - 1} distinct documents from the reference sandbox in "
          f"{time.perf_counter() - started:.1f} s", file=sys.stderr)
    if args.generate_only:
        out = args.out or Path(tempfile.mkdtemp(prefix="segur-cda-"))
        size = write_folder(out, args.generate_only, produced)
        print(f"{args.generate_only} documents, {size / 1e6:.1f} MB, in {out}")
        return 0
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        for count in args.counts:
            folder = Path(args.out or tmp) / f"cda-{count}"
            size = write_folder(folder, count, produced)
            for jobs in args.jobs:
                res = run_folder(folder, jobs, show=args.show)
                res.update(count=count, jobs=jobs, mb=size / 1e6, docs_per_s=count / res["seconds"])
                rows.append(res)
                print(f"{count} docs, jobs {jobs}: {res['seconds']:.1f} s, {res['docs_per_s']:.1f} docs/s, "
                      f"peak {res['peak_mib']:.0f} MiB, exit {res['exit']}, "
                      f"{ {k: res['summary'].get(k) for k in ('passed', 'failed', 'error', 'findings')} }",
                      file=sys.stderr)
            if args.out is None:
                shutil.rmtree(folder)
    load = os.getloadavg()[0]
    print(f"\nCPython {sys.version.split()[0]}, {os.cpu_count()} cores, load average at the end {load:.1f}\n")
    print("| documents | size | jobs | wall time | documents/s | peak RSS (process tree) | report.html | exit |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['count']:,} | {r['mb']:.0f} MB | {r['jobs']} | {r['seconds']:.0f} s | {r['docs_per_s']:.1f} | "
              f"{r['peak_mib']:.0f} MiB | {r['summary'].get('report_mb', 0):.1f} MB | {r['exit']} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
