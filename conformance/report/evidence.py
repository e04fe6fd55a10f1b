"""Evidence links for the report: safe relative paths and an on-disk check of each file's digest.

Evidence paths come from the results file, which may have travelled; a link must stay inside the
report folder (relative, no ``..``, no scheme) so the report opens from disk and never points elsewhere.
The report says, next to each link, whether the file is there and still has the recorded SHA-256.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

from conformance.report.common import as_int, as_list, text

VIEW_SUFFIX = ".view.html"  # conformance/report/viewer.py writes <file>.view.html beside each file
_SAFE_SEGMENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+=@,-]*$")
MAX_HASH_BYTES = 200 * 1024 * 1024  # larger files are listed but not re-hashed at render time
_CHUNK = 1024 * 1024


def safe_relpath(path: Any) -> str | None:
    """The path if it is a plain relative path inside the bundle (forward slashes), else ``None``."""
    if not isinstance(path, str) or not path or len(path) > 1000:
        return None
    if "\\" in path or path.startswith("/") or ":" in path.split("/", 1)[0]:
        return None
    parts = PurePosixPath(path).parts
    if not parts or any(p in ("", ".", "..") or not _SAFE_SEGMENT.match(p) for p in parts):
        return None
    return "/".join(parts)


def href(path: str) -> str:
    """A relative URL for a safe path (percent-encoded, so it opens from disk)."""
    return quote(path, safe="/")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class EvidenceView:
    """One evidence entry as the report shows it."""

    path: str
    href: str | None  # None when the path is refused
    sha256: str
    size: int
    kind: str
    description: str
    test: str
    status: str  # ok | missing | mismatch | unsafe | unchecked
    view_href: str | None = None  # the read-only HTML view next to the file, when one was written

    @property
    def short_sha(self) -> str:
        return self.sha256[:16]

    def line_href(self, line: int | None) -> str | None:
        """Where a finding on ``line`` of this file opens: the view at ``#L<line>``, else the raw file."""
        if self.view_href:
            return f"{self.view_href}#L{line}" if line else self.view_href
        return self.href


def check_entry(entry: dict[str, Any], report_dir: Path | None) -> EvidenceView:
    raw_path = entry.get("path")
    rel = safe_relpath(raw_path)
    sha = text(entry.get("sha256"), 64).lower()
    size, kind = as_int(entry.get("size")), text(entry.get("kind"), 200)
    description, test = text(entry.get("description"), 1000), text(entry.get("test"), 500)
    if rel is None:
        return EvidenceView(path=text(raw_path, 300), href=None, sha256=sha, size=size, kind=kind,
                            description=description, test=test, status="unsafe")
    status = "unchecked"
    view = None
    if report_dir is not None:
        target = report_dir.joinpath(*rel.split("/"))
        if not target.is_file() or target.is_symlink():
            status = "missing"
        elif target.stat().st_size <= MAX_HASH_BYTES:
            status = "ok" if sha256_file(target) == sha else "mismatch"
        viewed = report_dir.joinpath(*(rel + VIEW_SUFFIX).split("/"))
        if viewed.is_file() and not viewed.is_symlink():
            view = href(rel + VIEW_SUFFIX)
    return EvidenceView(path=rel, href=href(rel), sha256=sha, size=size, kind=kind, description=description,
                        test=test, status=status, view_href=view)


class EvidenceIndex:
    """All evidence of a run, checked once, looked up by path or by test node id."""

    def __init__(self, entries: list[Any], report_dir: Path | None) -> None:
        self.items: list[EvidenceView] = []
        self.by_path: dict[str, EvidenceView] = {}
        self.by_test: dict[str, list[EvidenceView]] = {}
        for entry in as_list(entries):
            if not isinstance(entry, dict):
                continue
            view = check_entry(entry, report_dir)
            if view.path in self.by_path:
                continue
            self.items.append(view)
            self.by_path[view.path] = view
            self.by_test.setdefault(view.test, []).append(view)

    def for_finding(self, finding: dict[str, Any], report_dir: Path | None) -> EvidenceView | None:
        """The evidence a finding points at (registered or not), or ``None`` when it names none."""
        path = finding.get("evidence")
        if isinstance(path, dict):  # {path, sha256, line} form
            finding = {"evidence_sha256": path.get("sha256", "")} | finding
            path = path.get("path")
        if not path:
            return None
        rel = safe_relpath(path)
        if rel is not None and rel in self.by_path:
            return self.by_path[rel]
        return check_entry({"path": path, "sha256": finding.get("evidence_sha256", "")}, report_dir)
