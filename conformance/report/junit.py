"""JUnit XML for vendor CI: one ``<testcase>`` per requirement, not per pytest test.

CI dashboards (GitLab, Jenkins, Azure) then track *requirements* across builds. The requirement id is the
testcase ``name`` (stable when the official REM texts replace our paraphrases) and the classname is
``segur.<profile>.<section>``. The output validates against the Jenkins xunit ``junit-10.xsd`` (the
schema pytest itself is checked against). That schema allows ``<properties>`` only on ``<testsuite>``,
so each section's suite carries the run properties plus ``<requirement id>.<attribute>`` properties for
its requirements, and every testcase repeats the key facts in ``<system-out>``.

Verdicts map to: failed → ``<failure>``, error (could not evaluate) → ``<error>``, not_run and manual →
``<skipped>`` with the reason (a manual proof is never reported as a pass).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lxml import etree

from conformance.report.common import (
    as_dict,
    as_float,
    as_list,
    proof_verdict,
    requirements_of,
    section_key,
    severity_of,
    text,
    verdict_of,
)

MAX_FINDINGS_OUT = 200


def _clean(value: Any, limit: int = 4000) -> str:
    # common.text already replaces XML-illegal control characters
    return text(value, limit)


def _prop(parent: etree._Element, name: str, value: Any) -> None:
    etree.SubElement(parent, "property", name=_clean(name, 300), value=_clean(value, 2000))


def _finding_line(f: dict[str, Any]) -> str:
    where = " ".join(p for p in (_clean(f.get("artefact"), 300), _clean(f.get("xpath"), 500),
                                 f"l.{f['line']}" if f.get("line") not in (None, "") else "") if p)
    exp = ""
    if f.get("expected") or f.get("found"):
        exp = f" (attendu/expected: {_clean(f.get('expected'), 300)!r}, trouvé/found: {_clean(f.get('found'), 300)!r})"
    return f"[{severity_of(f.get('severity'))}] [{_clean(f.get('rule'), 200) or '-'}] {_clean(f.get('message'), 1000)}{exp} {where}".rstrip()


def _system_out(req: dict[str, Any], verdict: str) -> str:
    lines = [
        f"requirement: {_clean(req.get('id'), 200)}",
        f"title: {_clean(req.get('title'), 500)}",
        f"nature: {_clean(req.get('nature'), 40)} ({'DOIT' if req.get('mandatory') else 'PEUT'})",
        f"criticite: {_clean(req.get('criticite'), 40)}",
        f"wave: {_clean(req.get('wave'), 10)}",
        f"corridors: {', '.join(_clean(c, 40) for c in as_list(req.get('corridors')))}",
        f"verified: {_clean(req.get('verified'), 4)}",
        f"verdict: {verdict}",
    ]
    if req.get("conditional_profile"):
        lines.append(f"conditional_profile: {_clean(req.get('conditional_profile'), 500)}")
    for scenario in as_list(req.get("scenarios")):
        if not isinstance(scenario, dict):
            continue
        for proof in as_list(scenario.get("proofs")):
            if isinstance(proof, dict):
                lines.append(f"proof {_clean(proof.get('id'), 200)} [{_clean(proof.get('kind'), 100)}]: "
                             f"{proof_verdict(proof, verdict)}")
    findings = [f for f in as_list(req.get("findings")) if isinstance(f, dict)]
    for f in findings[:MAX_FINDINGS_OUT]:
        lines.append(_finding_line(f))
    if len(findings) > MAX_FINDINGS_OUT:
        lines.append(f"... {len(findings) - MAX_FINDINGS_OUT} more finding(s) in results.json")
    for test in as_list(req.get("tests")):
        if isinstance(test, dict):
            lines.append(f"test {_clean(test.get('nodeid'), 500)}: {_clean(test.get('outcome'), 20)}")
    return "\n".join(lines)


def _testcase(suite: etree._Element, req: dict[str, Any], classname: str) -> str:
    verdict = verdict_of(req.get("verdict"))
    duration = sum(as_float(t.get("duration")) for t in as_list(req.get("tests")) if isinstance(t, dict))
    case = etree.SubElement(suite, "testcase", name=_clean(req.get("id"), 200), classname=classname,
                            time=f"{duration:.3f}")
    errors = [f for f in as_list(req.get("findings")) if isinstance(f, dict) and severity_of(f.get("severity")) == "error"]
    reason = _clean(req.get("reason"), 2000)
    if verdict == "failed":
        first = _clean(errors[0].get("message"), 500) if errors else reason
        node = etree.SubElement(case, "failure", type="segur.failed",
                                message=f"{len(errors)} constat(s) bloquant(s) / blocking finding(s): {first}")
        node.text = "\n".join(_finding_line(f) for f in errors[:MAX_FINDINGS_OUT])
    elif verdict == "error":
        node = etree.SubElement(case, "error", type="segur.not_evaluated",
                                message=f"non évalué / not evaluated: {reason}")
        node.text = reason
    elif verdict == "not_run":
        etree.SubElement(case, "skipped", type="segur.not_run", message=f"non testé / not tested: {reason}")
    elif verdict == "manual":
        etree.SubElement(case, "skipped", type="segur.manual",
                         message="preuve manuelle requise / manual evidence required")
    out = etree.SubElement(case, "system-out")
    out.text = _system_out(req, verdict)
    return verdict


def build_junit(results: dict[str, Any]) -> etree._Element:
    run = as_dict(results.get("run"))
    profile = _clean(run.get("profile"), 40) or "profile"
    grouped: dict[str, list[dict[str, Any]]] = {}
    for req in requirements_of(results):
        grouped.setdefault(_clean(req.get("section"), 40) or "?", []).append(req)
    root = etree.Element("testsuites", name=f"segur-conformance {profile}")
    totals = {"tests": 0, "failures": 0, "errors": 0, "time": 0.0}
    timestamp = _clean(run.get("started_at"), 40)
    for section in sorted(grouped, key=section_key):
        reqs = grouped[section]
        suite = etree.SubElement(root, "testsuite", name=f"{profile}.{section}", tests=str(len(reqs)),
                                 failures="0", errors="0", skipped="0")
        if timestamp:
            suite.set("timestamp", timestamp)
        props = etree.SubElement(suite, "properties")
        _prop(props, "profile", profile)
        _prop(props, "harness_version", run.get("harness_version"))
        cand = as_dict(run.get("candidate"))
        for key in ("product", "version", "vendor"):
            if cand.get(key):
                _prop(props, f"candidate.{key}", cand.get(key))
        kit = as_dict(run.get("cisis_kit"))
        if kit:
            _prop(props, "cisis_kit.version", kit.get("version"))
            _prop(props, "cisis_kit.sha256", kit.get("sha256"))
        for req in reqs:
            rid = _clean(req.get("id"), 200)
            for attr in ("verdict", "title", "nature", "criticite", "wave", "verified", "conditional_profile",
                         "source"):
                _prop(props, f"{rid}.{attr}", req.get(attr))
            _prop(props, f"{rid}.mandatory", "true" if req.get("mandatory") else "false")
            _prop(props, f"{rid}.corridors", ",".join(_clean(c, 40) for c in as_list(req.get("corridors"))))
        counts = {"failed": 0, "error": 0, "skipped": 0}
        time_total = 0.0
        for req in reqs:
            verdict = _testcase(suite, req, f"segur.{profile}.{section}")
            time_total += sum(as_float(t.get("duration")) for t in as_list(req.get("tests")) if isinstance(t, dict))
            if verdict == "failed":
                counts["failed"] += 1
            elif verdict == "error":
                counts["error"] += 1
            elif verdict in ("not_run", "manual"):
                counts["skipped"] += 1
        suite.set("failures", str(counts["failed"]))
        suite.set("errors", str(counts["error"]))
        suite.set("skipped", str(counts["skipped"]))
        suite.set("time", f"{time_total:.3f}")
        totals["tests"] += len(reqs)
        totals["failures"] += counts["failed"]
        totals["errors"] += counts["error"]
        totals["time"] += time_total
    root.set("tests", str(totals["tests"]))
    root.set("failures", str(totals["failures"]))
    root.set("errors", str(totals["errors"]))
    root.set("time", f"{totals['time']:.3f}")
    return root


def junit_bytes(results: dict[str, Any]) -> bytes:
    return bytes(etree.tostring(build_junit(results), xml_declaration=True, encoding="UTF-8", pretty_print=True))


def write_junit(results: dict[str, Any], path: Path) -> Path:
    from conformance.evidence import atomic_write

    atomic_write(path, junit_bytes(results))
    return path
