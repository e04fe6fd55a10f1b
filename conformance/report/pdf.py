"""``report.pdf``: the paper dossier printed by a real engine, headless Chromium through Playwright.

Why Chromium and not WeasyPrint: the report's print stylesheet (A4 ``@page`` rule with margin boxes
for the run id, the results digest and "page x / y", folded rows, glyph badges) was measured and tuned
in Chromium, the engine the browser tests already drive; the auditor who prints ``report.html`` from
Chrome or Edge gets the same pages as ``report.pdf``. WeasyPrint would be a second layout engine with
its own page breaks (and native Pango/Cairo libraries to install) for the same result.

Rendering is optional and best effort. It is OFF unless asked (``segur-conformance run --pdf``, or
``SEGUR_PDF=1``), so the many campaigns of the self-proof gate do not pay for a browser. Without
Playwright or a Chromium, the bundle is written and signed without ``report.pdf`` and the reason is
said. The browser runs in a child process (``python -m conformance.report.pdf HTML PDF``) under a
deadline, never touches the network (every non-``file://`` request is aborted) and the PDF is checked
(parsed with pypdf, page count) before it enters the bundle.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

PDF_ENV = "SEGUR_PDF"
CHROMIUM_ENV = "SEGUR_CHROMIUM"
PDF_NAME = "report.pdf"
DEADLINE_S = 300.0
_BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
_CHILD_NO_ENGINE = 3


@dataclass(frozen=True)
class PdfOutcome:
    path: Path | None  # the PDF written, or None
    pages: int = 0
    problem: str = ""  # why no PDF (French), empty when written
    problem_en: str = ""


def pdf_wanted() -> bool:
    """``SEGUR_PDF`` set to 1/true/yes/on (``segur-conformance run --pdf`` sets it)."""
    return os.environ.get(PDF_ENV, "").strip().lower() in ("1", "true", "yes", "on", "oui")


def find_chromium() -> str | None:
    """``SEGUR_CHROMIUM``, else a Chromium on PATH, else None (Playwright's own browser is then tried)."""
    asked = os.environ.get(CHROMIUM_ENV, "").strip()
    if asked:
        return asked
    for name in _BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    return None


def render_pdf(html: Path, out: Path, timeout_s: float = DEADLINE_S) -> PdfOutcome:
    """Print ``html`` to ``out`` (A4, the page's own ``@page`` rule) in a child process; never raises."""
    html, out = Path(html), Path(out)
    tmp = out.with_name(out.name + ".part")
    cmd = [sys.executable, "-m", "conformance.report.pdf", str(html), str(tmp)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        tmp.unlink(missing_ok=True)
        return PdfOutcome(None, problem=f"le navigateur n'a pas fini l'impression en {timeout_s:g} s",
                          problem_en=f"the browser did not finish printing within {timeout_s:g} s")
    except OSError as exc:
        return PdfOutcome(None, problem=f"processus d'impression impossible ({exc.strerror})",
                          problem_en=f"cannot start the printing process ({exc.strerror})")
    detail = (proc.stderr or proc.stdout or "").strip().splitlines()
    last = detail[-1][:300] if detail else f"code {proc.returncode}"
    if proc.returncode != 0 or not tmp.is_file():
        tmp.unlink(missing_ok=True)
        if proc.returncode == _CHILD_NO_ENGINE:
            return PdfOutcome(None, problem=f"aucun moteur d'impression : {last}", problem_en=f"no print engine: {last}")
        return PdfOutcome(None, problem=f"impression échouée : {last}", problem_en=f"printing failed: {last}")
    try:
        from pypdf import PdfReader

        pages = len(PdfReader(str(tmp)).pages)
    except Exception as exc:  # a PDF we cannot read back does not enter the signed bundle
        tmp.unlink(missing_ok=True)
        return PdfOutcome(None, problem=f"PDF illisible ({type(exc).__name__})",
                          problem_en=f"unreadable PDF ({type(exc).__name__})")
    if pages < 1:
        tmp.unlink(missing_ok=True)
        return PdfOutcome(None, problem="PDF vide", problem_en="empty PDF")
    os.replace(tmp, out)
    return PdfOutcome(out, pages=pages)


def _print(html: Path, out: Path) -> int:
    """Child process: print with Playwright's Chromium; exit 3 when there is no engine."""
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("Playwright (Python) n'est pas installé : pip install 'segur-conformance[pdf]' / "
              "Playwright is not installed", file=sys.stderr)
        return _CHILD_NO_ENGINE
    executable = find_chromium()
    with sync_playwright() as pw:
        try:
            browser = pw.chromium.launch(
                executable_path=executable, headless=True, timeout=60_000,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                      "--disable-component-update", "--no-first-run", "--disable-sync"])
        except PlaywrightError as exc:
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            print(f"Chromium introuvable ou ne démarre pas (apt-get install chromium, ou SEGUR_CHROMIUM) / "
                  f"no Chromium: {first}", file=sys.stderr)
            return _CHILD_NO_ENGINE
        try:
            context = browser.new_context()
            context.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file://")
                          else route.abort())
            page = context.new_page()
            page.goto(html.resolve().as_uri(), wait_until="load", timeout=120_000)
            page.emulate_media(media="print")
            page.pdf(path=str(out), prefer_css_page_size=True, print_background=True)
        finally:
            browser.close()
    return 0


if __name__ == "__main__":  # pragma: no cover - exercised through render_pdf
    if len(sys.argv) != 3:
        print("usage: python -m conformance.report.pdf REPORT.html OUT.pdf", file=sys.stderr)
        sys.exit(2)
    sys.exit(_print(Path(sys.argv[1]), Path(sys.argv[2])))
