"""Memory as documents grow: peak traced memory of the built-in CDA layers on N1 documents whose embedded
PDF grows from 1 to 40 MB (the N1 case is the one that grows in practice: a scanned PPA or care plan).

Run: ``python benchmarks/bench_memory.py``. Prints one line per size: peak / document size.
The target is a bounded ratio (a few times the document, no blow-up), not an absolute figure.
"""

from __future__ import annotations

import base64
import multiprocessing
import re
import resource
import time
import tracemalloc
from types import SimpleNamespace

from segur_reference_dui.documents import render

from conformance.cda.validate import validate_document

RESIDENT = SimpleNamespace(
    id="R1", traits={"birth_name": "TESTE", "given_names": ["ALICE"], "first_given_name": "ALICE",
                     "birth_date": "1941-05-12", "sex": "F", "birthplace_code": "63113"},
    used_name="", used_given_name="", status="PROV", ins=None, attributes=[], identity_document=None)


def with_pdf_of(size: int) -> bytes:
    cda = render("PPA", RESIDENT, ())
    pdf = b"%PDF-1.4\n" + b"%" + b"0" * size + b"\n%%EOF\n"
    body = base64.b64encode(pdf)
    return re.sub(rb"(<text[^>]*>)[^<]*(</text>)", lambda m: m.group(1) + body + m.group(2), cda, count=1)


def one(mb: int, queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    """In a fresh process, so the RSS high-water mark (which includes libxml2's C allocations, invisible
    to tracemalloc) belongs to this document alone."""
    data = with_pdf_of(mb * 1024 * 1024)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    started = time.perf_counter()
    result = validate_document(data, f"ppa-{mb}MB.xml", layers=("models",), expected_type="PPA")
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_growth = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) * 1024
    queue.put((len(data), peak, rss_growth, elapsed, [f.rule for f in result.errors][:3]))


def main() -> None:
    print(f"{'PDF':>6} {'document':>10} {'py peak':>9} {'RSS growth':>11} {'ratio':>6} {'time':>7}")
    ctx = multiprocessing.get_context("spawn")
    for mb in (1, 5, 10, 20, 35):
        queue = ctx.Queue()
        proc = ctx.Process(target=one, args=(mb, queue))
        proc.start()
        size, peak, rss, elapsed, errors = queue.get(timeout=300)
        proc.join()
        print(f"{mb:>4}MB {size / 2**20:>8.1f}MB {peak / 2**20:>7.1f}MB {rss / 2**20:>9.1f}MB "
              f"{max(peak, rss) / size:>6.2f} {elapsed:>6.2f}s  errors={errors}")


if __name__ == "__main__":
    main()
