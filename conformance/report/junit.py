"""JUnit XML for vendor CI: one ``<testcase>`` per requirement, not per pytest test.

CI dashboards (GitLab, Jenkins, Azure) then track *requirements* across builds. The requirement id is the
testcase ``name`` (stable when the official REM texts replace our paraphrases) and the classname is
``segur.<profile>.<section>``.

Where things are, for a CI screen:

- each section's ``<testsuite>`` carries the run's properties (profile, harness, candidate, kit, and the
  requirement catalogue's version, SHA-256 and origin);
- each ``<testcase>`` carries its requirement's metadata as its own ``<properties>`` (verdict, title,
  nature, mandatory, criticality, wave, corridors, text reliability, public source, per-proof verdicts),
  the form pytest's ``record_property`` writes and Jenkins, GitLab and Azure show per test;
- the evidence a requirement rests on is listed in its ``<system-out>`` as ``[[ATTACHMENT|path]]``
  lines (the Jenkins JUnit Attachments convention, also read by GitLab), paths relative to the report
  folder: the files its findings were read from, the files its tests stored, the vendor's files
  attached to its manual proofs.

Verdicts map to: failed → ``<failure>``, error (could not evaluate) → ``<error type="segur.not_evaluated">``,
not_run → ``<skipped type="segur.not_run">``, and a requirement that waits for the vendor's manual proofs →
``<skipped type="segur.manual">``: *skipped means "manual evidence to supply and review"*, never a pass
and never a harness gap (docs/report.md). Without the testcase properties, the file validates against
the Jenkins xunit ``junit-10.xsd``, which allows properties on suites only.
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
    readable,
    requirements_of,
    section_key,
    severity_of,
    text,
    verdict_of,
)
from conformance.report.evidence import safe_relpath
from conformance.report.i18n import kind_label, t

MAX_FINDINGS_OUT = 200


def _clean(value: Any, limit: int = 4000) -> str:
    # common.text already replaces XML-illegal control characters
    return text(value, limit)


def _prop(parent: etree._Element, name: str, value: Any) -> None:
    etree.SubElement(parent, "property", name=_clean(name, 300), value=_clean(value, 2000))


def _finding_line(f: dict[str, Any], lang: str = "fr") -> str:
    where = " ".join(p for p in (_clean(f.get("artefact"), 300), _clean(f.get("xpath"), 500),
                                 f"l.{f['line']}" if f.get("line") not in (None, "") else "") if p)
    exp = ""
    if f.get("expected") or f.get("found"):
        labels = ("attendu", "trouvé") if lang == "fr" else ("expected", "found")
        exp = (f" ({labels[0]} « {readable(f.get('expected'), lang, 300)} », "
               f"{labels[1]} « {readable(f.get('found'), lang, 300)} »)")
    message = f.get("message_en") if lang == "en" and f.get("message_en") else f.get("message")
    return (f"[{severity_of(f.get('severity'))}] [{_clean(f.get('rule'), 200) or '-'}] "
            f"{readable(message, lang, 1000)}{exp} {where}").rstrip()


MAX_ATTACHMENTS = 200


def _evidence_paths(req: dict[str, Any], by_test: dict[str, list[str]]) -> list[str]:
    """Bundle-relative files this requirement rests on: its findings' files, its tests' stored files,
    the vendor's files attached to its manual proofs (first seen first, no duplicate, bounded)."""
    paths: list[Any] = []
    for f in as_list(req.get("findings")):
        if isinstance(f, dict):
            ev = f.get("evidence")
            paths.append(ev.get("path") if isinstance(ev, dict) else ev)
    for test in as_list(req.get("tests")):
        if isinstance(test, dict):
            paths.extend(by_test.get(str(test.get("nodeid")), []))
    for scenario in as_list(req.get("scenarios")):
        for proof in as_list(scenario.get("proofs")) if isinstance(scenario, dict) else []:
            for att in as_list(proof.get("attachments")) if isinstance(proof, dict) else []:
                if isinstance(att, dict):
                    paths.append(att.get("path"))
    out = [p for p in (safe_relpath(p) if isinstance(p, str) else None for p in paths) if p]
    return list(dict.fromkeys(out))[:MAX_ATTACHMENTS]


def _system_out(req: dict[str, Any], verdict: str, lang: str, attachments: list[str]) -> str:
    lines = [
        f"requirement: {_clean(req.get('id'), 200)}",
        f"title: {_clean(req.get('title'), 500)}",
        f"verdict: {verdict} ({t('verdict.' + verdict, lang)})",
    ]
    for scenario in as_list(req.get("scenarios")):
        if not isinstance(scenario, dict):
            continue
        for proof in as_list(scenario.get("proofs")):
            if isinstance(proof, dict):
                pv = proof_verdict(proof, verdict)
                lines.append(f"proof {_clean(proof.get('id'), 200)} [{kind_label(_clean(proof.get('kind'), 100), lang)}]: "
                             f"{pv} ({t('verdict.' + pv, lang)})" + _review_note(proof, lang))
    findings = [f for f in as_list(req.get("findings")) if isinstance(f, dict)]
    for f in findings[:MAX_FINDINGS_OUT]:
        lines.append(_finding_line(f, lang))
    if len(findings) > MAX_FINDINGS_OUT:
        lines.append(f"... {len(findings) - MAX_FINDINGS_OUT} more finding(s) in results.json")
    for test in as_list(req.get("tests")):
        if isinstance(test, dict):
            lines.append(f"test {_clean(test.get('nodeid'), 500)}: {_clean(test.get('outcome'), 20)}")
    lines.extend(f"[[ATTACHMENT|{path}]]" for path in attachments)
    return "\n".join(lines)


def _review_note(proof: dict[str, Any], lang: str) -> str:
    review = proof.get("review")
    if proof.get("method") != "manual" or not isinstance(review, dict) or review.get("decision") not in (
            "accepted", "rejected"):
        return ""
    return f" — {t('review.' + review['decision'], lang)} ({_clean(review.get('by'), 200)})"


def _case_properties(case: etree._Element, req: dict[str, Any], verdict: str) -> None:
    from conformance.report.view import public_source

    props = etree.SubElement(case, "properties")
    _prop(props, "verdict", verdict)
    for attr in ("title", "nature", "criticite", "wave", "verified", "conditional_profile"):
        if req.get(attr) not in (None, ""):
            _prop(props, attr, req.get(attr))
    _prop(props, "mandatory", "true" if req.get("mandatory") else "false")
    _prop(props, "corridors", ",".join(_clean(c, 40) for c in as_list(req.get("corridors"))))
    source, _ = public_source(_clean(req.get("source"), 4000))
    if source:
        _prop(props, "source", source)
    for scenario in as_list(req.get("scenarios")):
        for proof in as_list(scenario.get("proofs")) if isinstance(scenario, dict) else []:
            if isinstance(proof, dict) and proof.get("id"):
                _prop(props, f"proof.{_clean(proof.get('id'), 200)}", proof_verdict(proof, verdict))


def _testcase(suite: etree._Element, req: dict[str, Any], classname: str, lang: str,
              by_test: dict[str, list[str]]) -> str:
    verdict = verdict_of(req.get("verdict"))
    duration = sum(as_float(x.get("duration")) for x in as_list(req.get("tests")) if isinstance(x, dict))
    case = etree.SubElement(suite, "testcase", name=_clean(req.get("id"), 200), classname=classname,
                            time=f"{duration:.3f}")
    _case_properties(case, req, verdict)
    errors = [f for f in as_list(req.get("findings")) if isinstance(f, dict) and severity_of(f.get("severity")) == "error"]
    reason = readable(req.get("reason_en") if lang == "en" and req.get("reason_en") else req.get("reason"), lang, 2000)
    if verdict == "failed":
        first = errors[0] if errors else None
        head = readable((first.get("message_en") if lang == "en" and first.get("message_en") else first.get("message"))
                        if first else reason, lang, 500)
        node = etree.SubElement(case, "failure", type="segur.failed",
                                message=f"{t('junit.blocking', lang, n=len(errors))} : {head}" if lang == "fr"
                                else f"{t('junit.blocking', lang, n=len(errors))}: {head}")
        node.text = "\n".join(_finding_line(f, lang) for f in errors[:MAX_FINDINGS_OUT])
    elif verdict == "error":
        node = etree.SubElement(case, "error", type="segur.not_evaluated",
                                message=f"{t('verdict.error', lang)} — {reason}")
        node.text = reason
    elif verdict == "not_run":
        etree.SubElement(case, "skipped", type="segur.not_run", message=f"{t('verdict.not_run', lang)} — {reason}")
    elif verdict == "manual":
        etree.SubElement(case, "skipped", type="segur.manual", message=t("junit.manual", lang))
    out = etree.SubElement(case, "system-out")
    out.text = _system_out(req, verdict, lang, _evidence_paths(req, by_test))
    return verdict


def build_junit(results: dict[str, Any], lang: str = "fr") -> etree._Element:
    run = as_dict(results.get("run"))
    profile = _clean(run.get("profile"), 40) or "profile"
    grouped: dict[str, list[dict[str, Any]]] = {}
    for req in requirements_of(results):
        grouped.setdefault(_clean(req.get("section"), 40) or "?", []).append(req)
    by_test: dict[str, list[str]] = {}
    for ev in as_list(results.get("evidence")):
        if isinstance(ev, dict) and isinstance(ev.get("path"), str):
            by_test.setdefault(str(ev.get("test")), []).append(ev["path"])
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
        if run.get("run_id"):
            _prop(props, "run_id", run.get("run_id"))
        cand = as_dict(run.get("candidate"))
        for key in ("product", "version", "vendor"):
            if cand.get(key):
                _prop(props, f"candidate.{key}", cand.get(key))
        kit = as_dict(run.get("cisis_kit"))
        if kit:
            _prop(props, "cisis_kit.version", kit.get("version"))
            _prop(props, "cisis_kit.sha256", kit.get("sha256"))
        catalogue = as_dict(run.get("catalogue"))
        for key in ("version", "sha256", "origin"):  # which requirement catalogue the verdicts were judged on
            if catalogue.get(key):
                _prop(props, f"catalogue.{key}", catalogue.get(key))
        _prop(props, "skipped_means", "segur.manual: manual evidence to supply and review; "
                                      "segur.not_run: not tested in this run")
        counts = {"failed": 0, "error": 0, "skipped": 0}
        time_total = 0.0
        for req in reqs:
            verdict = _testcase(suite, req, f"segur.{profile}.{section}", lang, by_test)
            time_total += sum(as_float(x.get("duration")) for x in as_list(req.get("tests")) if isinstance(x, dict))
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


def junit_bytes(results: dict[str, Any], lang: str = "fr") -> bytes:
    return bytes(etree.tostring(build_junit(results, lang), xml_declaration=True, encoding="UTF-8",
                                pretty_print=True))


def write_junit(results: dict[str, Any], path: Path, lang: str = "fr") -> Path:
    from conformance.evidence import atomic_write

    atomic_write(path, junit_bytes(results, lang))
    return path
