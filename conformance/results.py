"""Per-requirement verdicts and the versioned results JSON.

The verdict rules are the contract auditors rely on (docs/architecture.md):
``failed`` if any linked test failed; else ``error`` if any could not evaluate; else ``passed`` if at
least one passed; else ``manual`` when the requirement only has manual proofs; else ``not_run``.
A manual proof is never ``passed``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance.evidence import atomic_write
from conformance.findings import Finding

FORMAT = "segur-conformance-results"
FORMAT_VERSION = "1.0"
VERDICTS = ("passed", "failed", "error", "not_run", "manual")
TEST_OUTCOMES = ("passed", "failed", "error", "skipped", "not_evaluated")


@dataclass
class TestRecord:
    """What one pytest test contributed: its outcome and findings, for each requirement it marks."""

    nodeid: str
    requirements: tuple[str, ...]
    outcome: str = "passed"
    duration: float = 0.0
    message: str = ""
    findings: list[Finding] = field(default_factory=list)
    evidence: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"nodeid": self.nodeid, "outcome": self.outcome, "duration": round(self.duration, 4),
                "message": self.message}


def verdict_for(outcomes: list[str], manual_only: bool) -> tuple[str, str]:
    """Aggregate test outcomes into (verdict, reason)."""
    if "failed" in outcomes:
        return "failed", ""
    if "error" in outcomes or "not_evaluated" in outcomes:
        return "error", "au moins une vérification n'a pas pu s'exécuter"
    if "passed" in outcomes:
        return "passed", ""
    if manual_only:
        return "manual", "preuve manuelle à fournir par l'éditeur"
    if outcomes:
        return "not_run", "tests ignorés"
    return "not_run", "aucun test exécuté pour cette exigence"


def aggregate(requirements: Iterable[Any], records: Iterable[TestRecord]) -> list[dict[str, Any]]:
    """One results entry per requirement (catalogue objects with ``to_dict()``), in catalogue order."""
    by_req: dict[str, list[TestRecord]] = {}
    for record in records:
        for rid in record.requirements:
            by_req.setdefault(rid, []).append(record)
    entries: list[dict[str, Any]] = []
    for req in requirements:
        linked = by_req.get(req.id, [])
        outcomes = [r.outcome for r in linked]
        verdict, reason = verdict_for(outcomes, req.manual_only)
        if verdict in ("not_run", "error"):
            reasons = [r.message for r in linked if r.outcome in ("skipped", "error", "not_evaluated") and r.message]
            if reasons:
                reason = "; ".join(dict.fromkeys(reasons))[:2000]
        findings: list[dict[str, Any]] = []
        seen: set[tuple[Any, ...]] = set()
        for record in linked:
            for finding in record.findings:
                key = (finding.rule, finding.artefact, finding.xpath, finding.message, finding.found)
                if key in seen:
                    continue
                seen.add(key)
                findings.append(finding.to_dict())
        entry = req.to_dict()
        entry.update({
            "mandatory": req.mandatory,
            "manual_only": req.manual_only,
            "verdict": verdict,
            "reason": reason,
            "tests": [r.to_dict() for r in linked],
            "findings": findings,
        })
        for scenario in entry.get("scenarios", []):
            for proof in scenario.get("proofs", []):
                proof["verdict"] = "manual" if proof.get("method") == "manual" else verdict
        entries.append(entry)
    return entries


def summarise(entries: list[dict[str, Any]]) -> dict[str, Any]:
    summary: dict[str, Any] = {v: 0 for v in VERDICTS}
    summary["total"] = len(entries)
    summary["mandatory_failed"] = 0
    summary["mandatory_error"] = 0
    by_section: dict[str, dict[str, int]] = {}
    for entry in entries:
        verdict = entry["verdict"]
        summary[verdict] += 1
        if entry.get("mandatory") and verdict == "failed":
            summary["mandatory_failed"] += 1
        if entry.get("mandatory") and verdict == "error":
            summary["mandatory_error"] += 1
        section = by_section.setdefault(entry["section"], {v: 0 for v in VERDICTS} | {"total": 0})
        section[verdict] += 1
        section["total"] += 1
    summary["by_section"] = by_section
    return summary


def build_results(run: dict[str, Any], entries: list[dict[str, Any]], evidence: list[dict[str, Any]]
                  ) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "run": run,
        "summary": summarise(entries),
        "requirements": entries,
        "evidence": evidence,
    }


def write_results(path: Path, results: dict[str, Any]) -> None:
    atomic_write(path, json.dumps(results, ensure_ascii=False, indent=1).encode("utf-8"))


class ResultsFileError(ValueError):
    pass


def load_results(path: Path) -> dict[str, Any]:
    """Read a results file and check its format marker (for diff, merge, report)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultsFileError(f"{path}: file not found") from None
    except (OSError, ValueError, RecursionError) as exc:  # RecursionError: "[[[[…" nested too deep
        raise ResultsFileError(f"{path}: not a readable JSON file ({str(exc)[:200]})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ResultsFileError(f"{path}: not a segur-conformance results file")
    major = str(data.get("format_version", "")).split(".")[0]
    if major != FORMAT_VERSION.split(".")[0]:
        raise ResultsFileError(f"{path}: unsupported format_version {data.get('format_version')!r}")
    problems = structure_problems(data)
    if problems:
        raise ResultsFileError(f"{path}: malformed results file: " + "; ".join(problems[:5]))
    return data


def structure_problems(data: dict[str, Any]) -> list[str]:
    """The shape diff, merge and the report rely on (the full contract is docs/results.schema.json)."""
    problems: list[str] = []
    if not isinstance(data.get("run"), dict):
        problems.append("'run' must be an object")
    requirements = data.get("requirements")
    if not isinstance(requirements, list):
        return problems + ["'requirements' must be a list"]
    for i, entry in enumerate(requirements):
        if not isinstance(entry, dict):
            problems.append(f"requirements[{i}] is not an object")
            continue
        if not isinstance(entry.get("id"), str) or not entry.get("id"):
            problems.append(f"requirements[{i}] has no id")
        if entry.get("verdict") not in VERDICTS:
            problems.append(f"requirements[{i}] has verdict {entry.get('verdict')!r}, not one of {', '.join(VERDICTS)}")
        if not isinstance(entry.get("findings", []), list):
            problems.append(f"requirements[{i}].findings must be a list")
    if not isinstance(data.get("evidence", []), list):
        problems.append("'evidence' must be a list")
    return problems
