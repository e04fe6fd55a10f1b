"""The report's view model: results dict → Section → Exigence → Scénario → Preuve, ready to print.

Kept apart from the template so the rules an auditor relies on are plain, tested Python: the ANS
section order, a manual proof never shown as passed, findings placed under the proof they belong to,
every string bounded and in the report's language.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance.report.common import (
    VERDICTS,
    as_dict,
    as_float,
    as_int,
    as_list,
    proof_verdict,
    readable,
    requirements_of,
    section_key,
    severity_of,
    text,
    verdict_of,
)
from conformance.report.evidence import EvidenceIndex, EvidenceView
from conformance.report.i18n import norm_lang, outcome_label, section_label, t

MAX_FINDINGS_PER_REQUIREMENT = 2000
_ANCHOR = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass
class FindingView:
    severity: str
    rule: str
    message: str
    artefact: str
    xpath: str
    line: str
    expected: str
    found: str
    evidence: EvidenceView | None
    proofs: tuple[str, ...] = ()
    evidence_line: int | None = None  # the line in the *stored* file (results: finding.evidence_line)

    @property
    def evidence_href(self) -> str | None:
        """The evidence view at the finding's line (``…view.html#L37``), or the raw file."""
        return self.evidence.line_href(self.evidence_line) if self.evidence is not None else None

    @property
    def where(self) -> str:
        """Artefact · XPath · line in one cell (one text node: 10k findings must stay light)."""
        line = f"l.{self.line}" if self.line else ""
        return " · ".join(p for p in (self.artefact, self.xpath, line) if p)


@dataclass
class ProofView:
    id: str
    kind: str
    description: str
    verification: list[str]
    manual: bool
    manual_reason: str
    verdict: str
    reason: str = ""
    findings: list[FindingView] = field(default_factory=list)
    evidence: list[EvidenceView] = field(default_factory=list)
    #: the vendor's files for a manual proof (``segur-conformance attach``), with their review status
    attachments: list[dict[str, Any]] = field(default_factory=list)
    #: the checker's signed decision (``segur-conformance review``): decision, note, by, at, fingerprint
    review: dict[str, str] | None = None

    @property
    def decision(self) -> str:
        """accepted | rejected | pending (a manual proof); "" for an automated one."""
        if not self.manual:
            return ""
        return self.review["decision"] if self.review else "pending"


@dataclass
class ScenarioView:
    id: str
    title: str
    proofs: list[ProofView]


@dataclass
class TestView:
    nodeid: str
    outcome: str
    duration: str
    message: str


@dataclass
class RequirementView:
    id: str
    anchor: str
    section: str
    sub_section: str
    title: str
    statement: str
    mandatory: bool
    criticite: str
    conditional_profile: str
    wave: str
    corridors: list[str]
    verified: str
    source: str
    source_internal: bool
    socle: str
    refs: list[str]
    verdict: str
    reason: str
    tests: list[TestView]
    scenarios: list[ScenarioView]
    common_findings: list[FindingView]
    other_evidence: list[EvidenceView]
    counts: dict[str, int]
    hidden_findings: int

    @property
    def open(self) -> bool:
        """Failed and not-evaluated requirements start unfolded; the rest stays collapsed."""
        return self.verdict in ("failed", "error")


@dataclass
class SectionView:
    code: str
    label: str
    anchor: str
    requirements: list[RequirementView]
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return len(self.requirements)


@dataclass
class ReportView:
    lang: str
    run: dict[str, Any]
    candidate: dict[str, str]
    sections: list[SectionView]
    totals: dict[str, int]
    mandatory: dict[str, int]
    findings_total: dict[str, int]
    status: str
    evidence: list[EvidenceView]
    harness_checks: list[dict[str, str]] = field(default_factory=list)
    #: every manual proof of the profile, one row each: the vendor's combined to-do list
    manual_todo: list[dict[str, Any]] = field(default_factory=list)


_INTERNAL_NOTE = re.compile(r"(?:^|[\s(])[\w-]+\.md\b|^paraphrase précédente", re.IGNORECASE)


def public_source(source: str) -> tuple[str, bool]:
    """The parts of a requirement's source an auditor can open (ANS documents, public data), and whether
    internal working notes (``rem.md``, ``protocols.md``) were left out. results.json keeps the full text."""
    parts = [p.strip() for p in re.split(r"\s;\s", source) if p.strip()]
    public = [p for p in parts if not _INTERNAL_NOTE.search(p)]
    return " ; ".join(public), len(public) < len(parts)


def anchor(prefix: str, ident: str) -> str:
    return f"{prefix}-{_ANCHOR.sub('_', ident)[:120]}"


def _finding(raw: dict[str, Any], lang: str, index: EvidenceIndex, report_dir: Path | None) -> FindingView:
    message = raw.get("message_en") if lang == "en" and raw.get("message_en") else raw.get("message")
    line = raw.get("line")
    return FindingView(
        severity=severity_of(raw.get("severity")),
        rule=text(raw.get("rule"), 200),
        message=readable(message, lang),
        artefact=text(raw.get("artefact"), 500),
        xpath=text(raw.get("xpath"), 1000),
        line=str(as_int(line)) if line not in (None, "") and as_int(line, -1) >= 0 else "",
        expected=readable(raw.get("expected"), lang, 1000),
        found=readable(raw.get("found"), lang, 1000),
        evidence=index.for_finding(raw, report_dir),
        proofs=tuple(text(p, 200) for p in as_list(raw.get("proofs"))[:50]),
        evidence_line=_evidence_line(raw),
    )


def _evidence_line(raw: dict[str, Any]) -> int | None:
    value = raw.get("evidence_line")
    if value is None and isinstance(raw.get("evidence"), dict):
        value = raw["evidence"].get("line")
    number = as_int(value, -1)
    return number if 0 < number < 10_000_000 else None


def _attachment(raw: dict[str, Any], index: EvidenceIndex, report_dir: Path | None) -> dict[str, Any]:
    """One attached file as shown under its proof: link, digest check, who/when, review status."""
    ev = index.for_finding({"evidence": raw.get("path"), "evidence_sha256": raw.get("sha256")}, report_dir)
    review = raw.get("review") if raw.get("review") in ("pending", "accepted", "rejected") else "pending"
    return {"ev": ev, "media": _media(ev), "name": text(raw.get("name"), 300), "by": text(raw.get("by"), 200) or "?",
            "at": text(raw.get("at"), 40), "note": text(raw.get("note"), 2000), "review": review}


def _review(raw: Any) -> dict[str, str] | None:
    """The checker's decision as applied by review.apply_review (only signed decisions reach here)."""
    if not isinstance(raw, dict) or raw.get("decision") not in ("accepted", "rejected"):
        return None
    return {"decision": str(raw["decision"]), "note": text(raw.get("note"), 2000), "by": text(raw.get("by"), 200),
            "at": text(raw.get("at"), 40), "fingerprint": text(raw.get("fingerprint"), 80)}


_IMAGE = (".png", ".jpg", ".jpeg", ".gif", ".webp")
_MAX_INLINE_IMAGE = 20 * 1024 * 1024


def _media(ev: EvidenceView | None) -> str:
    """How an attached file is shown: an image inline, anything else (PDF, video, log) as a link."""
    if ev is None or not ev.href or ev.status != "ok":
        return "link"
    if ev.path.lower().endswith(_IMAGE) and as_int(ev.size) <= _MAX_INLINE_IMAGE:
        return "image"
    return "link"


def _counts(findings: list[dict[str, Any]]) -> dict[str, int]:
    counts = {"error": 0, "warning": 0, "info": 0}
    for f in findings:
        counts[severity_of(f.get("severity"))] += 1
    return counts


def _requirement(raw: dict[str, Any], lang: str, index: EvidenceIndex, report_dir: Path | None
                 ) -> RequirementView:
    rid = text(raw.get("id"), 200)
    verdict = verdict_of(raw.get("verdict"))
    raw_findings = [f for f in as_list(raw.get("findings")) if isinstance(f, dict)]
    shown = raw_findings[:MAX_FINDINGS_PER_REQUIREMENT]
    findings = [_finding(f, lang, index, report_dir) for f in shown]
    tests = [TestView(nodeid=text(x.get("nodeid"), 500), outcome=outcome_label(text(x.get("outcome"), 20), lang),
                      duration=f"{as_float(x.get('duration')):.2f}",
                      message=readable(x.get("message_en") if lang == "en" and x.get("message_en") else x.get("message"),
                                       lang, 1500))
             for x in as_list(raw.get("tests")) if isinstance(x, dict)]
    # evidence collected by the tests of this requirement, plus any a finding names
    evidence: list[EvidenceView] = []
    for test in tests:
        evidence.extend(index.by_test.get(test.nodeid, []))
    scenarios: list[ScenarioView] = []
    automated: list[ProofView] = []
    for s in as_list(raw.get("scenarios")):
        if not isinstance(s, dict):
            continue
        proofs: list[ProofView] = []
        for p in as_list(s.get("proofs")):
            if not isinstance(p, dict):
                continue
            manual = p.get("method") == "manual"
            proof = ProofView(
                id=text(p.get("id"), 200), kind=text(p.get("kind"), 200),
                description=text(p.get("description"), 2000),
                verification=[text(v, 1000) for v in as_list(p.get("verification"))],
                manual=manual, manual_reason=text(p.get("manual_reason"), 2000),
                verdict=proof_verdict(p, verdict),
                reason=readable(p.get("reason_en") if lang == "en" and p.get("reason_en") else p.get("reason"), lang,
                                1500),
                attachments=[_attachment(a, index, report_dir) for a in as_list(p.get("attachments"))[:200]
                             if isinstance(a, dict)],
                review=_review(p.get("review")) if manual else None)
            proofs.append(proof)
            if not manual:
                automated.append(proof)
        scenarios.append(ScenarioView(id=text(s.get("id"), 200), title=text(s.get("title"), 1000), proofs=proofs))
    verdict = _reviewed_verdict(verdict, [p for sc in scenarios for p in sc.proofs])
    common, placed_evidence = _place(findings, evidence, automated)
    shown_source, internal = public_source(text(raw.get("source"), 4000))
    other = [e for e in dict.fromkeys(evidence) if e.path not in placed_evidence]
    return RequirementView(
        id=rid, anchor=anchor("req", rid), section=text(raw.get("section") or "?", 40),
        sub_section=text(raw.get("sub_section"), 80), title=text(raw.get("title"), 500),
        statement=text(raw.get("statement")), mandatory=bool(raw.get("mandatory")),
        criticite=text(raw.get("criticite"), 20), conditional_profile=text(raw.get("conditional_profile"), 500),
        wave=text(raw.get("wave"), 10), corridors=[text(c, 40) for c in as_list(raw.get("corridors"))],
        verified=text(raw.get("verified"), 4), source=text(shown_source, 600), source_internal=internal,
        socle=text(raw.get("socle"), 200), refs=[text(r, 200) for r in as_list(raw.get("refs"))],
        verdict=verdict, reason=readable(raw.get("reason_en") if lang == "en" and raw.get("reason_en")
                                         else raw.get("reason"), lang),
        tests=tests, scenarios=scenarios,
        common_findings=common, other_evidence=other, counts=_counts(raw_findings),
        hidden_findings=len(raw_findings) - len(shown),
    )


def _reviewed_verdict(verdict: str, proofs: list[ProofView]) -> str:
    """The checker's signed decisions on manual proofs: one rejected makes the requirement fail; a
    requirement that only waited for manual proofs passes once every one of them is accepted."""
    decisions = [p.decision for p in proofs if p.manual]
    if not decisions:
        return verdict
    if "rejected" in decisions and verdict in ("passed", "reserved", "manual"):
        return "failed"
    if verdict == "manual" and all(d == "accepted" for d in decisions):
        return "passed"
    return verdict


def _place(findings: list[FindingView], evidence: list[EvidenceView], automated: list[ProofView]
           ) -> tuple[list[FindingView], set[str]]:
    """Put each finding and evidence file under the automated proof it belongs to.

    With one automated proof, everything goes there. With several, the ANS proof kind decides (a
    finding on an SMTP source goes under the "Source SMTP" proof); what cannot be placed is shown once
    at the requirement level rather than guessed.
    """
    placed: set[str] = set()
    if not automated:
        return findings, placed
    by_kind: dict[str, list[ProofView]] = {}
    for proof in automated:
        by_kind.setdefault(proof.kind, []).append(proof)

    def target(kind: str) -> ProofView | None:
        if len(automated) == 1:
            return automated[0]
        matches = by_kind.get(kind, [])
        return matches[0] if len(matches) == 1 else None

    for ev in dict.fromkeys(evidence):
        home = target(ev.kind)
        if home is not None:
            home.evidence.append(ev)
            placed.add(ev.path)
    common: list[FindingView] = []
    by_id = {p.id: p for p in automated}
    for finding in findings:
        homes = [by_id[p] for p in finding.proofs if p in by_id]
        if homes:  # results format 2: the finding names its proofs
            for home in homes:
                home.findings.append(finding)
            continue
        home = target(finding.evidence.kind) if finding.evidence is not None else (
            automated[0] if len(automated) == 1 else None)
        if home is None:
            common.append(finding)
        else:
            home.findings.append(finding)
    return common, placed


def overall_status(requirements: list[RequirementView]) -> str:
    mandatory = [r for r in requirements if r.mandatory]
    verdicts = {r.verdict for r in mandatory}
    if verdicts & {"failed", "error"}:
        return "failed"
    if "reserved" in verdicts:
        return "reserved"
    if "not_run" in verdicts:
        return "incomplete"
    decisions = [p.decision for r in mandatory for s in r.scenarios for p in s.proofs if p.manual]
    if "manual" in verdicts or any(d != "accepted" for d in decisions):
        return "manual"  # CONFORME SOUS RÉSERVE des preuves manuelles
    return "passed"


def build_view(results: dict[str, Any], lang: str, report_dir: Path | None) -> ReportView:
    lang = norm_lang(lang)
    index = EvidenceIndex(as_list(results.get("evidence")), report_dir)
    reqs = [_requirement(r, lang, index, report_dir) for r in requirements_of(results)]
    grouped: dict[str, list[RequirementView]] = {}
    for req in reqs:
        grouped.setdefault(req.section, []).append(req)
    sections = []
    for code in sorted(grouped, key=section_key):
        members = grouped[code]
        counts = {v: sum(1 for r in members if r.verdict == v) for v in VERDICTS}
        sections.append(SectionView(code=code, label=section_label(code, lang), anchor=anchor("sec", code),
                                    requirements=members, counts=counts))
    totals = {v: sum(1 for r in reqs if r.verdict == v) for v in VERDICTS}
    totals["total"] = len(reqs)
    mandatory = {v: sum(1 for r in reqs if r.mandatory and r.verdict == v) for v in VERDICTS}
    mandatory["total"] = sum(1 for r in reqs if r.mandatory)
    findings_total = {k: sum(r.counts[k] for r in reqs) for k in ("error", "warning", "info")}
    run = as_dict(results.get("run"))
    cand = as_dict(run.get("candidate"))
    unknown = t("hdr.unknown", lang)
    candidate = {k: text(cand.get(k), 200) or unknown for k in ("product", "version", "vendor")}
    checks = []
    for c in as_list(results.get("harness_checks")):
        if isinstance(c, dict):
            en = lang == "en"
            checks.append({"id": text(c.get("id"), 100), "verdict": verdict_of(c.get("verdict")),
                           "title": text(c.get("title_en") if en and c.get("title_en") else c.get("title"), 300),
                           "reason": readable(c.get("reason_en") if en and c.get("reason_en") else c.get("reason"),
                                              lang, 1500)})
    status = overall_status(reqs)
    if any(c["verdict"] in ("failed", "error") for c in checks):
        status = "failed"
    todo = [{"requirement": r.id, "anchor": r.anchor, "proof": p.id, "kind": p.kind,
             "points": text("; ".join(p.verification) or p.description, 400), "decision": p.decision,
             "files": len(p.attachments)}
            for s in sections for r in s.requirements for sc in r.scenarios for p in sc.proofs if p.manual]
    return ReportView(lang=lang, run=run, candidate=candidate, sections=sections, totals=totals,
                      mandatory=mandatory, findings_total=findings_total, status=status,
                      evidence=index.items, harness_checks=checks, manual_todo=todo)
