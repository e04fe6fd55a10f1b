"""The run's collector and outputs: test records merged phase by phase, results.json (flushed during the
run, final at the end), the human report and the terminal summary."""

from __future__ import annotations

import platform
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from conformance import __version__
from conformance.evidence import link_findings
from conformance.findings import Finding
from conformance.plugin.options import REFERENCE
from conformance.plugin.state import SegurState, _is_worker, _now, harness_entry
from conformance.results import TestRecord, aggregate, attach_captures, build_results, write_results

if TYPE_CHECKING:
    from conformance.requirements import Catalogue

FLUSH_EVERY_S = 2.0
_RANK = {"passed": 0, "skipped": 1, "not_run": 1, "not_evaluated": 2, "error": 3, "failed": 4}


def _merge_phase(record: TestRecord, value: dict[str, Any], duration: float) -> None:
    """A test has up to three phases; keep the worst outcome and every finding."""
    outcome = value["outcome"]
    phase = value.get("phase")
    if phase == "teardown" and outcome == "skipped":
        return
    current = record.outcome if record.findings or record.message or record.duration else None
    if current is None or _RANK[outcome] > _RANK[current] or phase == "setup":
        if not (current == "failed" and outcome != "failed"):
            record.outcome = outcome
            record.message = value.get("message", "") or record.message
            record.message_en = value.get("message_en", "") or value.get("message", "") or record.message_en
            record.findings_failure = bool(value.get("findings_failure"))
    record.duration += duration
    seen = set(record.findings)  # a set: a test over 10,000 documents records ~100,000 findings (issue 15)
    for f in value.get("findings", []):
        finding = Finding.from_dict(f)
        if finding not in seen:
            seen.add(finding)
            record.findings.append(finding)
    record.evidence.extend(value.get("evidence", []))


class SessionReporter:
    """Per-run collector registered in ``pytest_configure`` (one per config, so ``pytester`` runs nest)."""

    def __init__(self, config: pytest.Config, state: SegurState) -> None:
        self.config = config
        self.state = state

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if _is_worker(self.config):
            return
        state = self.state
        for name, raw in report.user_properties:
            if name == "segur_captures" and isinstance(raw, list):
                state.captures.extend(raw)
                state.evidence.extend(c["evidence"] for c in raw)
                continue
            if name == "segur_harness" and isinstance(raw, dict):
                previous = state.harness.get(raw["id"])
                if previous is None or _RANK.get(raw["verdict"], 0) >= _RANK.get(previous["verdict"], 0):
                    state.harness[raw["id"]] = raw
                continue
            if name != "segur" or not isinstance(raw, dict):
                continue
            value: dict[str, Any] = raw
            record = state.records.get(report.nodeid)
            if record is None:
                record = TestRecord(nodeid=report.nodeid, requirements=tuple(value["requirements"]),
                                    proofs=tuple(value.get("proofs", ())))
                state.records[report.nodeid] = record
            _merge_phase(record, value, report.duration)
            for ev in value.get("evidence", []):
                key = _evidence_key(ev)
                if key not in state.evidence_keys:
                    state.evidence_keys.add(key)
                    state.evidence.append(ev)
        # a flush costs more as findings grow: wait at least 5× the last one (at most ~1/6 of the run)
        if state.config.report_dir and state.active and \
                time.time() - state.last_flush > max(FLUSH_EVERY_S, 5 * state.flush_cost):
            started = time.time()
            _write(state, final=False)
            state.flush_cost = time.time() - started

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        self.state.interrupted = True

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: object, error: object) -> None:  # node: an xdist WorkerController
        """pytest-xdist: the candidate was opened in the workers; bring what it declared back here."""
        seen = (getattr(node, "workeroutput", None) or {}).get("segur_candidate")
        if not seen:
            return
        state = self.state
        if state.candidate_caps is None and seen.get("caps") is not None:
            state.candidate_caps = seen["caps"]
        state.sandbox_url_effective = state.sandbox_url_effective or seen.get("url")
        state.candidate_problem = state.candidate_problem or seen.get("problem") or ""

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if _is_worker(self.config):
            state = self.state
            self.config.workeroutput["segur_candidate"] = {  # type: ignore[attr-defined]
                "caps": state.candidate_caps, "url": state.sandbox_url_effective,
                "problem": state.candidate_problem}
            return
        state = self.state
        if exitstatus == pytest.ExitCode.INTERRUPTED:
            state.interrupted = True
        if state.config.report_dir and state.active:
            _release_reports(self.config)
            results = _write(state, final=True, exitstatus=int(exitstatus))
            _write_report(state, results)

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config) -> None:
        _terminal_summary(self.state, terminalreporter)


def run_metadata(state: SegurState, *, final: bool, exitstatus: int | None = None) -> dict[str, Any]:
    seg = state.config
    profile = state.profile
    return {
        "harness_version": __version__,
        "run_id": run_id(state),
        "profile": profile.id if profile else seg.profile_name,
        "profile_label": getattr(profile, "label", ""),
        "waves": list(getattr(profile, "waves", ())),
        "lang": seg.lang,
        "started_at": state.started_at,
        "finished_at": _now() if final else None,
        "duration_s": round(time.time() - state.started, 3),
        "interrupted": state.interrupted,
        "complete": final and not state.interrupted,
        "mode": seg.mode,
        "sandbox_url": state.sandbox_url_effective or seg.sandbox_url,
        "reference_sandbox": seg.sandbox_url == REFERENCE,
        "defects": list(seg.defects),
        "artefacts_dir": str(seg.artefacts_dir) if seg.artefacts_dir else None,
        "cisis_kit": kit_metadata(seg.cisis_kit, state),
        "catalogue": catalogue_metadata(catalogue=state.catalogue) if state.catalogue is not None else None,
        "candidate": state.candidate_caps,
        "candidate_problem": state.candidate_problem or None,
        "selection": state.selection or None,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "exit_status": exitstatus,
    }


def run_id(state: SegurState) -> str:
    """One UUID per run, the same in every flush of results.json (cited on each page of the dossier)."""
    if not state.run_uuid:
        import uuid

        state.run_uuid = str(uuid.uuid4())
    return state.run_uuid


def catalogue_metadata(catalogue: Catalogue | None) -> dict[str, Any]:
    """Version, origin and SHA-256 of the requirement catalogue the run judged against (issue 18)."""
    from conformance.requirements import catalogue_metadata as metadata

    return metadata(catalogue=catalogue)


def kit_metadata(path: Path | None, state: SegurState) -> dict[str, Any] | None:
    if path is None:
        return None
    if state.kit_info is None:
        info_: dict[str, Any] = {"path": str(path), "version": "inconnue", "sha256": None}
        try:
            from conformance.cda.kit import Kit

            kit = Kit.open(path)
            info_.update(version=str(kit.version), sha256=str(kit.sha256))
        except Exception as exc:  # the kit module reports its own problems elsewhere
            info_["error"] = f"{type(exc).__name__}: {exc}"
        state.kit_info = info_
    return state.kit_info


def _release_reports(config: pytest.Config) -> None:
    """Drop the findings copy each pytest report still carries (``user_properties``): they now live in
    ``state.records``, and pytest keeps every report to the end for its summary; with 10,000 documents
    that copy is ~100 MB held while the report bundle is written (issue 15). JUnit XML already took its
    properties when each report arrived."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    for reports in (getattr(reporter, "stats", None) or {}).values():
        for rep in reports:
            props = getattr(rep, "user_properties", None)
            if props:
                rep.user_properties = [(name, value) for name, value in props if name != "segur"]


def _evidence_key(entry: object) -> str:
    """A hashable identity of an evidence entry (a dict), for de-duplication in linear time."""
    import json

    return json.dumps(entry, sort_keys=True, default=str) if isinstance(entry, dict) else repr(entry)


def _write(state: SegurState, *, final: bool, exitstatus: int | None = None) -> dict[str, Any]:
    catalogue, profile = state.loaded()
    assert state.config.report_dir is not None
    requirements = [catalogue[rid] for rid in profile.requirement_ids]
    order = {r.id: i for i, r in enumerate(catalogue)}
    requirements.sort(key=lambda r: order.get(r.id, 0))
    entries = aggregate(requirements, state.records.values(), state.rule_map)
    attach_captures(entries, state.captures)
    results = build_results(run_metadata(state, final=final, exitstatus=exitstatus), entries, state.evidence,
                            harness_checks(state))
    link_findings(results, state.config.report_dir)  # each finding → the stored file and line (issue 13)
    write_results(state.config.report_dir / "results.json", results)
    state.last_flush = time.time()
    return results


def harness_checks(state: SegurState) -> list[dict[str, Any]]:
    """The campaign preconditions, in a stable order: preflight, then the marked checks, then problems."""
    checks = dict(state.harness)
    if state.candidate_problem and not any(c["verdict"] in ("failed", "error") for c in checks.values()):
        checks["HARNESS.CANDIDATE"] = harness_entry(
            "HARNESS.CANDIDATE", "Capacités déclarées par le candidat", "Capabilities declared by the candidate",
            "failed", state.candidate_problem)
    order = {"HARNESS.PREFLIGHT": 0}
    return [checks[k] for k in sorted(checks, key=lambda k: (order.get(k, 1), k))]


def _write_report(state: SegurState, results: dict[str, Any]) -> None:
    """Render the human report; a rendering bug must never cost the results file."""
    assert state.config.report_dir is not None
    try:
        from conformance.report.render import write_reports

        write_reports(results, state.config.report_dir, state.config.lang)
    except Exception as exc:
        sys.stderr.write(f"segur-conformance: report rendering failed ({type(exc).__name__}: {exc}); "
                         f"results.json is complete\n")


def _terminal_summary(state: SegurState, terminalreporter: pytest.TerminalReporter) -> None:
    if not state.active or state.catalogue is None or not (state.records or state.harness):
        return
    catalogue, profile = state.loaded()
    requirements = [catalogue[rid] for rid in profile.requirement_ids]
    entries = aggregate(requirements, state.records.values(), state.rule_map)
    en = state.config.lang == "en"
    terminalreporter.section(f"segur-conformance — {profile.id}")
    for check in harness_checks(state):
        if check["verdict"] in ("failed", "error", "reserved"):
            title = check["title_en"] if en else check["title"]
            reason = check["reason_en"] if en else check["reason"]
            label = ("WARNING" if en else "ATTENTION") if check["verdict"] == "reserved" else check["verdict"].upper()
            terminalreporter.write_line(f"  {label:7} {check['id']}  {title}", red=check["verdict"] != "reserved",
                                        yellow=check["verdict"] == "reserved")
            terminalreporter.write_line(f"          {reason[:600]}")
    counts: dict[str, int] = {}
    for entry in entries:
        counts[entry["verdict"]] = counts.get(entry["verdict"], 0) + 1
    terminalreporter.write_line(
        ("requirements: " if en else "exigences : ") + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    for line in failing_proof_lines(entries, en):
        terminalreporter.write_line(line)
    if state.config.report_dir:
        terminalreporter.write_line(f"{'report:' if en else 'rapport :'} {state.config.report_dir}")


def failing_proof_lines(entries: list[dict[str, Any]], en: bool, limit: int = 40) -> list[str]:
    """One line per FAILED/ERROR requirement, then one per failing proof with its reason."""
    lines: list[str] = []
    for entry in entries:
        if entry["verdict"] not in ("failed", "error"):
            continue
        lines.append(f"  {entry['verdict'].upper():7} {entry['id']}  {entry['title']}")
        proofs = {p["id"]: p for s in entry.get("scenarios", []) for p in s.get("proofs", [])}
        for pid in entry.get("failing_proofs", []):
            proof = proofs.get(pid, {})
            reason = (proof.get("reason_en") if en else proof.get("reason")) or ""
            lines.append(f"      {proof.get('verdict', '?'):7} {pid}: {reason[:220]}")
        if len(lines) >= limit:
            lines.append("  …")
            break
    return lines
