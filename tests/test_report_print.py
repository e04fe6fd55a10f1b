"""The printed report is a paper dossier (issue 13): A4, "page x / y", run id and results digest on every
page, failures first, the compliant MS1 run in at most 60 pages, verdicts readable in black and white.

Printed by headless Chromium through Playwright (Debian's chromium at /usr/bin/chromium, override with
SEGUR_CHROMIUM) and read back with pypdf; skips with a reason when no browser or no Playwright. The
compliant MS1 campaign is run with ``--pdf``: the report.pdf checked is the one the bundle holds and signs.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import unicodedata
from pathlib import Path
from typing import Any

import pytest

from conformance.report import synthetic as syn
from conformance.report.bundle import write_all

CHROMIUM = Path(os.environ.get("SEGUR_CHROMIUM", "/usr/bin/chromium"))
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright (Python) is not installed")
pypdf = pytest.importorskip("pypdf", reason="pypdf is not installed")
if not CHROMIUM.is_file():
    pytest.skip(f"no browser at {CHROMIUM}: install Debian's chromium (apt-get install chromium) to run this test",
                allow_module_level=True)

A4 = (595, 842)  # points


def print_pdf(html: Path, out: Path) -> Any:
    """Print as a reader would (print media, the page's own @page size), return the parsed PDF."""
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"],
                                     headless=True, timeout=30_000)
        try:
            page = browser.new_page()
            page.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file://")
                       else route.abort())
            page.goto(html.as_uri())
            page.emulate_media(media="print")
            page.pdf(path=str(out), prefer_css_page_size=True, print_background=True)
        finally:
            browser.close()
    return pypdf.PdfReader(str(out))


def _texts(reader: Any) -> list[str]:
    """Page texts, ligatures unfolded (the PDF's "ﬁ" is "fi")."""
    return [unicodedata.normalize("NFKC", p.extract_text() or "") for p in reader.pages]


@pytest.fixture(scope="module")
def compliant(tmp_path_factory: pytest.TempPathFactory) -> Path:
    report = tmp_path_factory.mktemp("print") / "ok"
    env = dict(os.environ, SEGUR_CHROMIUM=str(CHROMIUM))
    env.pop("SEGUR_PDF", None)
    proc = subprocess.run([sys.executable, "-m", "conformance.cli", "run", "--profile", "MS1", "--pdf",
                           "--report-dir", str(report)], capture_output=True, text=True, timeout=900, env=env)
    assert (report / "report.html").is_file(), proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "dossier papier" in proc.stdout, proc.stdout[-2000:] + proc.stderr[-2000:]
    return report


@pytest.mark.slow
def test_compliant_ms1_prints_as_an_a4_dossier_of_at_most_60_pages(compliant: Path) -> None:
    pdf = compliant / "report.pdf"
    assert pdf.is_file()
    manifest = json.loads((compliant / "manifest.json").read_text(encoding="utf-8"))
    signed = {f["path"]: f.get("sha256") for f in manifest["files"]}
    assert signed["report.pdf"] == hashlib.sha256(pdf.read_bytes()).hexdigest()  # in the signed bundle
    reader = pypdf.PdfReader(str(pdf))
    results = json.loads((compliant / "results.json").read_text(encoding="utf-8"))
    run_id = results["run"]["run_id"]
    digest = hashlib.sha256((compliant / "results.json").read_bytes()).hexdigest()
    n = len(reader.pages)
    assert 3 <= n <= 60, n
    texts = _texts(reader)
    for i, (page, content) in enumerate(zip(reader.pages, texts, strict=True), 1):
        assert (round(float(page.mediabox.width)), round(float(page.mediabox.height))) == A4, i
        flat = re.sub(r"\s+", " ", content)
        assert f"page {i} / {n}" in flat, (i, flat[:200])
        assert run_id in flat.replace(" ", "") or run_id in flat, (i, flat[:300])
        assert digest[:32] in flat.replace(" ", ""), i
    # the manual to-do list and the evidence index are printed; the verified rows are folded to counts
    whole = " ".join(texts)
    assert "Preuves manuelles à fournir" in whole and "Index des pièces" in whole
    assert re.search(r"\d+ points? de vérification satisfaits?", whole)
    assert "vérification satisfaite :" not in whole


def _failing_results(tmp: Path) -> Path:
    entries = [syn.requirement(f"DUI.MSS.{i:02d}", "MSS", "passed") for i in range(1, 30)]
    entries[17]["verdict"] = "failed"
    entries[17]["findings"] = [syn.finding(entries[17]["id"], 1)]
    entries.append(syn.requirement("DUI.DMP.01", "DMP", "failed"))
    entries[-1]["findings"] = [syn.finding("DUI.DMP.01", 2)]
    res = syn.results(entries)
    res["run"]["run_id"] = "0c9f6a1e-5b7d-4e8a-9f00-123456789abc"
    folder = tmp / "bad"
    write_all(res, folder, "fr", tmp / "key.pem")
    return folder


def test_failures_are_printed_first_and_verdicts_read_in_black_and_white(tmp_path: Path) -> None:
    folder = _failing_results(tmp_path)
    texts = _texts(print_pdf(folder / "report.html", tmp_path / "bad.pdf"))
    whole = re.sub(r"\s+", " ", " ".join(texts))
    failures = whole.index("Non-conformités et preuves non évaluées (2)")
    assert failures < whole.index("DMP — ") and failures < whole.index("MSS — ")
    first_detail = whole.index("DUI.MSS.18", failures)
    assert first_detail < whole.index("DMP — ")
    # a glyph, not only a colour, tells the verdicts apart on a black-and-white printer
    assert "✗ NON CONFORME" in whole and "✓ CONFORME" in whole
    assert "0c9f6a1e-5b7d-4e8a-9f00-123456789abc" in texts[-1].replace("\n", "")


def test_compliant_ms1_report_has_no_serious_or_critical_axe_violation(compliant: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from report_axe import SKIP_REASON, axe_source, run_axe

    if axe_source() is None:
        pytest.skip(SKIP_REASON)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"],
                                     headless=True, timeout=30_000)
        try:
            assert run_axe(browser, compliant / "report.html") == []
        finally:
            browser.close()
