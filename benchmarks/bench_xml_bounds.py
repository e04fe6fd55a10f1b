"""Memory of hostile and dense XML under the node budget of conformance/safexml.py (issue 15).

Each case runs in a fresh subprocess; its peak RSS (``ru_maxrss`` from ``os.wait4``, which includes libxml2's
C allocations) is the figure. Cases:

- ``siblings-12M``: 12,000,000 empty sibling elements, 48 MB (the document of issue 15, once 1.6 GB):
  ``safexml.parse_bytes`` must refuse it, and ``segur-conformance validate`` must report it, under 500 MB;
- ``densest-accepted``: the densest document the budget lets through (1,999,000 elements of 14 bytes, 28 MB):
  its tree, against the 10x-the-document and 500 MB bounds;
- ``n1-40MB``: a 40 MB base64 text node (an N1 document's PDF): few nodes, accepted;
- ``run-artefacts`` (with ``--run``): an MS1 artefact run whose cda/ holds the 48 MB document;
- ``lxml-unbounded`` (with ``--compare``): the same 48 MB parsed by lxml without the budget (the old cost).

Run: ``python benchmarks/bench_xml_bounds.py [--run] [--compare]``. Prints a Markdown table. The files are
written to a temporary folder and removed. Nothing here is asserted: the test suite checks behaviour
(tests/test_safexml.py), this script reports figures.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def siblings(path: Path, n: int = 12_000_000) -> None:
    with open(path, "wb") as fh:
        fh.write(b'<?xml version="1.0" encoding="UTF-8"?>\n<ClinicalDocument xmlns="urn:hl7-org:v3">')
        chunk = b"<b/>" * 100_000
        for _ in range(n // 100_000):
            fh.write(chunk)
        fh.write(b"</ClinicalDocument>")


def densest(path: Path, n: int = 1_999_000) -> None:
    with open(path, "wb") as fh:
        fh.write(b"<a" + b" " * 28 + b">")  # the root's 2 nodes' worth of bytes, without a text node
        chunk = b"<b          />" * 1000  # 14 bytes, one node each: exactly the budget's density
        for _ in range(n // 1000):
            fh.write(chunk)
        fh.write(b"</a>")


def n1(path: Path, mb: int = 40) -> None:
    import base64

    body = base64.b64encode(b"%PDF-1.4\n" + b"0" * (mb * 1024 * 1024 * 3 // 4))
    path.write_bytes(b'<ClinicalDocument xmlns="urn:hl7-org:v3"><component><nonXMLBody><text '
                     b'mediaType="application/pdf" representation="B64">' + body +
                     b"</text></nonXMLBody></component></ClinicalDocument>")


PARSE = """
import sys, time
from conformance.safexml import XmlRejected, parse_bytes
data = open(sys.argv[1], "rb").read()
t = time.perf_counter()
try:
    tree = parse_bytes(data)
    print("accepted", len(tree.getroot()), "children;", round(time.perf_counter() - t, 2), "s")
except XmlRejected as exc:
    print("refused:", exc.reason_en[:90], ";", round(time.perf_counter() - t, 2), "s")
"""

BASELINE = "import conformance.safexml, lxml.etree; print('imports only')"

UNBOUNDED = """
import sys
from lxml import etree
data = open(sys.argv[1], "rb").read()
root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, huge_tree=True))
print("lxml parsed", len(root), "children")
"""


# The child reports its own high-water mark (VmHWM, reset by exec; ru_maxrss is not: Linux carries the parent's
# peak across fork and exec, so a parent that once held a big buffer would inflate every child's figure).
WRAP = """
import runpy, sys
mode, target = sys.argv[1], sys.argv[2]
sys.argv = [target] + sys.argv[3:]
try:
    if mode == "module":
        runpy.run_module(target, run_name="__main__", alter_sys=True)
    else:
        exec(compile(target, "<case>", "exec"), {"__name__": "__main__"})
except SystemExit:
    pass
finally:
    hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0].split()[1]
    sys.stdout.flush()
    print("VmHWM_KB", hwm)
"""


def measure(mode: str, target: str, *args: str) -> tuple[float, str, float]:
    """Peak RSS (MB) of the child, the last line it printed, wall time."""
    started = time.perf_counter()
    proc = subprocess.run([PY, "-c", WRAP, mode, target, *args], capture_output=True, text=True, cwd=ROOT)
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    hwm = [int(line.split()[1]) for line in lines if line.startswith("VmHWM_KB")]
    shown = [line for line in lines if not line.startswith("VmHWM_KB")]
    return (hwm[-1] / 1024 if hwm else float("nan")), (shown[-1] if shown else "")[:140], \
        time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", action="store_true", help="also an MS1 artefact run with the 48 MB document")
    parser.add_argument("--compare", action="store_true", help="also lxml without the budget (about 1.6 GB)")
    args = parser.parse_args()
    rows: list[tuple[str, float, float, float, str]] = []
    with tempfile.TemporaryDirectory(prefix="bench-xml-") as tmp:
        folder = Path(tmp)
        big, dense, pdf = folder / "siblings-12M.xml", folder / "densest.xml", folder / "n1.xml"
        siblings(big)
        densest(dense)
        n1(pdf)
        base, _, _ = measure("code", BASELINE)
        rows.append(("python + lxml + safexml imported", 0, base, 0, "baseline"))
        for name, path in (("siblings-12M: parse_bytes", big), ("densest-accepted: parse_bytes", dense),
                           ("n1-40MB: parse_bytes", pdf)):
            rss, line, wall = measure("code", PARSE, str(path))
            rows.append((name, path.stat().st_size / 1e6, rss, wall, line))
        rss, line, wall = measure("module", "conformance.cli", "validate", str(big))
        rows.append(("siblings-12M: segur-conformance validate", big.stat().st_size / 1e6, rss, wall, line))
        if args.run:
            arte = folder / "artefacts"
            (arte / "cda").mkdir(parents=True)
            os.link(big, arte / "cda" / "siblings-12M.xml")
            rss, line, wall = measure("module", "conformance.cli", "run", "--profile", "MS1", "--artefacts",
                                      str(arte), "--report-dir", str(folder / "report"))
            rows.append(("siblings-12M: run --artefacts (MS1)", big.stat().st_size / 1e6, rss, wall, line))
        if args.compare:
            rss, line, wall = measure("code", UNBOUNDED, str(big))
            rows.append(("siblings-12M: lxml without the budget", big.stat().st_size / 1e6, rss, wall, line))
    print(f"`python benchmarks/bench_xml_bounds.py{' --run' if args.run else ''}"
          f"{' --compare' if args.compare else ''}` (CPython {sys.version.split()[0]}, "
          f"{os.cpu_count()} cores, lxml from the project's environment)\n")
    print("| case | document | peak RSS | over baseline | ratio to document | wall | outcome |")
    print("|---|---|---|---|---|---|---|")
    for name, size, rss, wall, line in rows:
        extra = rss - base
        ratio = f"{extra / size:.1f}x" if size else "–"
        doc = f"{size:.1f} MB" if size else "–"
        print(f"| {name} | {doc} | {rss:.0f} MB | {extra:.0f} MB | {ratio} | {wall:.1f} s | {line} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
