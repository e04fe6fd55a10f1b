"""``segur-conformance validate``: offline checks of any artefact, routed by kind.

CDA documents go through every CDA layer; ``.eml`` files are MSSanté messages (MIME, XDM, X-MSS-*
headers, and the CDA inside); ``.http`` files are captured ITI-41 submissions (MTOM, VIHF, XDS
metadata, signature document). The same checks as the suites in artefact mode, without a run.
What a bare file cannot say (send options, the registry's state) is simply not checked here.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from conformance.cda.validate import ValidationResult, validate_files


def _message(path: Path, data: bytes) -> ValidationResult:
    from conformance.mss.checks import check_message

    return ValidationResult(str(path), "MSSanté (.eml)", check_message(data, str(path)), ["mss"])


def _submission(path: Path, data: bytes, *, trust: list | None = None, kit: Path | None = None) -> ValidationResult:
    from conformance.dmp.checks import CheckContext, check_submission
    from conformance.dmp.iti41 import load_artefact

    request = load_artefact(str(path), data)
    findings = check_submission(request, CheckContext(trust=trust, kit=kit, at_capture_time=True))
    return ValidationResult(str(path), "DMP ITI-41 (.http)", findings, ["dmp"])


ROUTES = {".eml": _message, ".http": _submission}


def route(path: Path, data: bytes) -> ValidationResult | None:
    handler = ROUTES.get(path.suffix.lower())
    return handler(path, data) if handler else None


def validate_artefacts(paths: Iterable[Path], kit_path: Path | None, lang: str, out: TextIO = sys.stdout,
                       dmp_trust: Path | None = None) -> int:
    """``dmp_trust``: the test trust anchors (PEM file or folder) the VIHF and XAdES certificates must chain
    to; without them the chain is reported as not evaluated (a warning naming what to configure)."""
    trust = None
    if dmp_trust is not None:
        from conformance.dmp.trust import TrustConfigError, load_anchors

        try:
            trust = load_anchors(dmp_trust)
        except TrustConfigError as exc:
            out.write(f"--dmp-trust: {exc}\n")
            return 2

    def other(path: Path, data: bytes) -> ValidationResult | None:
        if path.suffix.lower() == ".http":
            return _submission(path, data, trust=trust, kit=kit_path)
        return route(path, data)

    return validate_files(paths, kit_path, lang, out, other=other)
