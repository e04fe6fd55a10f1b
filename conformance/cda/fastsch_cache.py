"""The fast plan of a schematron XSLT: the rewritten stylesheet plus what to decide per document,
and its cache identity (issue 16 fast path, :mod:`conformance.cda.fastsch`).

A plan is stored on disk next to the generated XSLT (``sch_compile``), keyed by :data:`FAST_VERSION`.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

# Part of the cache key of stored plans: a version, plus the digest of the code of every fast-path
# module (fastsch.py and the fastsch_*.py it is split into), so that a plan stored by another
# revision of the rewrites (another engineer's checkout sharing the cache) is never reused.
FASTSCH_MODULES = tuple(sorted(Path(__file__).parent.glob("fastsch*.py")))
_h = hashlib.sha256()
for _p in FASTSCH_MODULES:
    _h.update(_p.name.encode() + b"\0" + _p.read_bytes() + b"\0")
FAST_VERSION = "7-" + _h.hexdigest()[:10]
del _h, _p


@dataclass
class FastPlan:
    xslt: str
    # pattern mode name ("M3", "D1") -> alternatives; a pattern runs when one alternative's tokens
    # are all in the document. Patterns not listed always run.
    guards: dict[str, list[frozenset[str]]] = field(default_factory=dict)
    modes: list[str] = field(default_factory=list)
    preload: list[Path] = field(default_factory=list)
    # of those, the files opened by a name built from the document: loaded when it may ask for them
    on_demand: list[Path] = field(default_factory=list)
    # and the files named by a literal that only one or more patterns' rules read (pattern mode → files):
    # loaded for a document on which one of those patterns runs
    by_pattern: dict[str, list[Path]] = field(default_factory=dict)
    # the same stylesheet without its report-writing branches (sch_quick; stored in a file of its own)
    quick: str = ""
    keyed_lookups: int = 0
    doc_calls: int = 0
    parent_first: int = 0
    keyed_patterns: int = 0
    parent_dispatched: int = 0
    dropped_walks: int = 0  # document walks that could write nothing, removed

    def to_json(self) -> dict:
        """Everything but the stylesheet text (stored next to it in the cache folder)."""
        return {
            "version": FAST_VERSION,
            "guards": {m: [sorted(alt) for alt in alts] for m, alts in self.guards.items()},
            "modes": self.modes,
            "preload": [str(p) for p in self.preload],
            "on_demand": [str(p) for p in self.on_demand],
            "by_pattern": {m: [str(p) for p in files] for m, files in self.by_pattern.items()},
            "keyed_lookups": self.keyed_lookups,
            "doc_calls": self.doc_calls,
            "parent_first": self.parent_first,
            "keyed_patterns": self.keyed_patterns,
            "parent_dispatched": self.parent_dispatched,
            "dropped_walks": self.dropped_walks,
        }

    @classmethod
    def from_json(cls, xslt: str, data: dict) -> FastPlan:
        if data.get("version") != FAST_VERSION:
            raise ValueError("fast plan from another version")
        return cls(
            xslt=xslt,
            guards={m: [frozenset(alt) for alt in alts] for m, alts in data["guards"].items()},
            modes=list(data["modes"]),
            preload=[Path(p) for p in data["preload"]],
            on_demand=[Path(p) for p in data.get("on_demand", [])],
            by_pattern={m: [Path(p) for p in files] for m, files in data.get("by_pattern", {}).items()},
            keyed_lookups=int(data["keyed_lookups"]),
            doc_calls=int(data["doc_calls"]),
            parent_first=int(data["parent_first"]),
            keyed_patterns=int(data.get("keyed_patterns", 0)),
            parent_dispatched=int(data.get("parent_dispatched", 0)),
            dropped_walks=int(data.get("dropped_walks", 0)),
        )

    def active(self, tokens: frozenset[str]) -> str:
        """The ``sc:run`` parameter: one character per pattern of :attr:`modes`, in order, ``1`` for a
        pattern that may fire on this document and ``0`` for one that cannot (its guard reads the
        character at the pattern's position)."""
        return "".join(
            "1" if m not in self.guards or any(alt <= tokens for alt in self.guards[m]) else "0" for m in self.modes
        )

    @functools.cached_property
    def _lazy_files(self) -> tuple[frozenset[Path], frozenset[Path]]:
        """(files handed over per document, of those the on-demand code systems): computed once."""
        on_demand = frozenset(self.on_demand)
        return on_demand.union(*self.by_pattern.values()), on_demand

    def eager(self) -> tuple[Path, ...]:
        """The files preloaded when the schematron is compiled (named by a literal read outside the
        rules of a pattern, or by several patterns' rules and elsewhere)."""
        lazy, _on_demand = self._lazy_files
        return tuple(p for p in self.preload if p not in lazy)

    @property
    def lazy(self) -> bool:
        """Some files are handed over per document (:meth:`docs_for`)."""
        return bool(self.on_demand or self.by_pattern)

    def docs_for(self, tokens: frozenset[str], run: str | None = None) -> tuple[Path, ...]:
        """The files to hand over for one document: the eager ones; each on-demand file whose name
        without extension (a code system OID) is one of the document's attribute values; and the files
        of each pattern that may run on it. ``run``: the document's :meth:`active` value, when the
        caller has it (read instead of evaluating the guards again).

        Only a matter of speed, never of verdicts: a file not handed over is read by the original
        ``doc()``/``document()`` (``sc:doc`` falls back to it), which gives the same document.
        """
        if not self.lazy:
            return self.eager()
        values = {t[t.index("=") + 1:] for t in tokens if t.startswith("a:")} if self.on_demand else set()
        wanted: set[Path] = set()
        if self.by_pattern:
            run = run if run is not None and len(run) == len(self.modes) else self.active(tokens)
            for i, mode in enumerate(self.modes):
                if run[i] == "1":
                    wanted.update(self.by_pattern.get(mode, ()))
        lazy, on_demand = self._lazy_files
        return tuple(p for p in self.preload if p not in lazy or p in wanted or (p in on_demand and p.stem in values))

    def skipped(self, tokens: frozenset[str]) -> list[str]:
        return [m for m in self.modes if m in self.guards and not any(alt <= tokens for alt in self.guards[m])]
