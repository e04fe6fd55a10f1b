"""The evidence bundle: artefacts collected during a run, each kept with its SHA-256.

Files go under ``<report-dir>/evidence/`` so relative links in the report open from disk and the
signed manifest can cover them. Names are sanitised: evidence names come partly from the candidate.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class EvidenceRef:
    path: str  # relative to the report dir, always with forward slashes
    sha256: str
    size: int
    kind: str
    description: str = ""
    test: str = ""
    #: the names findings give this artefact when they differ from the stored name (``dmp/0002-iti41.http``)
    aliases: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["aliases"] = list(self.aliases)
        if not self.aliases:
            del data["aliases"]
        return data


def safe_name(name: str, limit: int = 120) -> str:
    cleaned = _SAFE.sub("_", name).strip("._") or "artefact"
    return cleaned[:limit]


class EvidenceStore:
    """Writes evidence files atomically; a store without a directory only hashes (no report asked)."""

    def __init__(self, report_dir: Path | None) -> None:
        self.report_dir = report_dir
        self.root = report_dir / "evidence" if report_dir else None

    def add(self, name: str, data: bytes | str, *, kind: str = "Log", description: str = "",
            test: str = "", folder: str = "", aliases: tuple[str, ...] = ()) -> EvidenceRef:
        raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        digest = hashlib.sha256(raw).hexdigest()
        sub = safe_name(folder, 80) if folder else ""
        rel_parts = ["evidence"] + ([sub] if sub else []) + [with_extension(safe_name(name), raw)]
        rel = "/".join(rel_parts)
        if self.root is not None and self.report_dir is not None:
            target = self.report_dir.joinpath(*rel_parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists() and hashlib.sha256(target.read_bytes()).hexdigest() != digest:
                stem, dot, ext = target.name.partition(".")
                target = target.with_name(f"{stem}-{digest[:8]}{dot}{ext}")
                rel = "/".join(rel_parts[:-1] + [target.name])
            atomic_write(target, raw)
        return EvidenceRef(path=rel, sha256=digest, size=len(raw), kind=kind, description=description, test=test,
                           aliases=tuple(a for a in aliases if a))


#: extensions a browser and the evidence views know how to show
KNOWN_EXTENSIONS = (".xml", ".eml", ".http", ".json", ".txt", ".log", ".pdf", ".png", ".jpg", ".jpeg", ".gif",
                    ".webp", ".mp4", ".webm", ".zip", ".html", ".csv", ".pem", ".der", ".jwt", ".sch", ".svrl")
_HTTP_REQUEST = re.compile(rb"^[A-Z]{3,10} \S+ HTTP/\d(?:\.\d)?\r?$")
_HTTP_RESPONSE = re.compile(rb"^HTTP/\d(?:\.\d)? \d{3}")
_MAIL_HEADER = re.compile(rb"^(?:Received|Return-Path|From|To|Date|Subject|Message-ID|MIME-Version|"
                          rb"Content-Type|Disposition-Notification-To|X-[A-Za-z0-9-]+):", re.IGNORECASE)


def sniff_extension(data: bytes) -> str:
    """The extension that says what a stored artefact is (HTTP capture, XML, JSON, mail), else ``.txt``."""
    head = data[:4096].lstrip(b"\xef\xbb\xbf")
    first = head.split(b"\n", 1)[0].rstrip(b"\r")
    if _HTTP_REQUEST.match(first) or _HTTP_RESPONSE.match(first):
        return ".http"
    stripped = head.lstrip()
    if stripped.startswith(b"<"):
        return ".xml"
    if stripped[:1] in (b"{", b"["):
        return ".json"
    if head.startswith(b"%PDF-"):
        return ".pdf"
    if head.startswith(b"\x89PNG"):
        return ".png"
    if _MAIL_HEADER.match(first):
        return ".eml"
    return ".txt"


def with_extension(name: str, data: bytes) -> str:
    """``name`` with a meaningful extension: evidence opens readably only when its kind is visible."""
    suffix = Path(name).suffix.lower()
    if suffix in KNOWN_EXTENSIONS:
        return name
    return name + sniff_extension(data)


@contextlib.contextmanager
def atomic_file(path: Path, mode: str = "wb", **open_kw: Any) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; on a clean exit it is synced and renamed onto ``path``, so a
    reader never sees half a file; on an error it is removed and ``path`` is left as it was."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **open_kw) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (``atomic_file``)."""
    with atomic_file(path) as fh:
        fh.write(data)


# ---------------------------------------------------------------------------------------------
# finding → evidence: which stored file a finding was read from, and the line in *that* file
# ---------------------------------------------------------------------------------------------
_WORDS = re.compile(r"[^a-z0-9]+")
_NOISE = frozenset({"xml", "eml", "http", "json", "txt", "log", ""})
_TRAILING_ID = re.compile(r"[-_/](\d{1,6})$")
MAX_LINK_BYTES = 20 * 1024 * 1024  # evidence larger than this is linked by name but not searched for lines


def _tokens(name: str) -> frozenset[str]:
    out = set()
    for tok in _WORDS.split(name.lower()):
        if tok in _NOISE:
            continue
        if tok.isdigit():
            tok = str(int(tok))
        elif len(tok) > 3 and tok.endswith("s") and not any(c.isdigit() for c in tok):
            tok = tok[:-1]  # connexions-smtp.json holds smtp/connexion-1
        out.add(tok)
    return frozenset(out)


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "-", name.lower()).strip("-")


def _has_id(tokens: frozenset[str]) -> bool:
    return any(any(c.isdigit() for c in t) for t in tokens)


def match_score(artefact: str, entry: dict[str, Any]) -> int:
    """How surely the stored ``entry`` is the artefact a finding names (0: not it).

    100 an alias the test declared; 90 the same name once separators are ignored (``mss/pro-D1.eml`` is
    stored as ``mss-pro-D1.eml``); 50+ one name's words contain the other's and they share an identifier
    (``resident/R00021`` ↔ ``R00021-resident.json``); 10 a JSON list named after the artefact's family
    (``smtp/connexion-1`` ↔ ``connexions-smtp.json``).
    """
    name = artefact.split("#", 1)[0].strip()
    path = str(entry.get("path", ""))
    base = path.rsplit("/", 1)[-1]
    if not name or not base:
        return 0
    if name in (entry.get("aliases") or ()):
        return 100
    stem = base.rsplit(".", 1)[0] if "." in base else base
    if _key(name) in (_key(base), _key(stem)):
        return 90
    a, e = _tokens(name), _tokens(base)
    common = a & e
    if a and e and (a <= e or e <= a) and _has_id(common):
        return 50 + len(common)
    words = frozenset(t for t in a if not t.isdigit())
    if words and words <= e and not _has_id(e) and base.endswith(".json") and _TRAILING_ID.search(name):
        return 10
    return 0


class _NameIndex:
    """The entries of a pool by alias and by separator-free name (scores 100 and 90 of ``match_score``),
    so that a run with 10,000 stored documents links each finding without scoring every entry (issue 15).
    Only when neither finds anything is the pool scanned, which gives the same answer as scanning always:
    100 and 90 are the two highest scores."""

    def __init__(self, pool: list[dict[str, Any]]) -> None:
        self.alias: dict[str, list[dict[str, Any]]] = {}
        self.key: dict[str, list[dict[str, Any]]] = {}
        for e in pool:
            base = str(e.get("path", "")).rsplit("/", 1)[-1]
            if not base:
                continue
            for alias in e.get("aliases") or ():
                self.alias.setdefault(alias, []).append(e)
            stem = base.rsplit(".", 1)[0] if "." in base else base
            for k in {_key(base), _key(stem)}:
                self.key.setdefault(k, []).append(e)

    def best(self, artefact: str) -> tuple[int, list[dict[str, Any]]]:
        name = artefact.split("#", 1)[0].strip()
        if not name:
            return 0, []
        hits = self.alias.get(name)
        if hits:
            return 100, hits
        hits = self.key.get(_key(name), [])  # no entry has the name as alias: each of these scores 90
        return (90, hits) if hits else (0, [])


def resolve_artefact(artefact: str, own: list[dict[str, Any]], everything: list[dict[str, Any]],
                     indexes: tuple[_NameIndex, _NameIndex] | None = None
                     ) -> tuple[dict[str, Any], int] | None:
    """The stored evidence entry a finding's artefact name designates, preferring the finding's own tests.

    Ambiguity is never guessed: several equally good files with different contents give no link.
    ``indexes`` (of ``own`` and ``everything``) make the usual exact-name case a lookup.
    """
    for n, (pool, floor) in enumerate(((own, 10), (everything, 50))):
        if indexes is not None:
            best, top = indexes[n].best(artefact)
            if top:
                if len({e.get("sha256") for e in top}) == 1:
                    return top[0], best
                return None
        scored = [(match_score(artefact, e), e) for e in pool]
        best = max((s for s, _ in scored), default=0)
        if best < floor:
            continue
        top = [e for s, e in scored if s == best]
        if len({e.get("sha256") for e in top}) == 1:
            return top[0], best
        return None
    return None


def _is_http(lines: list[bytes]) -> bool:
    first = lines[0].rstrip(b"\r") if lines else b""
    return bool(_HTTP_REQUEST.match(first) or _HTTP_RESPONSE.match(first))


def stored_line(data: bytes, finding: dict[str, Any], score: int) -> int | None:
    """The line, in the stored file, of what the finding points at (1-based), or ``None``.

    Checks report lines in the artefact they parsed: an ITI-41 check counts lines in the SOAP part,
    while the stored capture starts with the HTTP request line and headers, so the part's first line is
    found and the offset added. When the finding's ``found`` value is on another line of the stored
    file, the nearest such line wins: the link must land on the value.
    """
    lines = data.split(b"\n")
    artefact = str(finding.get("artefact") or "")
    raw_line = finding.get("line")
    line = raw_line if isinstance(raw_line, int) and raw_line > 0 else None
    found = str(finding.get("found") or "")
    needle = found.encode("utf-8") if found and "\n" not in found else b""
    if score == 10:  # a JSON list holding the artefact: the entry with its "id"
        m = _TRAILING_ID.search(artefact.split("#", 1)[0])
        if m:
            pattern = re.compile(rb'^\s*"id"\s*:\s*"?' + m.group(1).encode() + rb'"?\s*,?\s*$')
            for i, raw in enumerate(lines, 1):
                if pattern.match(raw):
                    return i
        return None
    if "#" in artefact:
        line = None  # a line inside an attached part, not in the stored file
    if line is not None and _is_http(lines) and str(finding.get("xpath") or "").startswith("/"):
        start = next((i for i, raw in enumerate(lines[1:], 1) if raw.lstrip().startswith(b"<")), None)
        if start is not None:
            line += start
    if line is not None and line > len(lines):
        line = None
    if needle and len(needle) >= 3 and (line is None or needle not in lines[line - 1]):
        hits = [i for i, raw in enumerate(lines, 1) if needle in raw] if len(needle) >= 8 or line else []
        if hits:
            return min(hits, key=lambda i: abs(i - (line or 0)))
    return line


def link_findings(results: dict[str, Any], report_dir: Path | None) -> dict[str, int]:
    """Give each finding that names an artefact the stored file it was read from.

    Sets ``evidence`` (bundle path), ``evidence_sha256`` and ``evidence_line`` (the line in that stored
    file) in place; returns counts for the console and the tests (``with_artefact``, ``linked``).
    """
    everything = [e for e in results.get("evidence") or [] if isinstance(e, dict) and e.get("path")]
    by_test: dict[str, list[dict[str, Any]]] = {}
    for e in everything:
        by_test.setdefault(str(e.get("test", "")), []).append(e)
    everything_index = _NameIndex(everything)

    @functools.lru_cache(maxsize=16)  # a few files at a time: a run may store 10,000 documents (issue 15)
    def content(path: str) -> bytes | None:
        if report_dir is not None:
            target = report_dir.joinpath(*path.split("/"))
            try:
                if target.is_file() and target.stat().st_size <= MAX_LINK_BYTES:
                    return target.read_bytes()
            except OSError:
                pass
        return None

    counts = {"with_artefact": 0, "linked": 0, "with_line": 0}
    for req in results.get("requirements") or []:
        if not isinstance(req, dict):
            continue
        own = [e for t in req.get("tests") or [] if isinstance(t, dict)
               for e in by_test.get(str(t.get("nodeid", "")), [])]
        indexes = (_NameIndex(own), everything_index)
        for finding in req.get("findings") or []:
            if not isinstance(finding, dict) or not finding.get("artefact"):
                continue
            counts["with_artefact"] += 1
            if finding.get("evidence"):
                counts["linked"] += 1
                continue
            hit = resolve_artefact(str(finding["artefact"]), own, everything, indexes)
            if hit is None:
                continue
            entry, score = hit
            data = content(str(entry["path"]))
            if report_dir is not None and data is None and not (report_dir / str(entry["path"])).is_file():
                continue
            finding["evidence"] = entry["path"]
            finding["evidence_sha256"] = entry.get("sha256", "")
            finding["evidence_line"] = stored_line(data, finding, score) if data is not None else None
            counts["linked"] += 1
            counts["with_line"] += finding["evidence_line"] is not None
    return counts
