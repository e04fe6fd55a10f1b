"""Write the whole report bundle of a run: HTML, JUnit, Convergence CSV/XLSX, then the signed manifest.

Order matters: the signing key is read first (its public half is printed in the report), every file is
written, and the manifest is computed last so it covers exactly what is on disk. ``results.json`` belongs
to the runner (conformance/results.py): it is never rewritten here, only written when absent (export of
a results file into a new folder).
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance import __version__
from conformance.evidence import atomic_write
from conformance.report.convergence import write_csv, write_xlsx
from conformance.report.html import write_html
from conformance.report.junit import write_junit
from conformance.report.manifest import SigningError, load_or_create_key, public_key_info, sign_bundle
from conformance.report.review import apply_review
from conformance.report.viewer import write_views

FILES = {
    "html": "report.html",
    "junit": "junit-requirements.xml",
    "csv": "convergence.csv",
    "xlsx": "convergence.xlsx",
}
RESULTS = "results.json"
SIGNER_ENV = "SEGUR_SIGNER"  # the signing key's owner, e.g. "Éditeur X — service qualité"


@dataclass(frozen=True)
class ReportPaths:
    report_dir: Path
    html: Path
    results: Path
    junit: Path
    csv: Path
    xlsx: Path
    manifest: Path | None
    signature: Path | None
    fingerprint: str
    pdf: Path | None = None
    pdf_problem: str = ""  # why report.pdf was asked for and not written


def write_formats(results: dict[str, Any], report_dir: Path, lang: str, formats: tuple[str, ...],
                  public_key: dict[str, str] | None) -> list[Path]:
    """Write the requested formats (keys of ``FILES``) into ``report_dir``."""
    written: list[Path] = []
    for fmt in formats:
        path = report_dir / FILES[fmt]
        if fmt == "html":
            write_html(results, path, lang, public_key=public_key)
        elif fmt == "junit":
            write_junit(results, path, lang)
        elif fmt == "csv":
            write_csv(results, path, lang)
        elif fmt == "xlsx":
            write_xlsx(results, path, lang)
        written.append(path)
    return written


def ensure_results(results: dict[str, Any], report_dir: Path) -> Path:
    path = report_dir / RESULTS
    if not path.exists():
        atomic_write(path, json.dumps(results, ensure_ascii=False, indent=1).encode("utf-8"))
    return path


def _write_pdf(report_dir: Path, lang: str, pdf: bool | None) -> tuple[Path | None, str]:
    """report.pdf when asked (``pdf=True``, ``SEGUR_PDF``) or already in the bundle (re-rendered so it
    never shows an older state). A PDF that cannot be made is said, never fatal; a stale one is removed."""
    from conformance.report.pdf import PDF_NAME, pdf_wanted, render_pdf

    target = report_dir / PDF_NAME
    if pdf is None:
        pdf = pdf_wanted() or target.is_file()
    if not pdf:
        return None, ""
    outcome = render_pdf(report_dir / FILES["html"], target)
    if outcome.path is not None:
        return outcome.path, ""
    target.unlink(missing_ok=True)
    problem = outcome.problem_en if lang == "en" else outcome.problem
    sys.stderr.write(("segur-conformance: no report.pdf: " if lang == "en" else
                      "segur-conformance: pas de report.pdf : ") + problem + "\n")
    return None, problem


def render_bundle(results: dict[str, Any], report_dir: Path, lang: str, public: dict[str, str] | None,
                  pdf: bool | None = None) -> tuple[Path | None, str]:
    """Evidence views, every format with the auditor's signed decisions applied (review.json), report.pdf."""
    write_views(results, report_dir, lang)  # evidence/…/<file>.view.html, linked from the findings
    write_formats(apply_review(results, report_dir), report_dir, lang, tuple(FILES), public)
    return _write_pdf(report_dir, lang, pdf)


def write_all(results: dict[str, Any], report_dir: Path, lang: str = "fr",
              signing_key: Path | None = None, pdf: bool | None = None) -> ReportPaths:
    """Every format (and report.pdf when asked, see ``pdf.py``), then ``manifest.json`` + ``manifest.sig``.

    A broken signing key does not cost the report: the files are written unsigned, then
    ``SigningError`` is raised so the caller can say why the bundle has no signature.
    """
    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    key_error: SigningError | None = None
    try:
        key = load_or_create_key(signing_key)
    except SigningError as exc:
        key, key_error = None, exc
    public = public_key_info(key) if key is not None else None
    owner = os.environ.get(SIGNER_ENV, "").strip()[:200]
    if public is not None and owner:
        public = public | {"owner": owner}  # who holds the key: printed in the report, recorded in the manifest
    results_path = ensure_results(results, report_dir)
    pdf_path, pdf_problem = render_bundle(results, report_dir, lang, public, pdf)
    manifest = signature = None
    if key is not None:
        signed = sign_bundle(report_dir, key, __version__, signer=owner)
        manifest, signature = signed.manifest, signed.signature
    paths = ReportPaths(report_dir=report_dir, html=report_dir / FILES["html"], results=results_path,
                        junit=report_dir / FILES["junit"], csv=report_dir / FILES["csv"],
                        xlsx=report_dir / FILES["xlsx"], manifest=manifest, signature=signature,
                        fingerprint=public["fingerprint"] if public else "", pdf=pdf_path,
                        pdf_problem=pdf_problem)
    if key_error is not None:
        raise key_error
    return paths
