"""Soak (issue 15 item 7): N consecutive MS1 runs in ONE process, and what each leaves behind.

    python benchmarks/bench_soak.py [--runs 20] [--profile MS1] [--defect NAME] [--markdown]

Each run is ``segur-conformance run --profile MS1`` called in-process (``conformance.cli.main``): the
embedded reference sandbox, the INSi, DMP, MSSanté and PSC simulators, the pytest session and the whole
report bundle, started and stopped 20 times by the same interpreter. After each run (and a garbage
collection) the process is measured from /proc: open file descriptors, OS threads, TCP ports in LISTEN
held by the process, resident memory (VmRSS), child processes. A leak shows as a column that keeps
growing; the first run is the warm-up (imports, caches, the model library) and is not part of the slope.
Prints one row per run, then the growth from run 2 to the last; nothing is asserted.
"""

from __future__ import annotations

import argparse
import gc
import io
import os
import sys
import tempfile
import threading
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _status(key: str) -> int:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def _socket_inodes() -> set[str]:
    out = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            out.add(target[8:-1])
    return out


def listening_ports() -> list[int]:
    """TCP ports in LISTEN (state 0A) whose socket belongs to this process."""
    mine = _socket_inodes()
    ports = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table, encoding="ascii") as fh:
                next(fh)
                for line in fh:
                    cols = line.split()
                    if cols[3] == "0A" and cols[9] in mine:
                        ports.append(int(cols[1].rsplit(":", 1)[1], 16))
        except OSError:
            continue
    return sorted(ports)


def children() -> int:
    total = 0
    for tid in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{tid}/children", encoding="ascii") as fh:
                total += len(fh.read().split())
        except OSError:
            pass
    return total


def sample() -> dict[str, int]:
    gc.collect()
    return {"fds": len(os.listdir("/proc/self/fd")), "threads": _status("Threads"),
            "py_threads": threading.active_count(), "listening": len(listening_ports()),
            "rss_mib": _status("VmRSS") // 1024, "children": children()}


def one_run(profile: str, defects: list[str]) -> tuple[int, float]:
    from conformance.cli import main

    with tempfile.TemporaryDirectory(prefix="bench-soak-") as tmp:
        argv = ["run", "--profile", profile, "--report-dir", str(Path(tmp) / "r")]
        for d in defects:
            argv += ["--defect", d]
        started = time.perf_counter()
        with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
            code = main(argv)
        return code, time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--profile", default="MS1")
    parser.add_argument("--defect", action="append", default=[])
    args = parser.parse_args(argv)
    os.chdir(ROOT)
    rows = [dict(run=0, exit="–", seconds=0.0, **sample())]
    print("run  exit  seconds  fds  threads  listening  rss_mib  children", file=sys.stderr)
    for n in range(1, args.runs + 1):
        code, seconds = one_run(args.profile, args.defect)
        row = dict(run=n, exit=code, seconds=seconds, **sample())
        rows.append(row)
        print(f"{n:3}  {code:4}  {seconds:7.1f}  {row['fds']:3}  {row['threads']:7}  {row['listening']:9}  "
              f"{row['rss_mib']:7}  {row['children']:8}", file=sys.stderr, flush=True)
    load = os.getloadavg()[0]
    print(f"\n{args.runs} consecutive `run --profile {args.profile}` in one process (CPython "
          f"{sys.version.split()[0]}, {os.cpu_count()} cores, load average at the end {load:.1f}); measured after "
          "each run and a garbage collection; run 0 = before the first run.\n")
    print("| run | exit | wall time | open files | OS threads (Python) | listening ports | RSS | child processes |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['run']} | {r['exit']} | {r['seconds']:.1f} s | {r['fds']} | {r['threads']} ({r['py_threads']}) | "
              f"{r['listening']} | {r['rss_mib']} MiB | {r['children']} |")
    if len(rows) > 3:
        first, last = rows[2], rows[-1]
        print(f"\nGrowth from run 2 to run {last['run']}: open files {last['fds'] - first['fds']:+d}, OS threads "
              f"{last['threads'] - first['threads']:+d}, listening ports {last['listening'] - first['listening']:+d}, "
              f"RSS {last['rss_mib'] - first['rss_mib']:+d} MiB "
              f"({(last['rss_mib'] - first['rss_mib']) / max(1, last['run'] - 2):+.1f} MiB per run).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
