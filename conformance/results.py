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

from conformance.findings import Finding, Severity
from conformance.traceability import RuleMap

FORMAT = "segur-conformance-results"
FORMAT_VERSION = "2.0"
#: "reserved" = passed with reservations: the only checks evaluated on the proof can only warn
VERDICTS = ("passed", "reserved", "failed", "error", "not_run", "manual")
TEST_OUTCOMES = ("passed", "failed", "error", "skipped", "not_evaluated")
#: "unchecked" is internal: the test claims the proof but evaluated nothing on it (error if no other test did)
_PROOF_RANK = {"not_run": 0, "unchecked": 1, "reserved": 2, "passed": 3, "error": 4, "failed": 5}
_UNCHECKED = ("non évalué : aucune vérification n'a porté sur cette preuve",
              "not evaluated: no check was evaluated on this proof")


@dataclass
class TestRecord:
    """What one pytest test contributed: its outcome and findings, for each proof it verifies."""

    nodeid: str
    requirements: tuple[str, ...]
    outcome: str = "passed"
    duration: float = 0.0
    message: str = ""
    findings: list[Finding] = field(default_factory=list)
    evidence: list[dict[str, Any]] = field(default_factory=list)
    proofs: tuple[str, ...] = ()
    #: the test failed only because it recorded ERROR findings: each proof is judged by its own findings
    findings_failure: bool = False
    #: the English twin of ``message`` (``segur.not_evaluated(fr, en)``, a sandbox error...), for ``--lang en``
    message_en: str = ""

    @property
    def english(self) -> str:
        return self.message_en or self.message

    def to_dict(self) -> dict[str, Any]:
        return {"nodeid": self.nodeid, "outcome": self.outcome, "duration": round(self.duration, 4),
                "message": self.message, "message_en": self.english, "proofs": list(self.proofs)}


@dataclass(frozen=True)
class ProofVerdict:
    verdict: str
    reason: str = ""
    reason_en: str = ""


def _lines(findings: list[Finding], lang: str, limit: int = 3) -> str:
    texts = list(dict.fromkeys(f"[{f.rule}] {f.text(lang)}" if f.rule else f.text(lang) for f in findings))
    out = texts[:limit]
    if len(texts) > limit:
        out.append(f"… +{len(texts) - limit}")
    return " ; ".join(out)[:1000]


def proof_verdict_in(record: TestRecord, proof: str, rule_map: RuleMap) -> ProofVerdict:
    """What one test says of one of its proofs (docs/architecture.md, "Verdicts")."""
    mine = [f for f in record.findings if proof in f.proofs]
    errors = [f for f in mine if f.is_error]
    if errors:
        errors.sort(key=lambda f: rule_map.consequence(f.rule))  # cause before consequence
        return ProofVerdict("failed", _lines(errors, "fr"), _lines(errors, "en"))
    if record.outcome in ("error", "not_evaluated"):
        failed_here = sorted({p for f in record.findings if f.is_error for p in f.proofs} - {proof})
        if failed_here:
            return ProofVerdict(
                "error", f"non évalué : prérequis en échec ({', '.join(failed_here)}) — {record.message}"[:1000],
                f"not evaluated: failed prerequisite ({', '.join(failed_here)}) — {record.english}"[:1000])
        return ProofVerdict("error", f"non évalué : {record.message}"[:1000],
                            f"not evaluated: {record.english}"[:1000])
    if record.outcome == "skipped":
        return ProofVerdict("not_run", record.message[:1000], record.english[:1000])
    if record.outcome == "failed" and not record.findings_failure:
        return ProofVerdict("failed", record.message[:1000], record.english[:1000])
    held = [f for f in mine if f.severity is Severity.INFO and rule_map.can_fail(f.rule)]
    if held:
        return ProofVerdict("passed")
    weak = [f for f in mine if f.severity is not Severity.ERROR]
    if weak:
        rules = sorted({f.rule for f in weak if f.rule})
        why = "; ".join(dict.fromkeys(rule_map.reason(r) for r in rules if rule_map.reason(r)))
        return ProofVerdict(
            "reserved",
            f"seules des vérifications non confirmées (avertissements) ont porté sur cette preuve : "
            f"{', '.join(rules) or '-'}{' — ' + why if why else ''}"[:1000],
            f"only unconfirmed checks (warnings) were evaluated on this proof: {', '.join(rules) or '-'}"
            f"{' — ' + why if why else ''}"[:1000])
    return ProofVerdict("unchecked", *_UNCHECKED)


def combine(verdicts: list[ProofVerdict]) -> ProofVerdict:
    """Several tests on one proof: failed > error > passed > reserved > not_run (a test that evaluated
    nothing on the proof does not count, unless no test did: then the proof is not evaluated)."""
    if not verdicts:
        return ProofVerdict("not_run", "aucun test exécuté pour cette preuve", "no test was run for this proof")
    worst = max(_PROOF_RANK[v.verdict] for v in verdicts)
    same = [v for v in verdicts if _PROOF_RANK[v.verdict] == worst]
    if same[0].verdict == "unchecked":
        return ProofVerdict("error", *_UNCHECKED)
    return ProofVerdict(same[0].verdict, "; ".join(dict.fromkeys(v.reason for v in same if v.reason))[:2000],
                        "; ".join(dict.fromkeys(v.reason_en for v in same if v.reason_en))[:2000])


def requirement_verdict(proof_verdicts: list[str], manual_only: bool) -> str:
    """A requirement from its automated proofs: failed > error > reserved > passed; else manual / not_run."""
    for verdict in ("failed", "error", "reserved", "passed"):
        if verdict in proof_verdicts:
            return verdict
    return "manual" if manual_only else "not_run"


def verdict_for(outcomes: list[str], manual_only: bool) -> tuple[str, str]:
    """Test outcomes to a verdict, for callers that have no proof-level data (synthetic results, merge)."""
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


def _sort_findings(findings: list[Finding], rule_map: RuleMap) -> list[Finding]:
    order = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}
    return sorted(findings, key=lambda f: (order[f.severity], rule_map.consequence(f.rule)))


def aggregate(requirements: Iterable[Any], records: Iterable[TestRecord], rule_map: RuleMap | None = None
              ) -> list[dict[str, Any]]:
    """One results entry per requirement (catalogue objects with ``to_dict()``), in catalogue order.

    Each automated proof gets its own verdict from the tests that verify it and the findings attributed
    to it; the requirement aggregates its proofs.
    """
    rule_map = rule_map or RuleMap()
    records = list(records)
    by_req: dict[str, list[TestRecord]] = {}
    by_proof: dict[str, list[TestRecord]] = {}
    for record in records:
        for rid in record.requirements:
            by_req.setdefault(rid, []).append(record)
        for pid in record.proofs:
            by_proof.setdefault(pid, []).append(record)
    entries: list[dict[str, Any]] = []
    for req in requirements:
        linked = by_req.get(req.id, [])
        entry = req.to_dict()
        declared = [p for s in entry.get("scenarios", []) for p in s.get("proofs", [])]
        own_proofs = {str(p.get("id")) for p in declared}
        proof_results: dict[str, ProofVerdict] = {}
        for proof in declared:
            if proof.get("method") == "manual":
                continue
            pid = str(proof.get("id"))
            proof_results[pid] = combine([proof_verdict_in(r, pid, rule_map) for r in by_proof.get(pid, [])])
        verdict = requirement_verdict([v.verdict for v in proof_results.values()], req.manual_only)
        failing = [(pid, v) for pid, v in proof_results.items() if v.verdict in ("failed", "error")]
        reason_en = ""
        if verdict in ("failed", "error"):
            reason = " | ".join(f"{pid} : {v.reason}" for pid, v in failing if v.verdict == verdict)[:2000]
            reason_en = " | ".join(f"{pid}: {v.reason_en or v.reason}" for pid, v in failing
                                   if v.verdict == verdict)[:2000]
        elif verdict == "reserved":
            reason = " | ".join(f"{pid} : {v.reason}" for pid, v in proof_results.items()
                                if v.verdict == "reserved")[:2000]
            reason_en = " | ".join(f"{pid}: {v.reason_en or v.reason}" for pid, v in proof_results.items()
                                   if v.verdict == "reserved")[:2000]
        elif verdict == "manual":
            reason = "preuve manuelle à fournir par l'éditeur"
            reason_en = "manual evidence to be provided by the vendor"
        elif verdict == "not_run":
            skipped = [r for r in linked if r.outcome == "skipped" and r.message]
            reason = "; ".join(dict.fromkeys(r.message for r in skipped))[:2000] or \
                "aucun test exécuté pour cette exigence"
            reason_en = "; ".join(dict.fromkeys(r.english for r in skipped))[:2000] or \
                "no test was run for this requirement"
        else:
            reason = ""
        findings: list[Finding] = []
        seen: set[tuple[Any, ...]] = set()
        for record in linked:
            for finding in record.findings:
                if finding.proofs and not (set(finding.proofs) & own_proofs):
                    continue  # evidence for another requirement verified by the same test
                if not finding.proofs and finding.requirements and req.id not in finding.requirements:
                    continue
                key = (finding.rule, finding.artefact, finding.xpath, finding.message, finding.found,
                       finding.severity, finding.proofs)
                if key in seen:
                    continue
                seen.add(key)
                findings.append(finding)
        entry.update({
            "mandatory": req.mandatory,
            "manual_only": req.manual_only,
            "verdict": verdict,
            "reason": reason,
            "reason_en": reason_en,
            "failing_proofs": [pid for pid, _v in sorted(
                failing, key=lambda item: all(rule_map.consequence(f.rule) for r in by_proof.get(item[0], [])
                                              for f in r.findings if f.is_error and item[0] in f.proofs))],
            "tests": [r.to_dict() for r in linked],
            "findings": [f.to_dict() for f in _sort_findings(findings, rule_map)],
        })
        for scenario in entry.get("scenarios", []):
            for proof_dict in scenario.get("proofs", []):
                if proof_dict.get("method") == "manual":
                    proof_dict["verdict"] = "manual"
                    continue
                pv = proof_results.get(proof_dict["id"], ProofVerdict("not_run"))
                proof_dict["verdict"] = pv.verdict
                proof_dict["reason"] = pv.reason
                proof_dict["reason_en"] = pv.reason_en
                proof_dict["tests"] = [r.nodeid for r in by_proof.get(proof_dict["id"], [])]
        entries.append(entry)
    return entries


def attach_captures(entries: list[dict[str, Any]], captures: Iterable[dict[str, Any]]) -> int:
    """Harness-captured screens (``segur.capture``) under the manual proofs they document, as attachments to
    be reviewed (``review: pending``), beside the vendor's own (``segur-conformance attach``). A capture never
    changes a verdict: a manual proof stays manual. Returns how many attachments were placed."""
    by_proof: dict[str, list[dict[str, Any]]] = {}
    for capture in captures:
        for pid in capture.get("proofs") or []:
            by_proof.setdefault(str(pid), []).append(dict(capture["attachment"]))
    placed = 0
    for entry in entries:
        for scenario in entry.get("scenarios", []):
            for proof in scenario.get("proofs", []):
                found = by_proof.get(str(proof.get("id")))
                if found and proof.get("method") == "manual":
                    proof.setdefault("attachments", []).extend(found)
                    placed += len(found)
    return placed


def summarise(entries: list[dict[str, Any]]) -> dict[str, Any]:
    summary: dict[str, Any] = {v: 0 for v in VERDICTS}
    summary["total"] = len(entries)
    summary["mandatory_failed"] = 0
    summary["mandatory_error"] = 0
    summary["mandatory_reserved"] = 0
    summary["proofs"] = {v: 0 for v in VERDICTS}
    by_section: dict[str, dict[str, int]] = {}
    for entry in entries:
        verdict = entry["verdict"]
        summary[verdict] += 1
        if entry.get("mandatory") and verdict == "failed":
            summary["mandatory_failed"] += 1
        if entry.get("mandatory") and verdict == "error":
            summary["mandatory_error"] += 1
        if entry.get("mandatory") and verdict == "reserved":
            summary["mandatory_reserved"] += 1
        scenarios = entry.get("scenarios")
        for scenario in scenarios if isinstance(scenarios, list) else []:
            proofs = scenario.get("proofs") if isinstance(scenario, dict) else None
            for proof in proofs if isinstance(proofs, list) else []:
                if isinstance(proof, dict) and proof.get("verdict") in VERDICTS:
                    summary["proofs"][proof["verdict"]] += 1
        section = by_section.setdefault(entry["section"], {v: 0 for v in VERDICTS} | {"total": 0})
        section[verdict] += 1
        section["total"] += 1
    summary["by_section"] = by_section
    return summary


def build_results(run: dict[str, Any], entries: list[dict[str, Any]], evidence: list[dict[str, Any]],
                  harness_checks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    checks = list(harness_checks or [])
    summary = summarise(entries)
    summary["harness_failed"] = sum(1 for c in checks if c.get("verdict") in ("failed", "error"))
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "run": run,
        "harness_checks": checks,
        "summary": summary,
        "requirements": entries,
        "evidence": evidence,
    }


def write_results(path: Path, results: dict[str, Any]) -> None:
    """Written as it is encoded (``json.dump`` to a temporary file, then renamed): with 10,000 documents
    the file reaches 150 MB, and a whole string of it (then its bytes) once tripled the run's peak memory."""
    from conformance.evidence import atomic_file

    with atomic_file(path, "w", encoding="utf-8") as fh:
        json.dump(results, fh, ensure_ascii=False, indent=1)


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
    if major not in ("1", FORMAT_VERSION.split(".")[0]):  # format 1: proofs follow their requirement
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
