"""Artefact mode: the same checks on a folder of files, for vendors who cannot expose triggers.

Layout (docs/architecture.md): capabilities.json, cda/*.xml, mss/*.eml, dmp/*.http|*.xml, psc/*.json.
Files are read with a size bound; an unreadable or oversized file becomes an artefact carrying its
problem instead of stopping the run.

Streaming (issue 15): a folder may hold 10,000 documents, so ``read_folder`` returns ``FileArtefact``s that
know their path and size but not their bytes; ``.data`` reads the file each time it is asked for and nothing
keeps it, so a check holds one document (one per worker) at a time. ``stream_map`` runs a per-file check
over such a list, in ``jobs`` worker processes when asked, with a progress line (count, rate, ETA) on the
console for long folders.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO, TypeVar

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


class FileArtefact(Artefact):
    """An artefact-folder file, read on demand: ``.data`` reads it (size-bounded) every time and keeps
    nothing, so a list of 10,000 of them holds names and paths only. A file that became unreadable or
    larger than the bound since it was listed reads as empty bytes, which every check reports as an
    unreadable document (never a pass)."""

    path: Path
    size: int

    def __init__(self, name: str, path: Path, kind: str, size: int) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "meta", {"path": str(path)})
        object.__setattr__(self, "problem", "")
        object.__setattr__(self, "path", path)
        object.__setattr__(self, "size", size)

    @property  # a property where the parent has a field: read each time, never held
    def data(self) -> bytes:
        try:
            with open(self.path, "rb") as fh:
                raw = fh.read(MAX_ARTEFACT_BYTES + 1)
        except OSError:
            return b""
        return raw if len(raw) <= MAX_ARTEFACT_BYTES else b""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FileArtefact) and (self.name, self.path) == (other.name, other.path)

    def __hash__(self) -> int:
        return hash((self.name, str(self.path)))

    def __repr__(self) -> str:
        return f"FileArtefact({self.name!r}, {self.size} bytes)"

    def __reduce__(self) -> tuple[Any, ...]:  # sent to a worker process as its path, never its bytes
        return (FileArtefact, (self.name, self.path, self.kind, self.size))


class ArtefactFolderError(ValueError):
    pass


def read_folder(root: Path, kind: str) -> list[Artefact]:
    """The files of ``root/kind``, sorted by name: ``FileArtefact``s (bytes read on demand), or an
    ``Artefact`` carrying its problem for a file too large or that cannot be opened."""
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
            with open(path, "rb"):  # readable now; the bytes are read when a check asks for them
                pass
            out.append(FileArtefact(rel, path, kind, size))
        except OSError as exc:
            out.append(Artefact(rel, b"", kind, problem=f"fichier illisible : {exc.strerror}"))
    return out


# ---------------------------------------------------------------------------------------------
# streaming checks over many files: worker processes and a progress line
# ---------------------------------------------------------------------------------------------
T = TypeVar("T")
R = TypeVar("R")
PROGRESS_MIN_ITEMS = 200  # fewer files than this: no progress line (a run of a few documents is quick)
PROGRESS_EVERY_S = 0.5


def _eta(seconds: float) -> str:
    seconds = max(0, int(seconds + 0.5))
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    if seconds >= 60:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds} s"


class Progress:
    """A one-line progress bar with rate and ETA, rewritten in place (``\r``) at most every 0.5 s.

    ``write`` receives each rendered line; the pytest plugin routes it to the terminal past output
    capture (``console_writer``). ``clock`` is injectable so the rendering can be tested without time."""

    def __init__(self, total: int, label: str, write: Callable[[str], None],
                 clock: Callable[[], float] = time.monotonic, width: int = 24) -> None:
        self.total, self.label, self.write, self.clock, self.width = total, label, write, clock, width
        self.done = 0
        self.started = clock()
        self._shown = -1.0

    def line(self) -> str:
        elapsed = self.clock() - self.started
        frac = self.done / self.total if self.total else 1.0
        filled = int(frac * self.width)
        bar = "█" * filled + "░" * (self.width - filled)
        rate = self.done / elapsed if elapsed > 0 else 0.0
        en = _lang == "en"
        if self.done >= self.total:
            tail = f"{'done in' if en else 'terminé en'} {_eta(elapsed)}"
        else:
            settled = rate > 0 and elapsed >= 2.0  # the first documents include starting the workers
            tail = f"{'ETA' if en else 'reste'} {_eta((self.total - self.done) / rate) if settled else '…'}"
        count = f"{self.done:,}/{self.total:,}".replace(",", "," if en else " ")
        return f"{self.label} {count} ▕{bar}▏ {frac:4.0%} · {rate:.1f}/s · {tail}"

    def update(self, n: int = 1) -> None:
        self.done += n
        now = self.clock()
        if self.done >= self.total or now - self._shown >= PROGRESS_EVERY_S:
            self._shown = now
            self.write("\r" + self.line() + ("\n" if self.done >= self.total else ""))


_console: Callable[[str], None] | None = None
_lang = "fr"


def set_console(write: Callable[[str], None] | None, lang: str = "fr") -> None:
    """Where progress lines go (the pytest plugin sets a writer that bypasses output capture), and in
    which language."""
    global _console, _lang
    _console, _lang = write, lang


def console_writer(stream: TextIO | None = None) -> Callable[[str], None]:
    target = stream or sys.stderr

    def write(text: str) -> None:
        try:
            target.write(text)
            target.flush()
        except (OSError, ValueError):
            pass

    return write


def _worker_init(parent: int) -> None:
    """A worker ignores Ctrl-C (the main process decides and stops the pool) and ends by itself when the
    main process is gone (killed with SIGKILL, the pool's pipes never close: the workers would stay)."""
    import signal
    import threading

    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while True:
            time.sleep(1.0)
            try:
                os.kill(parent, 0)
            except ProcessLookupError:
                os._exit(0)
            except OSError:
                pass

    threading.Thread(target=watch, name="segur-parent-watch", daemon=True).start()


def stream_map(func: Callable[[T], R], items: Sequence[T], *, jobs: int = 1, label: str = "",
               chunksize: int = 0) -> Iterator[tuple[T, R]]:
    """``(item, func(item))`` for every item, in order, one item at a time or spread over ``jobs`` worker
    processes (``func`` must then be a module-level function and items picklable: a ``FileArtefact``
    travels as its path). At most ``jobs × 4 × chunksize`` results wait in the pipe; with
    ``PROGRESS_MIN_ITEMS`` items or more, a progress line is written to the console."""
    total = len(items)
    progress = Progress(total, label or "fichiers", _console or console_writer()) \
        if total >= PROGRESS_MIN_ITEMS else None
    if jobs <= 1 or total < 2:
        for item in items:
            result = func(item)
            if progress:
                progress.update()
            yield item, result
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    chunk = chunksize or max(1, min(16, total // (jobs * 8) or 1))
    with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context(method),
                             initializer=_worker_init, initargs=(os.getpid(),)) as pool:
        batches = [items[i:i + chunk] for i in range(0, total, chunk)]
        pending: dict[int, Any] = {}
        window = jobs * 4
        submitted = 0
        for index in range(len(batches)):
            while submitted < len(batches) and submitted < index + window:
                pending[submitted] = pool.submit(_run_batch, func, batches[submitted])
                submitted += 1
            results = pending.pop(index).result()
            for item, result in zip(batches[index], results, strict=True):
                if progress:
                    progress.update()
                yield item, result


def _run_batch(func: Callable[[T], R], batch: Iterable[T]) -> list[R]:
    return [func(item) for item in batch]


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
