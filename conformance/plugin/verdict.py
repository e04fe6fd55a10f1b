"""From a test's phases to its outcome: blocking findings fail the test, 501 skips it, NotEvaluated and
sandbox errors make it "not evaluated"; the outcome and findings travel on the report (``user_properties``)."""

from __future__ import annotations

from collections.abc import Generator
from typing import NoReturn

import pytest
from _pytest.outcomes import Skipped

from conformance.findings import Finding, NotEvaluated, warning
from conformance.plugin.state import (
    HARNESS_MARKER,
    harness_entry,
    proof_ids,
    recorder_key,
    requirement_ids,
    state_key,
)
from conformance.sandbox.client import SandboxError, SandboxUnsupported


# ---------------------------------------------------------------------------------------------
# outcomes
# ---------------------------------------------------------------------------------------------
@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    recorder = item.stash.get(recorder_key, None)
    try:
        result = yield
    except (SandboxUnsupported, NotEvaluated) as exc:
        # errors already recorded are a verdict: a later "cannot go on" must not hide them. A NotEvaluated
        # keeps its reason: the proofs with errors fail, the others are "not evaluated because …"
        if isinstance(exc, SandboxUnsupported):
            if recorder is not None and recorder.counted_errors:
                raise FindingsFailure(recorder.counted_errors, recorder.lang) from None
            skip_unsupported(exc)
        raise
    if recorder is not None and recorder.counted_errors:
        raise FindingsFailure(recorder.counted_errors, recorder.lang)
    return result


def skip_unsupported(exc: SandboxError) -> NoReturn:
    """The one "not supported" reason (issue 14): an HTTP 501 makes the dependent proofs not run."""
    skip(f"le candidat a répondu 501 (non pris en charge) : {exc.message}",
         f"the candidate answered 501 (not supported): {exc.message_en}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    """A 501 met while a fixture prepared the test (a send shared by many tests) is "not supported" too:
    the test is skipped (not_run), never an error nor a failure."""
    try:
        return (yield)
    except SandboxUnsupported as exc:
        skip_unsupported(exc)


class FindingsFailure(AssertionError):
    """The test recorded ERROR findings: the requirement is not met."""

    def __init__(self, findings: list[Finding], lang: str) -> None:
        self.findings = findings
        lines = [f"{len(findings)} constat(s) bloquant(s) / blocking finding(s):"]
        for f in findings[:50]:
            where = " ".join(p for p in (f.artefact, f.xpath, f"l.{f.line}" if f.line else "") if p)
            labels = ("expected", "found") if lang == "en" else ("attendu", "trouvé")
            exp = f" ({labels[0]}: {f.expected!r}, {labels[1]}: {f.found!r})" if (f.expected or f.found) else ""
            lines.append(f"  - [{f.rule or '-'}] {f.text(lang)}{exp} {where}".rstrip())
        if len(findings) > 50:
            lines.append(f"  … {len(findings) - 50} de plus / more")
        super().__init__("\n".join(lines))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if call.excinfo is not None and isinstance(call.excinfo.value, FindingsFailure):
        report.longrepr = str(call.excinfo.value)  # the findings are the message; no plugin traceback
    harness = item.get_closest_marker(HARNESS_MARKER)
    if harness is not None:
        _harness_report(item, report, call, harness)
        return report
    ids = requirement_ids(item)
    if not ids:
        return report
    outcome, message = _classify(report, call)
    if outcome is None:
        return report
    message_en = _english(report, call, message)
    state = item.config.stash.get(state_key, None)
    if outcome == "not_evaluated" and state is not None and state.config.lang == "en":
        report.longrepr = f"not evaluated: {message_en}"  # pytest's own summary line, in English too
    recorder = item.stash.get(recorder_key, None)
    findings = [f.to_dict() for f in recorder.findings] if recorder else []
    if recorder is not None and report.when == "call":
        findings += [f.to_dict() for f in recorder.held_findings()]
    evidence = [e.to_dict() for e in recorder.evidence_refs] if recorder else []
    if call.excinfo is not None and outcome in ("error", "not_evaluated"):
        # shown with the proof; a warning, so that it never turns "not evaluated" into "failed"
        findings.append(warning(f"non évalué : {message}", f"not evaluated: {message_en}",
                                rule="HARNESS.NOT_EVALUATED", proofs=proof_ids(item)).to_dict())
    findings_failure = call.excinfo is not None and isinstance(call.excinfo.value, FindingsFailure)
    report.user_properties.append(("segur", {
        "requirements": list(ids), "proofs": list(proof_ids(item)), "outcome": outcome, "message": message,
        "message_en": message_en, "phase": report.when, "findings": findings, "evidence": evidence, "findings_failure": findings_failure,
    }))
    if outcome == "not_evaluated" and report.when == "call":
        report.outcome = "failed"  # visible in vendor CI: a check that did not run is not a pass
    return report


def _harness_report(item: pytest.Item, report: pytest.TestReport, call: pytest.CallInfo[None],
                    mark: pytest.Mark) -> None:
    args = [str(a) for a in mark.args] + ["", "", ""]
    check_id, title, title_en = args[0] or item.name, args[1] or item.name, args[2] or args[1] or item.name
    outcome, message = _classify(report, call)
    if outcome is None:
        return
    verdict = {"passed": "passed", "failed": "failed", "skipped": "not_run"}.get(outcome, "error")
    if call.excinfo is not None and isinstance(call.excinfo.value, AssertionError):
        message = str(call.excinfo.value).split("\nassert ")[0]
    report.user_properties.append(("segur_harness", harness_entry(check_id, title, title_en, verdict,
                                                                 _short(message, 1000),
                                                                 _short(_english(report, call, message), 1000))))
    recorder = item.stash.get(recorder_key, None)
    if recorder is not None and recorder.captures and report.when == "call":
        report.user_properties.append(("segur_captures", list(recorder.captures)))


def _classify(report: pytest.TestReport, call: pytest.CallInfo[None]) -> tuple[str | None, str]:
    """Map a pytest phase report to our test outcome; None when the phase adds nothing."""
    exc = call.excinfo.value if call.excinfo is not None else None
    if report.skipped:
        if isinstance(exc, BilingualSkip):
            return "skipped", str(exc.msg)
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr or "")
        return "skipped", str(reason).removeprefix("Skipped: ")
    if isinstance(exc, NotEvaluated):
        return "not_evaluated", exc.reason
    if isinstance(exc, SandboxError):
        return "not_evaluated", exc.message
    if report.when == "call":
        if report.passed:
            return "passed", ""
        if isinstance(exc, FindingsFailure):  # French here; _english gives the English twin
            return "failed", _short(FindingsFailure(exc.findings, "fr").args[0])
        if isinstance(exc, AssertionError):
            return "failed", _short(str(exc))
        return "error", f"{type(exc).__name__}: {_short(str(exc))}" if exc else "erreur"
    if report.failed:  # setup or teardown crashed: the check could not run
        return "error", f"{report.when}: {type(exc).__name__ if exc else ''}: {_short(str(exc))}"
    return None, ""


def _english(report: pytest.TestReport, call: pytest.CallInfo[None], message: str) -> str:
    """The English twin of ``_classify``'s message (``--lang en``): the reason the check gave in English
    (``segur.not_evaluated(fr, en)``, a sandbox error, a bilingual skip), else the message itself."""
    exc = call.excinfo.value if call.excinfo is not None else None
    if exc is None or message == "":
        return message
    if isinstance(exc, NotEvaluated):
        return exc.reason_en
    if isinstance(exc, SandboxError):
        return exc.message_en
    if isinstance(exc, BilingualSkip) and report.skipped:
        return exc.reason_en
    if isinstance(exc, FindingsFailure):
        return _short(FindingsFailure(exc.findings, "en").args[0])
    return message


class BilingualSkip(Skipped):  # Skipped is pytest.skip.Exception, under a name mypy follows
    """``pytest.skip`` with an English twin of its French reason (the proof becomes not run)."""

    def __init__(self, reason: str, reason_en: str) -> None:
        super().__init__(reason)
        self.reason_en = reason_en


def skip(reason: str, reason_en: str) -> NoReturn:
    """Skip the test (its proofs are not run) with a French reason and its English twin."""
    raise BilingualSkip(reason, reason_en)


def _short(text: str, limit: int = 1500) -> str:
    return text if len(text) <= limit else text[:limit] + " …"
