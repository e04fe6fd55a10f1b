"""Peak RSS of the CDA schematron layer per process, by subset of schematrons (issue 16, ≤ 600 MB).

Each measurement runs in a fresh Python process (``--child``): compile the chosen schematrons (from the
disk cache when warm), then validate the chosen kit examples; the peak RSS (``ru_maxrss``) is printed
after compiling and after the documents.

    python benchmarks/bench_cda_memory.py --set strucmin --set others --set all
    python benchmarks/bench_cda_memory.py --set all --every-example --rounds 1   # every kit example
    SEGUR_CDA_FACTOR=0 python benchmarks/bench_cda_memory.py --set all          # without sch_factor
    python benchmarks/bench_cda_memory.py --worker 2 --every-example --rounds 2   # the warm worker, 2 shards
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SEGUR_SHARED") or ROOT.parent / "shared")
DOCS = ("VSM_1.4_2022.01.xml", "DLU-EHPAD-DLU_2022.01.xml", "DLU-EHPAD-FLUDT_2022.01.xml")
STRUCMIN = "ASIP-STRUCT-MIN-StrucMin.sch"


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def child(which: str, docs: list[str], rounds: int) -> dict:
    sys.path.insert(0, str(ROOT))
    from conformance.cda.kit import Kit
    from conformance.cda.schematron import SchematronRunner
    from conformance.safexml import parse_file

    kit = Kit.open(SHARED / "cisis-kit")
    runner = SchematronRunner(kit)
    def tree_of(name: str):  # parsed when needed: the worker never keeps documents
        return parse_file(SHARED / "cisis-kit" / "ExemplesCDA" / name)

    def chosen(tree) -> list[Path]:
        sel = runner.select(tree)
        if which == "volets":
            return list(sel.volets)
        if which == "profiles":
            return list(sel.profiles)
        return [p for p in sel.all if which == "all" or (which == "strucmin") == (p.name == STRUCMIN)]

    t0 = time.perf_counter()
    for d in docs:
        for p in chosen(tree_of(d)):
            runner.compile(p)
    t_compile = time.perf_counter() - t0
    rss_compiled = _rss_mb()
    times = []
    n_findings = []
    for _ in range(rounds):
        for d in docs:
            tree = tree_of(d)
            t = time.perf_counter()
            found = runner.validate_with(tree, d, chosen(tree))
            times.append((time.perf_counter() - t) * 1000)
            n_findings.append(len(found))
    return {"set": which, "documents": len(docs), "compile_s": round(t_compile, 2), "rss_after_compile_mb": round(rss_compiled),
            "rss_peak_mb": round(_rss_mb()), "ms_per_doc_last_round": [round(x, 1) for x in times[-len(docs):]][:6],
            "ms_median_last_round": round(statistics.median(times[-len(docs):]), 1),
            "findings": n_findings[: len(docs)][:6]}


def _hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return -1.0


def through_worker(shards: int, docs: list[str], rounds: int) -> dict:
    """The documents through the warm worker (1 process, or 2 shards): peak RSS of each worker process
    (VmHWM), median ms per document once the worker is warm."""
    import shutil
    import tempfile

    sys.path.insert(0, str(ROOT))
    from conformance.cda.kit import Kit
    from conformance.cda.sch_worker import WarmRunner, ping
    from conformance.safexml import parse_file

    kit = Kit.open(SHARED / "cisis-kit")
    root = Path(tempfile.mkdtemp(prefix="segm-", dir="/tmp"))
    warm = WarmRunner(kit, idle=120.0, worker_root=root, shards=shards)
    paths = [p for _part, p in warm.sockets if p is not None]
    try:
        t0 = time.perf_counter()
        first = parse_file(SHARED / "cisis-kit" / "ExemplesCDA" / docs[0])
        warm.validate(first, docs[0])
        cold = time.perf_counter() - t0
        times = []
        for _ in range(rounds):
            for d in docs:
                tree = parse_file(SHARED / "cisis-kit" / "ExemplesCDA" / d)
                t = time.perf_counter()
                warm.validate(tree, d)
                times.append((time.perf_counter() - t) * 1000)
        pids = [ping(p) for p in paths]
        hwm = [round(_hwm_mb(pid)) if pid else None for pid in pids]
    finally:
        for p in paths:
            ping(p, "stop")
        shutil.rmtree(root, ignore_errors=True)
    return {"worker_shards": shards, "documents": len(docs) * rounds, "answered_by_worker": warm.used_worker,
            "first_document_s": round(cold, 1), "worker_peak_rss_mb": hwm,
            "ms_median": round(statistics.median(times), 1),
            "client_peak_rss_mb": round(_rss_mb())}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", action="append", choices=("strucmin", "others", "all", "volets", "profiles"))
    ap.add_argument("--doc", action="append")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--every-example", action="store_true", help="every example of the kit's ExemplesCDA")
    ap.add_argument("--worker", type=int, choices=(1, 2), help="through the warm worker (1 process or 2 shards)")
    ap.add_argument("--child", action="store_true")
    args = ap.parse_args()
    docs = args.doc or list(DOCS)
    if args.every_example:
        docs = sorted(p.name for p in (SHARED / "cisis-kit" / "ExemplesCDA").glob("*.xml"))
    if args.worker:
        print(json.dumps(through_worker(args.worker, docs, args.rounds)))
        return 0
    if args.child:
        print(json.dumps(child(args.set[0], docs, args.rounds)))
        return 0
    for which in args.set or ["strucmin", "others", "all"]:
        cmd = [sys.executable, __file__, "--child", "--set", which, "--rounds", str(args.rounds)]
        for d in docs:
            cmd += ["--doc", d]
        out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        print(out.stdout.strip() or out.stderr[-2000:], flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
