"""What changed between two runs, requirement by requirement: regressed, fixed, other changes, unchanged.

A vendor re-runs the campaign after each build; the question is "what did we break, what did we fix".
Definitions (fixed, so CI can rely on them):
- regressed: the new verdict is ``failed`` or ``error`` and the old one was neither;
- fixed: the old verdict was ``failed`` or ``error`` and the new one is ``passed`` or ``manual``;
- changed: any other verdict change (e.g. passed → not_run: coverage lost, not a product fault);
- unchanged: same verdict; for a requirement failing in both runs, new and vanished blocking findings
  are counted so "still failing, but differently" is visible;
- added / removed: requirement present in only one run (catalogue or profile changed).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from conformance.report.common import as_list, requirements_of, severity_of, text, verdict_of

BAD = ("failed", "error")
GOOD = ("passed", "manual")


@dataclass(frozen=True)
class Change:
    id: str
    title: str
    old: str | None
    new: str | None
    mandatory: bool
    new_findings: int = 0
    gone_findings: int = 0


@dataclass
class DiffResult:
    regressed: list[Change] = field(default_factory=list)
    fixed: list[Change] = field(default_factory=list)
    changed: list[Change] = field(default_factory=list)
    unchanged: list[Change] = field(default_factory=list)
    added: list[Change] = field(default_factory=list)
    removed: list[Change] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        def rows(items: list[Change]) -> list[dict[str, Any]]:
            return [asdict(c) for c in items]

        return {k: rows(getattr(self, k)) for k in ("regressed", "fixed", "changed", "unchanged", "added",
                                                    "removed")}


def _error_keys(req: dict[str, Any]) -> set[tuple[str, ...]]:
    keys: set[tuple[str, ...]] = set()
    for f in as_list(req.get("findings")):
        if isinstance(f, dict) and severity_of(f.get("severity")) == "error":
            keys.add(tuple(text(f.get(k), 500) for k in ("rule", "artefact", "xpath", "message", "expected",
                                                         "found")))
    return keys


def diff(old: dict[str, Any], new: dict[str, Any]) -> DiffResult:
    before = {text(r["id"], 200): r for r in requirements_of(old)}
    after = {text(r["id"], 200): r for r in requirements_of(new)}
    out = DiffResult()
    for rid, req in after.items():
        title = text(req.get("title"), 300)
        mandatory = bool(req.get("mandatory"))
        new_v = verdict_of(req.get("verdict"))
        prev = before.get(rid)
        if prev is None:
            out.added.append(Change(rid, title, None, new_v, mandatory))
            continue
        old_v = verdict_of(prev.get("verdict"))
        if new_v in BAD and old_v not in BAD:
            out.regressed.append(Change(rid, title, old_v, new_v, mandatory))
        elif old_v in BAD and new_v in GOOD:
            out.fixed.append(Change(rid, title, old_v, new_v, mandatory))
        elif old_v != new_v:
            out.changed.append(Change(rid, title, old_v, new_v, mandatory))
        else:
            old_keys, new_keys = _error_keys(prev), _error_keys(req)
            out.unchanged.append(Change(rid, title, old_v, new_v, mandatory,
                                        new_findings=len(new_keys - old_keys), gone_findings=len(old_keys - new_keys)))
    for rid, req in before.items():
        if rid not in after:
            out.removed.append(Change(rid, text(req.get("title"), 300), verdict_of(req.get("verdict")), None,
                                      bool(req.get("mandatory"))))
    return out
