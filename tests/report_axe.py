"""axe-core in headless Chromium (through Playwright) for the report tests.

axe-core is never fetched by a test (tests never reach the internet): .ci/run installs the npm package
into .cache/npm (``npm install --prefix .cache/npm axe-core@4``); SEGUR_AXE_JS names another axe.min.js.
Without it, the tests that need it skip and say how to install it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path(os.environ.get("SEGUR_CHROMIUM", "/usr/bin/chromium"))
BLOCKING_IMPACTS = ("serious", "critical")


def axe_source() -> Path | None:
    asked = os.environ.get("SEGUR_AXE_JS", "").strip()
    for candidate in ([Path(asked)] if asked else []) + [ROOT / ".cache/npm/node_modules/axe-core/axe.min.js"]:
        if candidate.is_file():
            return candidate
    return None


SKIP_REASON = ("axe-core not installed: npm install --prefix .cache/npm axe-core@4 (done by .ci/run), "
               "or set SEGUR_AXE_JS to an axe.min.js")


def run_axe(browser: Any, page_path: Path) -> list[dict[str, Any]]:
    """The serious and critical violations axe-core finds on ``page_path`` (screen media, scripts on).

    The report's CSP forbids any script but its own, so the page is opened with CSP bypassed for axe's
    injection only; every non-file:// request is still aborted.
    """
    source = axe_source()
    assert source is not None
    context = browser.new_context(bypass_csp=True)
    try:
        context.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file://")
                      else route.abort())
        page = context.new_page()
        page.set_default_timeout(120_000)
        page.goto(page_path.as_uri(), wait_until="load")
        page.add_script_tag(content=source.read_text(encoding="utf-8"))
        result = page.evaluate("""async () => {
            const r = await axe.run(document, {resultTypes: ['violations']});
            return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ') + ' :: ' + (n.failureSummary || '').slice(0, 200)),
                count: v.nodes.length}));
        }""")
    finally:
        context.close()
    return [v for v in result if v.get("impact") in BLOCKING_IMPACTS]
