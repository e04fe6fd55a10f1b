"""The plugin's options: command line, environment and ini, resolved once into ``SegurConfig``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conformance.sandbox.client import Deadlines

OPTIONS: dict[str, tuple[str, str, str | None]] = {
    # dest: (command-line flag, environment variable, default)
    "segur_profile": ("--segur-profile", "SEGUR_PROFILE", None),  # None: the corridor folder's default
    "sandbox_url": ("--sandbox-url", "SEGUR_SANDBOX_URL", None),
    "artefacts": ("--artefacts", "SEGUR_ARTEFACTS", None),
    "cisis_kit": ("--cisis-kit", "SEGUR_CISIS_KIT", None),
    "segur_report": ("--segur-report", "SEGUR_REPORT", None),
    "segur_lang": ("--segur-lang", "SEGUR_LANG", "fr"),
    "dmp_trust": ("--dmp-trust", "SEGUR_DMP_TRUST", None),
    # deadlines of every call to the candidate (conformance.sandbox.client.Deadlines has the defaults)
    "segur_connect_timeout": ("--segur-connect-timeout", "SEGUR_CONNECT_TIMEOUT", None),
    "segur_first_byte_timeout": ("--segur-first-byte-timeout", "SEGUR_FIRST_BYTE_TIMEOUT", None),
    "segur_answer_timeout": ("--segur-answer-timeout", "SEGUR_ANSWER_TIMEOUT", None),
    "segur_jobs": ("--segur-jobs", "SEGUR_JOBS", None),  # artefact mode: worker processes per document
}
REFERENCE = "reference"  # --sandbox-url reference: start the embedded reference sandbox

def ConfigurationError(message: str) -> pytest.UsageError:  # noqa: N802 - reads as an exception
    """A bad option or catalogue: pytest prints a UsageError as one clear line, no traceback."""
    return pytest.UsageError(message)


# ---------------------------------------------------------------------------------------------
# options
# ---------------------------------------------------------------------------------------------
def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("segur-conformance", "Ségur DUI conformance")
    helps = {
        "segur_profile": "corridor profile: an id of profiles/corridors/ (default: the one marked default)",
        "sandbox_url": "base URL of the candidate's sandbox (contract v1), or 'reference' for the embedded one",
        "artefacts": "artefact folder (cda/, mss/, dmp/) instead of a sandbox",
        "cisis_kit": "path to the ANS CI-SIS kit (enables XSD and official schematrons)",
        "segur_report": "directory where results.json, report.html and evidence/ are written",
        "segur_lang": "report language: fr (default) or en",
        "dmp_trust": "PEM file or folder: the candidate's test trust anchors for VIHF and XAdES signatures (DMP)",
        "segur_connect_timeout": "seconds to connect to the candidate's sandbox, per call (default 10)",
        "segur_first_byte_timeout": "seconds the candidate may stay silent before its first byte, per call "
                                    "(default 60)",
        "segur_answer_timeout": "seconds for the candidate's whole answer, per call (default 120)",
        "segur_jobs": "artefact mode: worker processes for the per-document checks (default 1)",
    }
    for dest, (flag, env, _default) in OPTIONS.items():
        group.addoption(flag, dest=dest, default=None, help=f"{helps[dest]} [env {env}, ini {dest}]")
        parser.addini(dest, helps[dest], default=None)
    group.addoption("--segur-defect", dest="segur_defects", action="append", default=[],
                    help="defect switch for the embedded reference sandbox (repeatable)")
    parser.addini("segur_defects", "defect switches for the embedded reference sandbox", type="args", default=[])


def _option(config: pytest.Config, dest: str) -> str | None:
    flag, env, default = OPTIONS[dest]
    value = config.getoption(dest)
    if value in (None, ""):
        value = os.environ.get(env) or None
    if value in (None, ""):
        value = config.getini(dest) or None
    return value if value not in (None, "") else default


@dataclass
class SegurConfig:
    profile_name: str
    sandbox_url: str | None
    artefacts_dir: Path | None
    cisis_kit: Path | None
    report_dir: Path | None
    lang: str
    defects: tuple[str, ...]
    dmp_trust: Path | None = None
    deadlines: Deadlines | None = None  # of every call to the candidate

    @property
    def mode(self) -> str:
        return "artefacts" if self.artefacts_dir else "sandbox"


def resolve_config(config: pytest.Config) -> SegurConfig:
    lang = (_option(config, "segur_lang") or "fr").lower()
    if lang not in ("fr", "en"):
        raise ConfigurationError(f"--segur-lang must be fr or en, not {lang!r}")
    sandbox = _option(config, "sandbox_url")
    artefacts = _option(config, "artefacts")
    if sandbox and artefacts:
        raise ConfigurationError("give either --sandbox-url or --artefacts, not both")
    artefacts_dir = Path(artefacts).expanduser() if artefacts else None
    if artefacts_dir is not None and not artefacts_dir.is_dir():
        raise ConfigurationError(f"--artefacts: {artefacts_dir} is not a directory")
    if sandbox and sandbox != REFERENCE and not sandbox.startswith(("http://", "https://")):
        raise ConfigurationError(f"--sandbox-url must be an http(s) URL or 'reference', not {sandbox!r}")
    kit = _option(config, "cisis_kit")
    kit_path = Path(kit).expanduser() if kit else None
    if kit_path is not None and not (kit_path / "infrastructure" / "cda" / "CDA_extended.xsd").is_file():
        raise ConfigurationError(
            f"--cisis-kit: {kit_path} is not a CI-SIS kit (infrastructure/cda/CDA_extended.xsd not found)")
    report = _option(config, "segur_report")
    defects = tuple(config.getoption("segur_defects") or ()) + tuple(config.getini("segur_defects") or ())
    trust = _option(config, "dmp_trust")
    trust_path = Path(trust).expanduser() if trust else None
    if trust_path is not None and not trust_path.exists():
        raise ConfigurationError(f"--dmp-trust: {trust_path} does not exist")
    from conformance.sandbox.client import Deadlines

    try:
        deadlines = Deadlines.from_values(_option(config, "segur_connect_timeout"),
                                          _option(config, "segur_first_byte_timeout"),
                                          _option(config, "segur_answer_timeout"))
    except ValueError as exc:
        raise ConfigurationError(f"candidate deadlines: {exc}") from None
    from conformance.profiles import default_profile

    return SegurConfig(
        profile_name=_option(config, "segur_profile") or default_profile(),
        sandbox_url=sandbox,
        artefacts_dir=artefacts_dir,
        cisis_kit=kit_path,
        report_dir=Path(report).expanduser() if report else None,
        lang=lang,
        defects=defects,
        dmp_trust=trust_path,
        deadlines=deadlines,
    )
