"""Synthetic results files, shaped exactly like ``conformance.results.build_results`` output.

Used by the report's own tests and by ``benchmarks/bench_report.py``: the report must be exercised at
the sizes the issue names (10,000 findings) without running a campaign. Deterministic for a given seed.
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path
from typing import Any

from conformance.report.common import VERDICTS

SECTIONS = ("INS", "DMP", "MSS", "PSC", "DOC", "ANN", "CDA", "SSI")
KINDS = ("Log", "Source SMTP", "Message SOAP (VIHF)", "Document CDA", "Rapport de validation")


def run_block(**overrides: Any) -> dict[str, Any]:
    run: dict[str, Any] = {
        "harness_version": "0.1.0", "profile": "MS1", "profile_label": "DUI MS1", "waves": [1], "lang": "fr",
        "started_at": "2026-01-10T10:00:00+01:00", "finished_at": "2026-01-10T10:02:03+01:00",
        "duration_s": 123.4, "interrupted": False, "complete": True, "mode": "sandbox",
        "sandbox_url": "http://127.0.0.1:8700/segur/v1", "reference_sandbox": False, "defects": [],
        "artefacts_dir": None, "cisis_kit": {"path": "/kit", "version": "3.0.1", "sha256": "ab" * 32},
        "candidate": {"product": "DUI Exemple", "version": "4.2", "vendor": "Éditeur SAS",
                      "corridors": ["MS1"], "document_types": ["DLU"]},
        "python": "3.11.7", "platform": "Linux", "exit_status": 1,
    }
    run.update(overrides)
    return run


def finding(rid: str, n: int, severity: str = "error", evidence: str = "", sha: str = "") -> dict[str, Any]:
    return {
        "message": f"valeur inattendue n°{n} pour {rid}", "message_en": f"unexpected value #{n} for {rid}",
        "severity": severity, "rule": f"RULE.{rid}.{n}", "artefact": f"doc-{n % 7}.xml",
        "xpath": f"/ClinicalDocument/component/section[{n % 5 + 1}]/code", "line": 10 + n,
        "expected": "FR", "found": "US", "requirements": [rid], "evidence": evidence, "evidence_sha256": sha,
    }


def requirement(rid: str, section: str, verdict: str, *, findings: list[dict[str, Any]] | None = None,
                manual_only: bool = False, mandatory: bool = True, proofs: int = 1,
                tests: list[dict[str, Any]] | None = None, extra_manual_proof: bool = False,
                kinds: tuple[str, ...] = ("Log",)) -> dict[str, Any]:
    proof_list = []
    for i in range(proofs):
        manual = manual_only
        proof_list.append({
            "id": f"{rid}.01.{i + 1:02d}", "kind": "Démonstration" if manual else kinds[i % len(kinds)],
            "verification": [f"point {i + 1}a", f"point {i + 1}b"], "method": "manual" if manual else "automated",
            "manual_reason": "vidéo de démonstration requise" if manual else "",
            "verdict": "manual" if manual else verdict,
        })
    if extra_manual_proof:
        proof_list.append({"id": f"{rid}.01.{proofs + 1:02d}", "kind": "Attestation",
                           "verification": ["certificat CNDA fourni"], "method": "manual",
                           "manual_reason": "certificat d'homologation CNDA", "verdict": "manual"})
    return {
        "id": rid, "section": section, "sub_section": f"{section}/CONF", "title": f"Titre de {rid}",
        "statement": f"Le système DOIT respecter {rid}.", "nature": "EXIGENCE" if mandatory else "PRECONISATION",
        "criticite": "MAJEURE", "conditional_profile": "", "wave": 1, "corridors": ["MS1", "MS2-PDE"],
        "verified": "Vd", "source": "rem.md §2", "socle": "", "refs": ["ECO.2.1.1"],
        "mandatory": mandatory, "manual_only": manual_only, "verdict": verdict,
        "reason": "" if verdict in ("passed", "failed") else f"motif {verdict}",
        "tests": tests if tests is not None else (
            [] if manual_only else [{"nodeid": f"tests/test_{section.lower()}.py::test_{rid.replace('.', '_')}",
                                     "outcome": {"passed": "passed", "failed": "failed", "error": "error",
                                                 "not_run": "skipped"}.get(verdict, "skipped"),
                                     "duration": 0.12, "message": ""}]),
        "findings": findings or [],
        "scenarios": [{"id": f"{rid}.01", "title": f"Scénario de {rid}", "proofs": proof_list}],
    }


def summary_of(entries: list[dict[str, Any]]) -> dict[str, Any]:
    from conformance.results import summarise

    return summarise(entries)


def results(entries: list[dict[str, Any]], evidence: list[dict[str, Any]] | None = None,
            **run_overrides: Any) -> dict[str, Any]:
    return {"format": "segur-conformance-results", "format_version": "2.0", "run": run_block(**run_overrides),
            "summary": summary_of(entries), "requirements": entries, "evidence": evidence or []}


def large(n_findings: int = 10_000, per_requirement: int = 10, seed: int = 7,
          report_dir: Path | None = None) -> dict[str, Any]:
    """A big run: ``n_findings`` findings spread over ``n_findings / per_requirement`` requirements.

    With ``report_dir``, one evidence file per requirement is written under ``evidence/`` so links and
    the manifest have real files to cover.
    """
    rng = random.Random(seed)
    n_reqs = max(1, n_findings // per_requirement)
    entries: list[dict[str, Any]] = []
    evidence: list[dict[str, Any]] = []
    made = 0
    for i in range(n_reqs):
        section = SECTIONS[i % len(SECTIONS)]
        rid = f"DUI.{section}.{i:04d}"
        verdict = rng.choices(VERDICTS, weights=(45, 5, 25, 5, 10, 10))[0]
        manual_only = verdict == "manual"
        nodeid = f"tests/test_{section.lower()}.py::test_{i:04d}"
        ev_path = f"evidence/test_{i:04d}/artefact-{i:04d}.xml"
        data = f"<doc n='{i}'/>\n".encode()
        sha = hashlib.sha256(data).hexdigest()
        if report_dir is not None and not manual_only:
            target = report_dir / ev_path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        if not manual_only:
            evidence.append({"path": ev_path, "sha256": sha, "size": len(data), "kind": "Document CDA",
                             "description": f"document {i}", "test": nodeid})
        count = min(per_requirement, n_findings - made)
        severities = ("error",) if verdict == "failed" else ("info", "warning")
        found = [finding(rid, k, rng.choice(severities), ev_path if k == 0 and not manual_only else "",
                         sha if k == 0 and not manual_only else "") for k in range(count)]
        if manual_only:
            found = []
        made += len(found)
        tests = [] if manual_only else [{"nodeid": nodeid, "outcome": "failed" if verdict == "failed" else
                                         "passed" if verdict == "passed" else "skipped",
                                         "duration": 0.05, "message": ""}]
        entries.append(requirement(rid, section, verdict, findings=found, manual_only=manual_only,
                                   mandatory=i % 3 != 0, proofs=1 + i % 2, tests=tests,
                                   extra_manual_proof=i % 5 == 0, kinds=("Document CDA", "Log")))
    # top up to the exact number of findings on the last requirements that carry some
    i = 0
    while made < n_findings and entries:
        entry = entries[i % len(entries)]
        if not entry["manual_only"]:
            entry["findings"].append(finding(entry["id"], 1000 + made, "warning"))
            made += 1
        i += 1
    return results(entries, evidence)
