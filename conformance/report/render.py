"""Entry point the pytest plugin calls at the end of a run (results.json is already on disk).

The signing key is the default one (``~/.config/segur-conformance/signing-key.pem``) unless the
environment variable ``SEGUR_SIGNING_KEY`` names another file, so CI can sign with a managed key.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from conformance.report.bundle import ReportPaths, write_all

SIGNING_KEY_ENV = "SEGUR_SIGNING_KEY"


def signing_key_from_env() -> Path | None:
    value = os.environ.get(SIGNING_KEY_ENV, "").strip()
    return Path(value).expanduser() if value else None


def write_reports(results: dict[str, Any], report_dir: Path, lang: str = "fr") -> ReportPaths:
    """report.html, junit-requirements.xml, convergence.csv/.xlsx, then manifest.json + manifest.sig."""
    return write_all(results, Path(report_dir), lang, signing_key_from_env())
