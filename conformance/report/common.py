"""Small helpers shared by the report writers: defensive reads of a results dict and ANS ordering.

A results file may come from another machine (diff, merge, export), so every writer reads it through
these helpers: a missing or oddly typed field becomes a default, never a traceback, and every string is
bounded so one hostile finding cannot blow up the report.
"""

from __future__ import annotations

import ast
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


# ---------------------------------------------------------------------------------------------
# structured values in prose: never a Python repr in a text an auditor reads
# ---------------------------------------------------------------------------------------------
_WORDS = {"fr": {True: "vrai", False: "faux", None: "absent"}, "en": {True: "true", False: "false", None: "none"}}
_LITERAL_START = re.compile(r"[{\[(]['\"{\[(]|[{\[]\]?[}\]]")
MAX_LITERAL = 4000


def value_text(value: Any, lang: str = "fr", depth: int = 0) -> str:
    """A structured value as prose: ``logged_in = vrai, subject = 899999000120, error = absent``."""
    words = _WORDS.get(lang, _WORDS["fr"])
    if isinstance(value, bool) or value is None:
        return words[value]
    if depth > 4:
        return "…"
    if isinstance(value, dict):
        if not value:
            return "—"
        inner = ", ".join(f"{value_text(k, lang, depth + 1)} = {value_text(v, lang, depth + 1)}"
                          for k, v in list(value.items())[:50])
        return inner if depth == 0 else f"({inner})"
    if isinstance(value, list | tuple | set | frozenset):
        if not value:
            return "—"
        inner = ", ".join(value_text(v, lang, depth + 1) for v in list(value)[:50])
        return inner if depth == 0 else f"[{inner}]"
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _literal_end(s: str, start: int) -> int:
    """Index after the bracketed literal opening at ``start`` (quotes respected), or -1."""
    pairs = {"{": "}", "[": "]", "(": ")"}
    stack: list[str] = []
    quote = ""
    i = start
    while i < len(s) and i - start < MAX_LITERAL:
        ch = s[i]
        if quote:
            if ch == "\\":
                i += 2
                continue
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch in pairs:
            stack.append(pairs[ch])
        elif ch in "}])":
            if not stack or stack.pop() != ch:
                return -1
            if not stack:
                return i + 1
        i += 1
    return -1


def readable(value: Any, lang: str = "fr", limit: int = MAX_TEXT) -> str:
    """``text()`` for anything an auditor reads: structured values formatted, and Python literals that
    slipped into a message (``session={'logged_in': False, 'error': None}``) rewritten as prose."""
    if isinstance(value, dict | list | tuple | bool) or value is None:
        return text(value_text(value, lang) if value is not None else "", limit)
    out = text(value, max(limit, 1))
    if not _LITERAL_START.search(out):
        return text(out, limit)
    parts: list[str] = []
    i = 0
    for match in _LITERAL_START.finditer(out):
        start = match.start()
        if start < i:
            continue
        end = _literal_end(out, start)
        if end < 0:
            continue
        try:
            literal = ast.literal_eval(out[start:end])
        except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
            continue
        if not isinstance(literal, dict | list | tuple):
            continue
        parts.append(out[i:start])
        formatted = value_text(literal, lang)
        parts.append(f"({formatted})" if isinstance(literal, dict) and out[start - 1:start] == "=" else formatted)
        i = end
    parts.append(out[i:])
    return text("".join(parts), limit)
