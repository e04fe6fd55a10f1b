"""Combine the results of several runs or shards into one results dict.

Rules (issue 8): each requirement appears once; its verdict is the strongest of the inputs with the
precedence failed > error > passed > manual > not_run (a failure seen anywhere is never hidden by a pass
elsewhere); tests and findings are gathered and de-duplicated; the summary is recomputed with the same
code as a single run (``conformance.results.summarise``), so counts can be trusted.

Evidence paths are relative to each input's report folder. When two runs used the same path for
different content, the later one is moved under ``evidence/run-N/`` and its findings are re-pointed;
the caller copies the files (``MergeOutcome.copies``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from conformance.report.common import as_dict, as_float, as_list, requirements_of, text, verdict_of
from conformance.report.evidence import safe_relpath

PRECEDENCE = ("failed", "error", "passed", "reserved", "manual", "not_run")
RESULTS_FORMAT = "segur-conformance-results"
RESULTS_VERSION = "2.0"


@dataclass(frozen=True)
class EvidenceCopy:
    run: int  # index of the input
    source: str  # path relative to that input's report folder
    target: str  # path relative to the merged report folder
    sha256: str


@dataclass
class MergeOutcome:
    results: dict[str, Any]
    copies: list[EvidenceCopy] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (French, English)


def stronger(a: str, b: str) -> str:
    """The verdict that wins between two runs."""
    a, b = verdict_of(a), verdict_of(b)
    return a if PRECEDENCE.index(a) <= PRECEDENCE.index(b) else b


def finding_key(f: dict[str, Any]) -> tuple[str, ...]:
    """Identity of a finding across runs (evidence paths and digests differ from run to run)."""
    return tuple(text(f.get(k), 2000) for k in ("severity", "rule", "artefact", "xpath", "line", "message",
                                                "expected", "found"))


def _test_key(t: dict[str, Any]) -> tuple[str, ...]:
    return tuple(text(t.get(k), 2000) for k in ("nodeid", "outcome", "message"))


def _relocate(index: int, run: dict[str, Any], claimed: dict[str, str], outcome: MergeOutcome
              ) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Evidence entries of one run with their merged paths, and the old → new path mapping."""
    mapping: dict[str, str] = {}
    entries: list[dict[str, Any]] = []
    for raw in as_list(run.get("evidence")):
        if not isinstance(raw, dict):
            continue
        rel = safe_relpath(raw.get("path"))
        if rel is None:
            outcome.warnings.append((f"pièce au chemin refusé, ignorée : {text(raw.get('path'), 200)}",
                                     f"evidence with a refused path, ignored: {text(raw.get('path'), 200)}"))
            continue
        sha = text(raw.get("sha256"), 64)
        target = rel
        if rel in claimed and claimed[rel] != sha:
            tail = rel.removeprefix("evidence/")
            target = f"evidence/run-{index + 1}/{tail}"
            n = 2
            while target in claimed and claimed[target] != sha:
                target = f"evidence/run-{index + 1}-{n}/{tail}"
                n += 1
        mapping[rel] = target
        entry = dict(raw)
        entry["path"] = target
        entries.append(entry)
        if target not in claimed:
            claimed[target] = sha
            outcome.copies.append(EvidenceCopy(index, rel, target, sha))
    return entries, mapping


def _remap_findings(req: dict[str, Any], mapping: dict[str, str]) -> None:
    for f in as_list(req.get("findings")):
        if isinstance(f, dict):
            rel = safe_relpath(f.get("evidence"))
            if rel is not None and rel in mapping:
                f["evidence"] = mapping[rel]


def _parse_time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value))
    except (TypeError, ValueError):
        return None


def _merge_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    first = copy.deepcopy(runs[0]) if runs else {}
    profiles = list(dict.fromkeys(text(r.get("profile"), 40) for r in runs if r.get("profile")))
    modes = {r.get("mode") for r in runs if r.get("mode")}
    starts = [t for t in (_parse_time(r.get("started_at")) for r in runs) if t is not None]
    ends = [t for t in (_parse_time(r.get("finished_at")) for r in runs) if t is not None]
    try:
        wall = (max(ends) - min(starts)).total_seconds() if starts and ends else None
    except TypeError:  # naive and aware timestamps mixed
        wall = None
    first.update({
        "profile": "+".join(profiles) if profiles else first.get("profile", ""),
        "waves": sorted({w for r in runs for w in as_list(r.get("waves")) if isinstance(w, int)}),
        "started_at": min(starts).isoformat() if starts else first.get("started_at"),
        "finished_at": (max(ends).isoformat() if ends and len(ends) == len(runs) else None),
        "duration_s": round(wall if wall is not None else sum(as_float(r.get("duration_s")) for r in runs), 3),
        "interrupted": any(bool(r.get("interrupted")) for r in runs),
        "complete": all(bool(r.get("complete", not r.get("interrupted"))) for r in runs),
        "mode": modes.pop() if len(modes) == 1 else "mixed",
        "defects": sorted({text(d, 100) for r in runs for d in as_list(r.get("defects"))}),
        "reference_sandbox": any(bool(r.get("reference_sandbox")) for r in runs),
        "candidate": next((r.get("candidate") for r in runs if r.get("candidate")), None),
        "cisis_kit": next((r.get("cisis_kit") for r in runs if r.get("cisis_kit")), None),
        "catalogue": next((r.get("catalogue") for r in runs if r.get("catalogue")), None),
        "exit_status": None,
        "merged_from": [{k: r.get(k) for k in ("profile", "started_at", "finished_at", "mode", "sandbox_url",
                                                "artefacts_dir", "harness_version", "interrupted")}
                        for r in runs],
    })
    if len(profiles) > 1:
        first["profile_label"] = " + ".join(profiles)
    return first


def merge_results(inputs: list[dict[str, Any]]) -> MergeOutcome:
    from conformance.results import summarise

    outcome = MergeOutcome(results={})
    claimed: dict[str, str] = {}
    merged: dict[str, dict[str, Any]] = {}
    evidence: list[dict[str, Any]] = []
    evidence_paths: set[str] = set()
    seen_findings: dict[str, set[tuple[str, ...]]] = {}
    seen_tests: dict[str, set[tuple[str, ...]]] = {}
    proof_verdicts: dict[str, dict[str, dict[str, Any]]] = {}  # requirement -> proof id -> strongest proof
    kits = {text(as_dict(as_dict(r.get("run")).get("cisis_kit")).get("sha256"), 64) for r in inputs} - {""}
    if len(kits) > 1:
        outcome.warnings.append(("les campagnes fusionnées n'ont pas utilisé le même kit CI-SIS",
                                 "the merged runs did not use the same CI-SIS kit"))
    catalogues = {text(as_dict(as_dict(r.get("run")).get("catalogue")).get("sha256"), 64) for r in inputs} - {""}
    if len(catalogues) > 1:
        outcome.warnings.append(("les campagnes fusionnées n'ont pas utilisé le même catalogue d'exigences",
                                 "the merged runs did not use the same requirement catalogue"))
    for index, run in enumerate(inputs):
        entries, mapping = _relocate(index, run, claimed, outcome)
        for entry in entries:
            if entry["path"] not in evidence_paths:
                evidence_paths.add(entry["path"])
                evidence.append(entry)
        for raw in requirements_of(run):
            req = copy.deepcopy(raw)
            _remap_findings(req, mapping)
            rid = text(req["id"], 200)
            _fold_proofs(proof_verdicts.setdefault(rid, {}), req)
            current = merged.get(rid)
            if current is None:
                req["id"], req["verdict"] = rid, verdict_of(req.get("verdict"))
                req["section"] = text(req.get("section"), 40) or "?"
                req["mandatory"] = req.get("mandatory") is True
                tests = [t for t in as_list(req.get("tests")) if isinstance(t, dict)]
                findings = [f for f in as_list(req.get("findings")) if isinstance(f, dict)]
                req["tests"], req["findings"] = [], []
                seen_findings[rid], seen_tests[rid] = set(), set()
                _fold(req, {"verdict": req["verdict"], "tests": tests, "findings": findings},
                      seen_findings[rid], seen_tests[rid])
                merged[rid] = req
                continue
            _fold(current, req, seen_findings[rid], seen_tests[rid])
    entries_out = list(merged.values())
    from conformance.results import requirement_verdict

    for req in entries_out:
        best = proof_verdicts.get(req["id"], {})
        automated: list[str] = []
        for scenario in as_list(req.get("scenarios")):
            for proof in as_list(as_dict(scenario).get("proofs")):
                if not isinstance(proof, dict):
                    continue
                if proof.get("method") == "manual":
                    proof["verdict"] = "manual"
                    continue
                seen = best.get(text(proof.get("id"), 200))
                if seen is not None:
                    proof.update(verdict=seen["verdict"], reason=seen.get("reason", ""),
                                 reason_en=seen.get("reason_en", ""))
                else:
                    proof["verdict"] = req["verdict"]
                automated.append(proof["verdict"])
        if best:  # results format 2: the requirement follows its proofs, as in a single run
            req["verdict"] = requirement_verdict(automated, bool(req.get("manual_only")))
    run = _merge_run([as_dict(r.get("run")) for r in inputs])
    outcome.results = {"format": RESULTS_FORMAT, "format_version": RESULTS_VERSION, "run": run,
                       "summary": summarise(entries_out), "requirements": entries_out, "evidence": evidence}
    return outcome


_PROOF_PRECEDENCE = ("failed", "error", "passed", "reserved", "not_run")


def _fold_proofs(best: dict[str, dict[str, Any]], req: dict[str, Any]) -> None:
    """Per-proof verdicts across runs: failed > error > passed > reserved > not_run (format 2 inputs)."""
    for scenario in as_list(req.get("scenarios")):
        for proof in as_list(as_dict(scenario).get("proofs")):
            if not isinstance(proof, dict) or proof.get("method") == "manual" or "reason" not in proof:
                continue  # a format-1 proof carries its requirement's verdict, not its own
            verdict = proof.get("verdict")
            if verdict not in _PROOF_PRECEDENCE:
                verdict = "error"
            pid = text(proof.get("id"), 200)
            current = best.get(pid)
            if current is None or _PROOF_PRECEDENCE.index(verdict) < _PROOF_PRECEDENCE.index(current["verdict"]):
                best[pid] = {"verdict": verdict, "reason": text(proof.get("reason"), 2000),
                             "reason_en": text(proof.get("reason_en"), 2000)}


def _reason_en(req: dict[str, Any]) -> str:
    return text(req.get("reason_en"), 2000) or text(req.get("reason"), 2000)


def _fold(current: dict[str, Any], other: dict[str, Any], findings_seen: set[tuple[str, ...]],
          tests_seen: set[tuple[str, ...]]) -> None:
    """Fold one more run's entry for the same requirement into ``current``."""
    old_v = current["verdict"]
    new_v = verdict_of(other.get("verdict"))
    winner = stronger(old_v, new_v)
    # the English twin follows the French reason (``--lang en`` exports of a merge); an input written
    # before reason_en existed lends its French text, as a single run does (results.py)
    bilingual = "reason_en" in current or "reason_en" in other
    current_en, other_en = _reason_en(current), _reason_en(other)
    if winner != old_v:
        current["reason"] = other.get("reason", "")
        if bilingual:
            current["reason_en"] = other_en
    elif new_v == old_v and other.get("reason") and other.get("reason") != current.get("reason"):
        reasons = [r for r in (current.get("reason"), other.get("reason")) if r]
        current["reason"] = "; ".join(dict.fromkeys(reasons))[:2000]
        if bilingual:
            current["reason_en"] = "; ".join(dict.fromkeys(r for r in (current_en, other_en) if r))[:2000]
    current["verdict"] = winner
    for test in as_list(other.get("tests")):
        if isinstance(test, dict) and _test_key(test) not in tests_seen:
            tests_seen.add(_test_key(test))
            current["tests"].append(test)
    for f in as_list(other.get("findings")):
        if isinstance(f, dict) and finding_key(f) not in findings_seen:
            findings_seen.add(finding_key(f))
            current["findings"].append(f)
    known = {as_dict(s).get("id") for s in as_list(current.get("scenarios"))}
    for scenario in as_list(other.get("scenarios")):
        if isinstance(scenario, dict) and scenario.get("id") not in known:
            current.setdefault("scenarios", []).append(scenario)
