"""The ANS CI-SIS CDA kit (XSD, schematrons, value sets), located by a setting, never shipped.

The kit is downloaded by the user from ANS, so the harness only takes its location (option or env
``SEGUR_CISIS_KIT``) and treats it as read-only data. Everything derived from it (compiled
schematrons, synthesized value sets) is keyed by the kit's content hash, which is why ``sha256`` must
be cheap to obtain again: it is cached per process and on disk, keyed by the files' sizes and mtimes.

The published kit only works on a case-insensitive file system (defect D1/D2 of
``specs/baseline.md``), so lookups inside it go through :meth:`Kit.resolve_ci`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

from conformance.safexml import Limits

log = logging.getLogger(__name__)

ENV_KIT = "SEGUR_CISIS_KIT"
ENV_CACHE = "SEGUR_CONFORMANCE_CACHE"

XSD_RELPATH = "infrastructure/cda/CDA_extended.xsd"
SCHEMATRON_DIR = "schematrons"
VALUESET_DIR = "jeuxDeValeurs"
EXAMPLES_DIR = "ExemplesCDA"

SCH_NS = "http://purl.oclc.org/dsdl/schematron"
SCH = f"{{{SCH_NS}}}"
HL7_NS = "urn:hl7-org:v3"
KIT_LIMITS = Limits(max_bytes=64 * 1024 * 1024, max_depth=512)  # parsing the kit's own files

# The parts of the kit whose content changes a verdict (examples and docs do not).
_HASHED_DIRS = ("infrastructure", SCHEMATRON_DIR, VALUESET_DIR)
_COMMIT_RE = re.compile(r"\b([0-9a-f]{40})\b")

_lock = threading.Lock()
_hash_cache: dict[tuple[str, str], str] = {}


class KitError(ValueError):
    """The given folder is not a usable CI-SIS kit (bilingual, like every user-facing error)."""

    def __init__(self, reason: str, reason_en: str) -> None:
        super().__init__(f"{reason} / {reason_en}")
        self.reason = reason
        self.reason_en = reason_en


def default_cache_root() -> Path:
    """Where derived artefacts go: ``$SEGUR_CONFORMANCE_CACHE`` or the XDG cache folder."""
    explicit = os.environ.get(ENV_CACHE)
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "segur-conformance"


def write_cache_text(path: Path, text: str) -> None:
    """Write through a temporary file so concurrent workers never read half a file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:  # a read-only cache only costs a recompilation next time
        log.debug("cannot write cache file %s: %s", path, exc)


@dataclass(frozen=True, eq=False)
class Kit:
    """An opened kit: ``path`` (absolute), ``version`` (source commit or "inconnue"), ``sha256``."""

    path: Path
    version: str
    sha256: str
    _ci_index: dict[str, list[Path]] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> Kit:
        root = Path(path).expanduser()
        if not root.is_dir():
            raise KitError(
                f"kit CI-SIS introuvable : {root} n'est pas un dossier",
                f"CI-SIS kit not found: {root} is not a folder",
            )
        root = root.resolve()
        if not (root / XSD_RELPATH).is_file():
            raise KitError(
                f"{root} n'est pas un kit CI-SIS : {XSD_RELPATH} absent",
                f"{root} is not a CI-SIS kit: {XSD_RELPATH} is missing",
            )
        if not (root / SCHEMATRON_DIR).is_dir():
            raise KitError(
                f"{root} n'est pas un kit CI-SIS : dossier {SCHEMATRON_DIR}/ absent",
                f"{root} is not a CI-SIS kit: folder {SCHEMATRON_DIR}/ is missing",
            )
        return cls(path=root, version=_read_version(root), sha256=content_sha256(root))

    # -- locations -------------------------------------------------------------------------------

    @property
    def xsd_path(self) -> Path:
        return self.path / XSD_RELPATH

    @property
    def schematron_dir(self) -> Path:
        return self.path / SCHEMATRON_DIR

    @property
    def valueset_dir(self) -> Path:
        return self.path / VALUESET_DIR

    @property
    def examples_dir(self) -> Path:
        return self.path / EXAMPLES_DIR

    def relpath(self, p: Path) -> str:
        try:
            return p.resolve().relative_to(self.path).as_posix()
        except ValueError:
            return str(p)

    def resolve_ci(self, candidate: Path) -> Path | None:
        """Find ``candidate`` inside the kit, ignoring letter case when the exact name is absent.

        Returns the exact path when it exists, the single case-variant otherwise, else ``None``.
        The index is built once per kit object (a walk of about 2,300 files).
        """
        if candidate.exists():
            return candidate
        try:
            rel = Path(os.path.normpath(candidate)).relative_to(self.path)
        except ValueError:
            return None
        with _lock:
            if not self._ci_index:
                for dirpath, dirnames, filenames in os.walk(self.path):
                    base = Path(dirpath)
                    for name in dirnames + filenames:
                        full = base / name
                        key = full.relative_to(self.path).as_posix().lower()
                        self._ci_index.setdefault(key, []).append(full)
        hits = self._ci_index.get(rel.as_posix().lower(), [])
        return hits[0] if len(hits) == 1 else None


def kit_from_env_or_option(option: str | None) -> Kit | None:
    """The kit named by the command-line option, else by ``$SEGUR_CISIS_KIT``, else ``None``."""
    chosen = option or os.environ.get(ENV_KIT)
    if not chosen:
        return None
    return Kit.open(chosen)


def _read_version(root: Path) -> str:
    source = root / "SOURCE.md"
    try:
        text = source.read_text(encoding="utf-8", errors="replace")[:20000]
    except OSError:
        return "inconnue"
    match = _COMMIT_RE.search(text)
    return match.group(1) if match else "inconnue"


def _hashed_files(root: Path) -> list[tuple[str, int, int]]:
    out: list[tuple[str, int, int]] = []
    for top in _HASHED_DIRS:
        for dirpath, dirnames, filenames in os.walk(root / top):
            dirnames.sort()
            for name in sorted(filenames):
                full = os.path.join(dirpath, name)
                try:
                    st = os.stat(full)
                except OSError:
                    continue
                out.append((os.path.relpath(full, root).replace(os.sep, "/"), st.st_size, st.st_mtime_ns))
    return out


def content_sha256(root: Path) -> str:
    """SHA-256 over the names and bytes of the kit files that decide verdicts.

    A stat walk (sizes + mtimes) gives a fingerprint; the expensive content hash is recomputed only
    when that fingerprint changes, in memory and through a small JSON file in the cache root.
    """
    files = _hashed_files(root)
    fingerprint = hashlib.sha256(json.dumps(files).encode()).hexdigest()
    key = (str(root), fingerprint)
    with _lock:
        if key in _hash_cache:
            return _hash_cache[key]
    disk = default_cache_root() / "kit-sha256.json"
    stored: dict[str, str] = {}
    try:
        stored = json.loads(disk.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        stored = {}
    disk_key = f"{root}|{fingerprint}"
    value = stored.get(disk_key) if isinstance(stored, dict) else None
    if not value:
        digest = hashlib.sha256()
        for rel, _size, _mtime in files:
            digest.update(rel.encode("utf-8") + b"\0")
            with open(root / rel, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(chunk)
            digest.update(b"\0")
        value = digest.hexdigest()
        _store_hash(disk, disk_key, value, stored)
    with _lock:
        _hash_cache[key] = value
    return value


def _store_hash(disk: Path, key: str, value: str, stored: dict[str, str]) -> None:
    """Best effort: a read-only home only costs a re-hash next time."""
    try:
        kept = {k: v for k, v in stored.items() if not k.startswith(key.split("|")[0] + "|")}
        kept[key] = value
        disk.parent.mkdir(parents=True, exist_ok=True)
        tmp = disk.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(kept, indent=0), encoding="utf-8")
        os.replace(tmp, disk)
    except OSError:
        pass
