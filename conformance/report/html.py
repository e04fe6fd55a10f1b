"""The auditor's HTML report: one self-contained file (inline CSS and JS, no network, no external asset).

Rendering choice (issue 8, 10k findings < 10 MB and < 3 s): the whole hierarchy is rendered on the
server, not built by JavaScript from embedded JSON. The report is the auditor's document: it must read,
print and archive complete without scripts, the browser's own find must reach every finding, and the
signed bytes must be exactly what is shown. Size and speed come from compact markup instead: passed
items are collapsed in ``<details>``, findings are one table row each, sections use
``content-visibility: auto`` so off-screen parts are not laid out. The inline script only filters,
searches and unfolds for printing. A Content-Security-Policy with hashes of the inline style and
script forbids every other script and every network fetch, even if a hostile string slipped through
the (always on) escaping; images may come from the bundle only (``img-src 'self'``: the vendor's
screenshots attached to a manual proof are shown under it).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from conformance import __version__
from conformance.report.common import VERDICTS, as_dict, as_float, as_int, as_list, text
from conformance.report.i18n import STRINGS, bundle, expected_file, kind_label, norm_lang, t
from conformance.report.view import ReportView, SectionView, build_view

TEMPLATES = Path(__file__).with_name("templates")
BAR_WIDTH = 240
COLOURS = {"passed": "#1a7f37", "reserved": "#6a8f1a", "failed": "#c62828", "error": "#b35c00", "not_run": "#8a8f98",
           "manual": "#3056b3"}


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env


def _asset(name: str) -> str:
    return (TEMPLATES / name).read_text(encoding="utf-8")


def _csp_hash(content: str) -> str:
    digest = hashlib.sha256(content.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def bar_segments(counts: dict[str, int]) -> list[dict[str, Any]]:
    """Stacked-bar segments (pure SVG, no script) for one section's verdict counts."""
    total = sum(counts.get(v, 0) for v in VERDICTS)
    segments: list[dict[str, Any]] = []
    x = 0.0
    for verdict in VERDICTS:
        n = counts.get(verdict, 0)
        if not n or not total:
            continue
        width = BAR_WIDTH * n / total
        segments.append({"verdict": verdict, "x": round(x, 2), "width": round(width, 2), "count": n,
                         "colour": COLOURS[verdict]})
        x += width
    return segments


_MONTHS_FR = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
              "novembre", "décembre")
_MONTHS_EN = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
              "November", "December")


def paris_time(iso: Any, lang: str) -> str:
    """An ISO 8601 instant as an auditor reads it: "4 décembre 2026, 20 h 35 (heure de Paris)"."""
    raw = text(iso, 40)
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        return raw or "—"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        from zoneinfo import ZoneInfo

        local = moment.astimezone(ZoneInfo("Europe/Paris"))
        zone = "heure de Paris" if lang == "fr" else "Paris time"
    except Exception:  # no time zone database: say UTC rather than guess
        local, zone = moment.astimezone(UTC), "UTC"
    if lang == "fr":
        return f"{local.day} {_MONTHS_FR[local.month - 1]} {local.year}, {local.hour:02d} h {local.minute:02d} ({zone})"
    return f"{local.day} {_MONTHS_EN[local.month - 1]} {local.year}, {local.hour:02d}:{local.minute:02d} ({zone})"


def grade_counts(view: ReportView) -> dict[str, int]:
    """How many requirement texts of this report have each reliability grade (V, Vd, S, I)."""
    counts = {g: 0 for g in ("V", "Vd", "S", "I")}
    for section in view.sections:
        for req in section.requirements:
            if req.verified in counts:
                counts[req.verified] += 1
    return counts


def _platform(run: dict[str, Any]) -> str:
    python = text(run.get("python"), 40)
    parts = [f"Python {python}" if python else "", text(run.get("platform"), 200)]
    return " · ".join(p for p in parts if p)


def header(view: ReportView, public_key: dict[str, str] | None) -> dict[str, Any]:
    """Header lines, already in the report's language."""
    lang = view.lang
    run = view.run
    kit = as_dict(run.get("cisis_kit"))
    catalogue = as_dict(run.get("catalogue"))
    waves = ", ".join(t("req.wave_n", lang, n=text(w, 4)) for w in as_list(run.get("waves"))) or "—"
    mode = run.get("mode")
    target = text(run.get("sandbox_url") if mode != "artefacts" else run.get("artefacts_dir"), 300)
    defects = [text(d, 100) for d in as_list(run.get("defects"))]
    profile = text(run.get("profile"), 40)
    label = text(run.get("profile_label"), 200)
    return {
        "profile": f"{profile} — {label}" if label else profile or "—",
        "waves": waves,
        "harness": text(run.get("harness_version"), 40) or "—",
        "kit": ({"version": text(kit.get("version"), 100) or "—", "sha256": text(kit.get("sha256"), 64),
                 "path": text(kit.get("path"), 300), "error": text(kit.get("error"), 300)} if kit else None),
        "catalogue": ({"version": text(catalogue.get("version"), 100) or "—",
                       "origin": text(catalogue.get("origin"), 600), "sha256": text(catalogue.get("sha256"), 64),
                       "location": text(catalogue.get("location"), 300), "error": text(catalogue.get("error"), 300),
                       "statements": {k: as_int(as_dict(catalogue.get("statements")).get(k))
                                      for k in ("ans_public", "imported", "paraphrase")}
                       if catalogue.get("statements") else {}}
                      if catalogue else None),
        "started": paris_time(run.get("started_at"), lang),
        "finished": paris_time(run.get("finished_at"), lang) if run.get("finished_at") else "",
        "started_iso": text(run.get("started_at"), 40),
        "run_id": text(run.get("run_id"), 64),
        "grades": grade_counts(view),
        "official": bool(catalogue) and as_int(as_dict(catalogue.get("statements")).get("imported"))
        >= max(as_int(catalogue.get("requirements")), 1),
        "duration": t("hdr.seconds", lang, n=f"{as_float(run.get('duration_s')):.1f}"),
        "mode": t("hdr.mode_artefacts", lang) if mode == "artefacts" else
        t("hdr.mode_reference" if run.get("reference_sandbox") else "hdr.mode_sandbox", lang,
          contract=text(as_dict(run.get("candidate")).get("contract"), 20) or "?"),
        "target": target or "—",
        "platform": _platform(run),
        "reference": bool(run.get("reference_sandbox")),
        "defects": ", ".join(defects) if defects else t("hdr.no_defect", lang),
        "interrupted": bool(run.get("interrupted")),
        "selection": str(run.get("selection") or ""),
        "public_key": public_key,
    }


_CSS_SAFE = re.compile(r"[^A-Za-z0-9._:-]")


def results_digest(results: dict[str, Any], report_dir: Path | None) -> str:
    """SHA-256 of ``results.json`` as signed in the bundle (the file on disk when there is one)."""
    path = report_dir / "results.json" if report_dir is not None else None
    if path is not None and path.is_file():
        return hashlib.sha256(path.read_bytes()).hexdigest()
    return hashlib.sha256(json.dumps(results, ensure_ascii=False, indent=1).encode("utf-8")).hexdigest()


def page_css(run_id: str, digest: str, lang: str) -> str:
    """The paper dossier's page rule: A4, and on every page the run id, the results digest and "page x / y".

    The manifest cannot be quoted (it signs this very file): ``results.json``'s SHA-256 ties each printed
    page to the signed bundle instead. Values are reduced to safe characters before entering CSS.
    """
    run = _CSS_SAFE.sub("", run_id)[:64] or "-"
    dig = _CSS_SAFE.sub("", digest)[:64]
    label = _CSS_SAFE.sub("", t("print.footer_run", lang))
    page = _CSS_SAFE.sub("", t("print.footer_page", lang))
    return ("@page{size:A4;margin:13mm 11mm 16mm 11mm;"
            f'@bottom-left{{content:"{label} {run} \\00b7  results.json SHA-256 {dig}";'
            "font:7pt ui-monospace,monospace;color:#333}"
            f'@bottom-right{{content:"{page} " counter(page) " / " counter(pages);font:8pt sans-serif;color:#000}}}}')


def render_html(results: dict[str, Any], lang: str = "fr", *, report_dir: Path | None = None,
                public_key: dict[str, str] | None = None, generated_at: str | None = None) -> str:
    """The report as one HTML string.

    ``report_dir`` lets evidence links be checked on disk (present, same SHA-256); ``public_key`` is
    ``{"b64": ..., "fingerprint": ...}`` of the key that signs the manifest, printed in the header.
    """
    lang = norm_lang(lang)
    view = build_view(results, lang, report_dir)
    run_id = text(as_dict(results.get("run")).get("run_id"), 64)
    css = _asset("report.css") + page_css(run_id, results_digest(results, report_dir), lang)
    js = _asset("report.js")
    csp = (f"default-src 'none'; style-src {_csp_hash(css)}; script-src {_csp_hash(js)}; "
           "img-src 'self'; base-uri 'none'; form-action 'none'")
    env = _environment()
    template = env.get_template("report.html.j2")

    def tr(key: str, **params: Any) -> str:
        return t(key, lang, **params)

    sections: list[SectionView] = view.sections
    return template.render(
        lang=lang, t=tr, view=view, sections=sections, hdr=header(view, public_key),
        verdicts=VERDICTS, colours=COLOURS, bar_width=BAR_WIDTH, bar_segments=bar_segments,
        css=Markup(css), js=Markup(js), csp=csp, known_keys=frozenset(STRINGS),
        c=" :" if lang == "fr" else ":", kind=lambda k: kind_label(k, lang), expected=lambda k: expected_file(k, lang),
        fr=Markup("") if lang == "fr" else Markup(' lang="fr"'),  # the catalogue's French texts (REM, scenarios)
        ui=bundle("ui.", lang) | {"verdict." + v: t("verdict." + v, lang) for v in VERDICTS},
        generated=t("doc.generated", lang, date=generated_at or datetime.now(UTC).astimezone()
                    .isoformat(timespec="seconds"), version=__version__),
    )


def write_html(results: dict[str, Any], path: Path, lang: str = "fr", *,
               public_key: dict[str, str] | None = None) -> Path:
    from conformance.evidence import atomic_write

    html = render_html(results, lang, report_dir=path.parent, public_key=public_key)
    atomic_write(path, html.encode("utf-8"))
    return path
