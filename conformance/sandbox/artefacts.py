"""Artefact mode: the same checks on a folder of files, for vendors who cannot expose triggers.

Layout (docs/architecture.md): capabilities.json, cda/*.xml, mss/*.eml, dmp/*.http|*.xml, psc/*.json.
Files are read with a size bound; an unreadable or oversized file becomes an artefact carrying its
problem instead of stopping the run.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_ARTEFACT_BYTES = 50 * 1024 * 1024
MAX_CAPABILITIES_BYTES = 1024 * 1024
KINDS: dict[str, tuple[str, ...]] = {
    "cda": (".xml",),
    "mss": (".eml",),
    "dmp": (".http", ".xml", ".txt"),
    "psc": (".json",),
}


@dataclass(frozen=True)
class Artefact:
    """One thing the candidate produced: a CDA, a message, a captured request."""

    name: str
    data: bytes
    kind: str
    meta: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    problem: str = ""  # set when the file could not be read (too large, unreadable)


class ArtefactFolderError(ValueError):
    pass


def read_folder(root: Path, kind: str) -> list[Artefact]:
    if kind not in KINDS:
        raise ValueError(f"unknown artefact kind {kind!r}")
    folder = root / kind
    if not folder.is_dir():
        return []
    out: list[Artefact] = []
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.suffix.lower() not in KINDS[kind] or path.name.startswith("."):
            continue
        rel = f"{kind}/{display_name(path.name)}"
        try:
            size = path.stat().st_size
            if size > MAX_ARTEFACT_BYTES:
                out.append(Artefact(rel, b"", kind, problem=f"fichier trop volumineux ({size} octets)"))
                continue
            out.append(Artefact(rel, path.read_bytes(), kind, {"path": str(path)}))
        except OSError as exc:
            out.append(Artefact(rel, b"", kind, problem=f"fichier illisible : {exc.strerror}"))
    return out


def display_name(name: str) -> str:
    """The file name as it can be shown and written to JSON: a non-UTF-8 name (surrogate escapes
    from the file system) or control characters (newline, tab, bidi overrides) would break the
    results file or disguise the name in the report, so they are escaped (\\xNN, \\n, \\u202e)."""
    raw = os.fsencode(name).decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in raw)


def read_capabilities(root: Path) -> dict[str, Any]:
    path = root / "capabilities.json"
    if not path.is_file():
        return {}
    try:
        if path.stat().st_size > MAX_CAPABILITIES_BYTES:
            raise OSError(0, f"trop volumineux (> {MAX_CAPABILITIES_BYTES} octets)")
        data = json.loads(path.read_bytes().decode("utf-8-sig"))
    except (OSError, ValueError, RecursionError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else str(exc)[:200] or exc.__class__.__name__
        raise ArtefactFolderError(f"{path}: capabilities.json illisible ({reason})") from None
    if not isinstance(data, dict):
        raise ArtefactFolderError(f"{path}: capabilities.json doit contenir un objet JSON")
    for key, kind, label in (("corridors", list, "une liste"), ("document_types", list, "une liste"),
                             ("features", dict, "un objet")):
        if key in data and not isinstance(data[key], kind):
            raise ArtefactFolderError(f"{path}: capabilities.json : « {key} » doit être {label}")
    return data
