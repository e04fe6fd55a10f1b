"""The report in a real browser (headless Chromium via Playwright): renders, filters, searches, no network.

Uses Debian's chromium at /usr/bin/chromium (override with SEGUR_CHROMIUM); skips with a reason when no
browser or no Playwright is installed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conformance.report import synthetic as syn
from conformance.report.bundle import write_all

CHROMIUM = Path(os.environ.get("SEGUR_CHROMIUM", "/usr/bin/chromium"))
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright (Python) is not installed")
if not CHROMIUM.is_file():
    pytest.skip(f"no browser at {CHROMIUM}: install Debian's chromium (apt-get install chromium) to run this test",
                allow_module_level=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True, timeout=30_000)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("browser-report")
    res = syn.large(400, per_requirement=10, report_dir=folder)
    hostile = res["requirements"][1]
    hostile["findings"].append(syn.finding(hostile["id"], 77) | {
        "message": "<img src=http://evil.example/pixel.png><script>fetch('https://evil.example')</script>",
        "found": "<link rel=stylesheet href=https://evil.example/x.css>"})
    hostile["title"] = "Sécurité de l'identité"
    write_all(res, folder, "fr", folder.parent / "key.pem")
    return folder / "report.html"


class Page:
    """A page whose every request is recorded; anything but file:// is aborted and remembered."""

    def __init__(self, browser: Any, js: bool = True) -> None:
        self.context = browser.new_context(java_script_enabled=js)
        self.requests: list[str] = []
        self.blocked: list[str] = []
        self.errors: list[str] = []
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.set_default_timeout(15_000)
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def _route(self, route: Any) -> None:
        url = route.request.url
        if url.startswith("file://"):
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Page]:
    p = Page(browser)
    yield p
    p.close()


def _visible_reqs(p: Any) -> int:
    return int(p.evaluate("document.querySelectorAll('details.req:not([hidden])').length"))


def _wait_visible(p: Any, expected: int, timeout_s: float = 10.0) -> None:
    """Poll (bounded) until ``expected`` requirements are shown; the search input is debounced.

    ``page.wait_for_function`` cannot be used: it evaluates a string, which the report's CSP forbids.
    """
    for _ in range(int(timeout_s / 0.05)):
        if _visible_reqs(p) == expected:
            return
        p.wait_for_timeout(50)
    assert _visible_reqs(p) == expected


def test_renders_filters_and_searches_without_network(page: Page, report: Path) -> None:
    p = page.page
    p.goto(report.as_uri(), wait_until="load")
    p.wait_for_selector("html[data-ready='1']")
    total = int(p.evaluate("document.querySelectorAll('details.req').length"))
    assert total == 40
    assert p.is_visible("#toolbar")
    assert p.inner_text("#f-count") == f"{total} exigence(s) affichée(s) sur {total}"
    assert "Rapport de conformité Ségur DUI" in p.inner_text("h1")

    # verdict filter: hide passed requirements
    passed = int(p.evaluate("document.querySelectorAll('details.req[data-v=passed]').length"))
    assert 0 < passed < total
    p.uncheck("input[name=verdict][value=passed]")
    assert _visible_reqs(p) == total - passed
    assert p.evaluate("document.querySelectorAll('details.req[data-v=passed]:not([hidden])').length") == 0

    # section filter on top of it
    p.select_option("#f-section", "MSS")
    visible_sections = p.evaluate("[...document.querySelectorAll('details.req:not([hidden])')].map(r => r.dataset.s)")
    assert visible_sections and set(visible_sections) == {"MSS"}
    assert p.is_hidden("#sec-INS")

    # mandatory only
    p.select_option("#f-section", "")
    p.check("#f-mandatory")
    flags = p.evaluate("[...document.querySelectorAll('details.req:not([hidden])')].map(r => r.dataset.m)")
    assert flags and set(flags) == {"1"}

    # reset, then search an id, then accent-insensitive text
    p.click("#b-reset")
    _wait_visible(p, total)
    p.fill("#f-search", "DUI.MSS.0002")
    _wait_visible(p, 1)
    assert p.is_visible("#req-DUI\\.MSS\\.0002")
    p.fill("#f-search", "securite de l'identite")
    _wait_visible(p, 1)
    p.fill("#f-search", "aucun-resultat-possible")
    _wait_visible(p, 0)
    assert p.is_visible("#none-shown")

    # the hostile finding stayed text
    assert p.evaluate("document.querySelectorAll('img, link, iframe').length") == 0
    assert not page.errors, page.errors
    assert page.blocked == []
    assert page.requests and all(u.startswith("file://") for u in page.requests), page.requests


def test_print_unfolds_everything(page: Page, report: Path) -> None:
    p = page.page
    p.goto(report.as_uri(), wait_until="load")
    p.wait_for_selector("html[data-ready='1']")
    assert p.evaluate("document.querySelectorAll('details.req:not([open])').length") > 0
    p.evaluate("window.dispatchEvent(new Event('beforeprint'))")
    assert p.evaluate("document.querySelectorAll('details:not([open])').length") == 0
    p.emulate_media(media="print")
    assert p.is_hidden("#toolbar")
    p.evaluate("window.dispatchEvent(new Event('afterprint'))")
    assert p.evaluate("document.querySelectorAll('details.req:not([open])').length") > 0


def test_evidence_links_open_from_disk(page: Page, report: Path) -> None:
    p = page.page
    p.goto(report.as_uri(), wait_until="load")
    href = p.get_attribute("a.ev-ok", "href")
    assert href and href.startswith("evidence/")
    target = p.evaluate("document.querySelector('a.ev-ok').href")
    assert target.startswith("file://") and Path(target.removeprefix("file://")).is_file()


def test_readable_without_javascript(browser: Any, report: Path) -> None:
    nojs = Page(browser, js=False)
    try:
        p = nojs.page
        p.goto(report.as_uri(), wait_until="load")
        assert p.is_hidden("#toolbar")
        assert "JavaScript est désactivé" in p.inner_text("body")
        assert p.is_visible("text=Synthèse")
        # failed requirements are unfolded for a reader (and a printer) without scripts
        assert p.evaluate("document.querySelectorAll('details.req[data-v=failed]:not([open])').length") == 0
        assert nojs.blocked == []
    finally:
        nojs.close()
