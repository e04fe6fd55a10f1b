"""The evidence bundle: artefacts collected during a run, each kept with its SHA-256.

Files go under ``<report-dir>/evidence/`` so relative links in the report open from disk and the
signed manifest can cover them. Names are sanitised: evidence names come partly from the candidate.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class EvidenceRef:
    path: str  # relative to the report dir, always with forward slashes
    sha256: str
    size: int
    kind: str
    description: str = ""
    test: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def safe_name(name: str, limit: int = 120) -> str:
    cleaned = _SAFE.sub("_", name).strip("._") or "artefact"
    return cleaned[:limit]


class EvidenceStore:
    """Writes evidence files atomically; a store without a directory only hashes (no report asked)."""

    def __init__(self, report_dir: Path | None) -> None:
        self.report_dir = report_dir
        self.root = report_dir / "evidence" if report_dir else None

    def add(self, name: str, data: bytes | str, *, kind: str = "Log", description: str = "",
            test: str = "", folder: str = "") -> EvidenceRef:
        raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        digest = hashlib.sha256(raw).hexdigest()
        sub = safe_name(folder, 80) if folder else ""
        rel_parts = ["evidence"] + ([sub] if sub else []) + [safe_name(name)]
        rel = "/".join(rel_parts)
        if self.root is not None and self.report_dir is not None:
            target = self.report_dir.joinpath(*rel_parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists() and hashlib.sha256(target.read_bytes()).hexdigest() != digest:
                stem, dot, ext = target.name.partition(".")
                target = target.with_name(f"{stem}-{digest[:8]}{dot}{ext}")
                rel = "/".join(rel_parts[:-1] + [target.name])
            atomic_write(target, raw)
        return EvidenceRef(path=rel, sha256=digest, size=len(raw), kind=kind, description=description, test=test)


def atomic_write(path: Path, data: bytes) -> None:
    """Write via a temporary file and rename, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
