"""Small helpers shared by the report writers: defensive reads of a results dict and ANS ordering.

A results file may come from another machine (diff, merge, export), so every writer reads it through
these helpers: a missing or oddly typed field becomes a default, never a traceback, and every string is
bounded so one hostile finding cannot blow up the report.
"""

from __future__ import annotations

import re
from typing import Any

VERDICTS = ("passed", "reserved", "failed", "error", "not_run", "manual")
SEVERITIES = ("error", "warning", "info")
# rem.md §1.3: the ANS exports sort sections in this order, then the rest.
SECTION_ORDER = ("INS", "DMP", "MSS", "PSC", "ANN", "TBB", "HOP", "DOC", "PORT", "EPR")
MAX_TEXT = 4000
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


def text(value: Any, limit: int = MAX_TEXT) -> str:
    """A printable, bounded string for any value (``None`` → empty)."""
    if value is None:
        return ""
    out = value if isinstance(value, str) else str(value)
    out = _CONTROL.sub("\ufffd", out)
    if len(out) > limit:
        out = out[:limit] + " […]"
    return out


def as_list(value: Any) -> list[Any]:
    if isinstance(value, list | tuple):
        return list(value)
    if value in (None, ""):
        return []
    return [value]


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def as_float(value: Any, default: float = 0.0) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def verdict_of(value: Any) -> str:
    """A known verdict; anything else is treated as ``error`` (never silently as passed)."""
    return value if value in VERDICTS else "error"


def severity_of(value: Any) -> str:
    return value if value in SEVERITIES else "error"


def section_key(code: str) -> tuple[int, str]:
    """Sort key: ANS order first, then the other sections alphabetically."""
    try:
        return (SECTION_ORDER.index(code), code)
    except ValueError:
        return (len(SECTION_ORDER), code)


def requirements_of(results: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in as_list(results.get("requirements")) if isinstance(r, dict) and r.get("id")]


def proof_verdict(proof: dict[str, Any], requirement_verdict: str) -> str:
    """A manual proof is never ``passed``, whatever the file says; an automated one has its own verdict
    (results format 2), or follows its requirement in a format-1 file."""
    if proof.get("method") == "manual":
        return "manual"
    return verdict_of(proof.get("verdict") or requirement_verdict)


def wave_label(wave: Any) -> str:
    return text(wave, 10)
