"""Harness-captured screens for manual proofs (issue 14 item 6; contract 1.1, optional GET /ui/snapshot).

Right after the harness drove a step, it asks the candidate for the screen the user sees
(``GET /ui/snapshot?step=…&resident=…|document=…``) and stores it in the report bundle under the manual proofs
``ui_snapshots.yaml`` maps the step to, marked "capture du harnais — à examiner": evidence the auditor
reviews, never a verdict. A PNG or PDF answer is kept as it is. An HTML page is kept as text
(``.html.txt``: a candidate's page is never opened as a live page from the report) and rendered to a PNG
by headless Chromium (Playwright) in a child process, JavaScript off and every network request refused,
bounded in time; without Chromium the page alone is kept and the capture says why there is no image.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from conformance.sandbox.client import SandboxError, SandboxUnsupported, bounded_request

STEPS_FILE = Path(__file__).resolve().parent / "ui_snapshots.yaml"
MAX_SNAPSHOT_BYTES = 10 * 1024 * 1024
RENDER_DEADLINE_S = 60.0
VIEWPORT = {"width": 1024, "height": 600}
MAX_HEIGHT_PX = 4000  # a tall page is cut there: the screen, not a poster
MEDIA = {"text/html": ".html.txt", "image/png": ".png", "application/pdf": ".pdf"}
_BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
_NO_ENGINE = 3
MARK = "capture du harnais — à examiner / harness capture — to be reviewed"


@dataclass(frozen=True)
class Snapshot:
    data: bytes
    media_type: str  # one of MEDIA

    @property
    def suffix(self) -> str:
        return MEDIA[self.media_type]


@lru_cache(maxsize=1)
def steps() -> dict[str, dict[str, Any]]:
    """step -> {title, title_en, proofs}: the manual proofs each step's screen documents."""
    data = yaml.safe_load(STEPS_FILE.read_text(encoding="utf-8")) or {}
    return {str(k): v for k, v in (data.get("steps") or {}).items()}


def fetch(client: Any, step: str, **query: str) -> Snapshot:
    """GET /ui/snapshot on the candidate (its run deadlines); SandboxUnsupported on 501, SandboxError else."""
    path = "/ui/snapshot"
    params = {"step": step, **query}
    what = f"GET {path}?step={step}"
    resp = bounded_request(client.http, "GET", f"{client.base_url}{path}", client.deadlines, what=what,
                           params=params)
    if resp.status_code == 501:
        raise SandboxUnsupported(f"écran non pris en charge par le candidat : {what}",
                                 f"screen not supported by the candidate: {what}", 501)
    if resp.status_code != 200:
        raise SandboxError(f"réponse inattendue {resp.status_code} à {what}",
                           f"unexpected {resp.status_code} answer to {what}", resp.status_code)
    media = (resp.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if media not in MEDIA:
        raise SandboxError(f"{what} : Content-Type {media[:60] or 'absent'}, attendu text/html, image/png ou "
                           "application/pdf",
                           f"{what}: Content-Type {media[:60] or 'absent'}, expected text/html, image/png or "
                           "application/pdf", resp.status_code)
    if not resp.content or len(resp.content) > MAX_SNAPSHOT_BYTES:
        raise SandboxError(f"{what} : écran vide ou de plus de 10 Mo ({len(resp.content)} octets)",
                           f"{what}: empty screen or over 10 MB ({len(resp.content)} bytes)", resp.status_code)
    return Snapshot(resp.content, media)


def find_chromium() -> str | None:
    """``SEGUR_CHROMIUM``, else a Chromium on PATH, else None (Playwright's own browser is then tried)."""
    asked = os.environ.get("SEGUR_CHROMIUM", "").strip()
    if asked:
        return asked
    return next((found for name in _BROWSERS if (found := shutil.which(name))), None)


def render_png(html: bytes, timeout_s: float = RENDER_DEADLINE_S) -> tuple[bytes | None, str, str]:
    """(PNG, "", "") or (None, why in French, why in English); never raises."""
    with tempfile.TemporaryDirectory(prefix="segur-snapshot-") as tmp:
        page, png = Path(tmp) / "page.html", Path(tmp) / "page.png"
        page.write_bytes(html)
        try:
            proc = subprocess.run([sys.executable, "-m", "conformance.sandbox.ui_capture", str(page), str(png)],
                                  capture_output=True, text=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:
            return None, f"rendu non terminé en {timeout_s:g} s", f"rendering not finished within {timeout_s:g} s"
        except OSError as exc:
            return None, f"rendu impossible ({exc.strerror})", f"cannot render ({exc.strerror})"
        last = ((proc.stderr or "").strip().splitlines() or [f"code {proc.returncode}"])[-1][:300]
        if proc.returncode == _NO_ENGINE:
            return None, f"Chromium headless indisponible : {last}", f"headless Chromium unavailable: {last}"
        if proc.returncode != 0 or not png.is_file():
            return None, f"rendu échoué : {last}", f"rendering failed: {last}"
        data = png.read_bytes()
        if not data.startswith(b"\x89PNG\r\n\x1a\n"):
            return None, "rendu illisible (pas un PNG)", "unreadable rendering (not a PNG)"
        return data, "", ""


def _render(page: Path, out: Path) -> int:
    """Child process: the page in headless Chromium, JavaScript off, no network; exit 3 without an engine."""
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("Playwright (Python) n'est pas installé / Playwright is not installed", file=sys.stderr)
        return _NO_ENGINE
    with sync_playwright() as pw:
        try:
            browser = pw.chromium.launch(
                executable_path=find_chromium(), headless=True, timeout=30_000,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                      "--disable-component-update", "--no-first-run", "--disable-sync"])
        except PlaywrightError as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            print(f"no Chromium: {first}", file=sys.stderr)
            return _NO_ENGINE
        try:
            context = browser.new_context(java_script_enabled=False, viewport=VIEWPORT, offline=True)
            context.route("**/*", lambda route: route.abort())  # the page comes from set_content: nothing to fetch
            tab = context.new_page()
            tab.set_content(page.read_text(encoding="utf-8", errors="replace"), wait_until="load", timeout=30_000)
            tab.screenshot(path=str(out), full_page=True, timeout=30_000,
                           clip={"x": 0, "y": 0, "width": VIEWPORT["width"], "height": MAX_HEIGHT_PX})
        finally:
            browser.close()
    return 0


if __name__ == "__main__":  # pragma: no cover - exercised through render_png
    if len(sys.argv) != 3:
        print("usage: python -m conformance.sandbox.ui_capture PAGE.html OUT.png", file=sys.stderr)
        sys.exit(2)
    sys.exit(_render(Path(sys.argv[1]), Path(sys.argv[2])))
