"""Report benchmark: 10,000 findings → report size (target < 10 MB) and time to open in headless Chromium
(target < 3 s), plus the time to write the whole signed bundle and to verify it.

    python benchmarks/bench_report.py                 # print the figures
    python benchmarks/bench_report.py --write-readme  # also refresh the "Report" section of benchmarks/README.md

Opening is measured from ``page.goto`` to the report's script having run (``html[data-ready]``), i.e. the
report is parsed, laid out and interactive; the browser launch itself is not counted. Median of 3 loads.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from conformance.report import synthetic  # noqa: E402
from conformance.report.bundle import write_all  # noqa: E402
from conformance.report.html import render_html  # noqa: E402
from conformance.report.manifest import verify  # noqa: E402

CHROMIUM = Path(os.environ.get("SEGUR_CHROMIUM", "/usr/bin/chromium"))
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]
SIZE_TARGET_MB = 10.0
OPEN_TARGET_S = 3.0
README = Path(__file__).with_name("README.md")
SECTION_START = "<!-- bench_report:start -->"
SECTION_END = "<!-- bench_report:end -->"


def browser_times(report: Path, loads: int = 3) -> dict[str, float] | None:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if not CHROMIUM.is_file():
        return None
    opens: list[float] = []
    searches: list[float] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            for _ in range(loads):
                context = browser.new_context()
                context.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file://") else r.abort())
                page = context.new_page()
                page.set_default_timeout(60_000)
                start = time.perf_counter()
                page.goto(report.as_uri(), wait_until="load")
                page.wait_for_selector("html[data-ready='1']", state="attached")
                opens.append(time.perf_counter() - start)
                # first search builds the text index over every requirement (10k findings included)
                start = time.perf_counter()
                page.evaluate("""() => { const s = document.getElementById('f-search');
                                         s.value = 'DUI.MSS.0002';
                                         s.form.dispatchEvent(new Event('submit', {cancelable: true})); }""")
                shown = page.evaluate("document.querySelectorAll('details.req:not([hidden])').length")
                searches.append(time.perf_counter() - start)
                assert shown >= 1
                context.close()
        finally:
            browser.close()
    return {"open_median_s": statistics.median(opens), "open_max_s": max(opens),
            "search_median_s": statistics.median(searches)}


def measure(n_findings: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        folder = Path(tmp) / "report"
        folder.mkdir()
        results = synthetic.large(n_findings, report_dir=folder)
        (folder / "results.json").write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
        start = time.perf_counter()
        html = render_html(results, "fr", report_dir=folder)
        render_s = time.perf_counter() - start
        start = time.perf_counter()
        write_all(results, folder, "fr", Path(tmp) / "key.pem")
        bundle_s = time.perf_counter() - start
        start = time.perf_counter()
        intact = verify(folder).intact
        verify_s = time.perf_counter() - start
        report = folder / "report.html"
        figures: dict[str, Any] = {
            "findings": sum(len(r["findings"]) for r in results["requirements"]),
            "requirements": len(results["requirements"]),
            "evidence_files": len(results["evidence"]),
            "html_mb": report.stat().st_size / 1e6,
            "html_en_mb": len(render_html(results, "en", report_dir=folder).encode("utf-8")) / 1e6,
            "results_json_mb": (folder / "results.json").stat().st_size / 1e6,
            "render_s": render_s, "write_all_s": bundle_s, "verify_s": verify_s, "intact": intact,
            "html_chars": len(html),
        }
        figures["browser"] = browser_times(report)
        return figures


def markdown(f: dict[str, Any]) -> str:
    b = f["browser"]
    size_ok = "meets" if f["html_mb"] < SIZE_TARGET_MB else "MISSES"
    lines = [
        SECTION_START,
        "## Report",
        "",
        f"`python benchmarks/bench_report.py` — synthetic run of {f['findings']:,} findings over "
        f"{f['requirements']:,} requirements and {f['evidence_files']:,} evidence files "
        f"({platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} cores).",
        "",
        "| measure | value | target |",
        "|---|---|---|",
        f"| report.html size (fr / en) | {f['html_mb']:.2f} MB / {f['html_en_mb']:.2f} MB | < {SIZE_TARGET_MB:.0f} MB ({size_ok}) |",
        f"| results.json size | {f['results_json_mb']:.2f} MB | – |",
        f"| render report.html (Python) | {f['render_s']:.2f} s | – |",
        f"| write whole bundle (HTML, JUnit, CSV, XLSX, signed manifest) | {f['write_all_s']:.2f} s | – |",
        f"| verify bundle | {f['verify_s']:.2f} s | – |",
    ]
    if b:
        open_ok = "meets" if b["open_max_s"] < OPEN_TARGET_S else "MISSES"
        lines += [
            f"| open in headless Chromium, to interactive (median / max of 3) | {b['open_median_s']:.2f} s / "
            f"{b['open_max_s']:.2f} s | < {OPEN_TARGET_S:.0f} s ({open_ok}) |",
            f"| first search (builds the text index) | {b['search_median_s']:.2f} s | – |",
        ]
    else:
        lines.append("| open in headless Chromium | not measured (no browser) | < 3 s |")
    lines += ["", "Rendering choice: server-side HTML with collapsed passed items, compact finding rows and "
              "`content-visibility: auto` (see conformance/report/html.py).", SECTION_END, ""]
    return "\n".join(lines)


def write_readme(section: str) -> None:
    text = README.read_text(encoding="utf-8") if README.exists() else "# Benchmarks\n\n"
    if SECTION_START in text and SECTION_END in text:
        head, rest = text.split(SECTION_START, 1)
        tail = rest.split(SECTION_END, 1)[1].lstrip("\n")
        text = head + section + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section
    README.write_text(text, encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--findings", type=int, default=10_000)
    parser.add_argument("--write-readme", action="store_true")
    args = parser.parse_args()
    figures = measure(args.findings)
    section = markdown(figures)
    print(section)
    if args.write_readme:
        write_readme(section)
    failed = figures["html_mb"] >= SIZE_TARGET_MB or (
        figures["browser"] is not None and figures["browser"]["open_max_s"] >= OPEN_TARGET_S)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
