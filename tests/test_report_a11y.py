"""Issue 13 item 8 in a real browser: search over content only (accent-insensitive, at word starts),
axe-core finds no serious or critical violation, skip link, heading order, named navs, labelled select;
item 6: a screenshot attached to a manual proof is shown inline (CSP img-src 'self').

Headless Chromium through Playwright; axe-core from .cache/npm (installed by .ci/run, see report_axe.py).
The real MS1 reports are checked with axe in test_report_print.py (compliant) and
test_report_evidence_links.py (two defects), which already run those campaigns.
"""

from __future__ import annotations

import io
import struct
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conformance.report import synthetic as syn
from conformance.report.bundle import write_all
from conformance.report.commands import cmd_attach

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report_axe import CHROMIUM, SKIP_REASON, axe_source, run_axe  # noqa: E402

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright (Python) is not installed")
if not CHROMIUM.is_file():
    pytest.skip(f"no browser at {CHROMIUM}: install Debian's chromium (apt-get install chromium) to run this test",
                allow_module_level=True)


def png(width: int = 4, height: int = 3) -> bytes:
    """A real PNG (red pixels), written by hand from the PNG specification."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"], headless=True,
                               timeout=30_000)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("a11y")
    entries = [syn.requirement(f"DUI.PSC.{i:02d}", "PSC", "passed") for i in range(1, 6)]
    entries[1]["title"] = "Vérification du nonce"
    entries[2]["verdict"] = "failed"
    entries[2]["findings"] = [syn.finding(entries[2]["id"], 1) | {
        "rule": "PSC-STATE-01", "message": "Le paramètre state n'est pas contrôlé au retour",
        "xpath": "/ClinicalDocument/recordTarget/patientRole"}]
    entries.append(syn.requirement("SC.INS/va1.58", "INS", "manual", manual_only=True))
    folder = tmp / "bundle"
    key = tmp / "key.pem"
    write_all(syn.results(entries), folder, "fr", key)
    shot = tmp / "ecran-ins.png"
    shot.write_bytes(png())
    import json

    results = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    proof = next(p["id"] for r in results["requirements"] for s in r["scenarios"] for p in s["proofs"]
                 if p["method"] == "manual")
    assert cmd_attach(folder, proof, [shot], note="écran de qualification INS", signing_key=key,
                      out=io.StringIO()) == 0
    return folder / "report.html"


def _open(browser: Any, path: Path) -> tuple[Any, Any, list[str]]:
    context = browser.new_context()
    blocked: list[str] = []

    def route(r: Any) -> None:
        if r.request.url.startswith("file://"):
            r.continue_()
        else:
            blocked.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(path.as_uri(), wait_until="load")
    page.wait_for_selector("html[data-ready='1']")
    return context, page, blocked


def _shown(page: Any, term: str) -> list[str]:
    page.fill("#f-search", term)
    page.dispatch_event("#toolbar", "submit")
    return page.evaluate("[...document.querySelectorAll('details.req:not([hidden])')].map(r => r.id)")


def test_search_reads_content_at_word_starts(browser: Any, report: Path) -> None:
    context, page, blocked = _open(browser, report)
    try:
        assert _shown(page, "nonce") == ["req-DUI.PSC.02"]  # not every requirement through the label "Énoncé"
        assert _shown(page, "enonce") == []
        assert _shown(page, "VERIFICATION du NONCE") == ["req-DUI.PSC.02"]  # accents and case folded
        assert _shown(page, "PSC-STATE-01") == ["req-DUI.PSC.03"]  # the rule
        assert _shown(page, "parametre state") == ["req-DUI.PSC.03"]  # the finding's message
        assert _shown(page, "recordTarget") == ["req-DUI.PSC.03"]  # the XPath
        assert _shown(page, "ordTarget") == []  # word starts only
        assert _shown(page, "DUI.PSC.04") == ["req-DUI.PSC.04"]
        assert blocked == []
    finally:
        context.close()


def test_landmarks_skip_link_headings_and_the_inline_screenshot(browser: Any, report: Path) -> None:
    context, page, blocked = _open(browser, report)
    try:
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.className") == "skip"
        assert page.evaluate("document.activeElement.getAttribute('href')") == "#main"
        assert page.evaluate("[...document.querySelectorAll('nav')].every(n => n.getAttribute('aria-label'))")
        assert page.evaluate("document.querySelector('#f-section').labels[0].querySelector('.sr-only').textContent") == "Section"
        levels = page.evaluate("[...document.querySelectorAll('h1,h2,h3,h4,h5,h6')].map(h => +h.tagName[1])")
        assert levels[0] == 1 and all(b - a <= 1 for a, b in zip(levels, levels[1:], strict=False)), levels
        # the vendor's screenshot, under its proof, loaded from the bundle despite the CSP
        page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
        img = page.locator("img.att-img")
        assert img.count() == 1 and img.get_attribute("alt") == "écran de qualification INS"
        img.scroll_into_view_if_needed()
        assert page.evaluate("document.querySelector('img.att-img').naturalWidth") == 4
        assert blocked == []
    finally:
        context.close()


def test_axe_finds_no_serious_or_critical_violation(browser: Any, report: Path) -> None:
    if axe_source() is None:
        pytest.skip(SKIP_REASON)
    assert run_axe(browser, report) == []
