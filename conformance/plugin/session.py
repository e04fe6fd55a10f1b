"""Session hooks: configure (state, deadlines, SIGTERM), preflight of the candidate sandbox, collection
(marker ids checked against the catalogue, tests outside the profile deselected)."""

from __future__ import annotations

import sys
import time
from types import FrameType
from typing import Any

import pytest

from conformance.evidence import EvidenceStore
from conformance.plugin.options import REFERENCE, ConfigurationError, SegurConfig, resolve_config
from conformance.plugin.reporting import SessionReporter, _write, _write_report
from conformance.plugin.state import (
    HARNESS_MARKER,
    MARKER,
    SegurState,
    _is_worker,
    _now,
    harness_entry,
    requirement_ids,
    state_key,
)
from conformance.sandbox.client import SandboxError


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(*ids): the REM requirement, scenario or proof ids (e.g. DUI.MSS.07, DUI.DMP.01.04.01) "
        "this test verifies",
    )
    config.addinivalue_line(
        "markers",
        f"{HARNESS_MARKER}(id, title_fr, title_en): a campaign precondition (candidate capabilities), shown "
        "first and counted in the exit code",
    )
    seg = resolve_config(config)
    state = SegurState(config=seg)
    state.started = time.time()
    state.started_at = _now()
    state.store = EvidenceStore(seg.report_dir)
    config.stash[state_key] = state
    config.pluginmanager.register(SessionReporter(config, state), "segur-session-reporter")
    if seg.report_dir or seg.sandbox_url or seg.artefacts_dir:
        state.active = True
        _bound_candidate_calls(config, seg)
    if seg.report_dir and not _is_worker(config):
        _report_on_sigterm(config)


def _bound_candidate_calls(config: pytest.Config, seg: SegurConfig) -> None:
    """Every SandboxClient of this run gets the run's deadlines (restored afterwards: pytester runs nest)."""
    from conformance.sandbox.client import set_default_deadlines

    previous = set_default_deadlines(seg.deadlines)

    def restore() -> None:
        set_default_deadlines(previous)

    config.add_cleanup(restore)


def _report_on_sigterm(config: pytest.Config) -> None:
    """SIGTERM (a CI job cancelled, a container stopped) ends the run like Ctrl-C: the results and the report
    are still written, marked interrupted. Only when this run writes a report, and only over the default."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: a second SIGTERM must not cut the report short
        raise KeyboardInterrupt("SIGTERM")

    previous = signal.signal(signal.SIGTERM, interrupt)

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)

    config.add_cleanup(restore)


def pytest_sessionstart(session: pytest.Session) -> None:
    """Preflight: a candidate sandbox that is down or speaks another contract is a configuration error,
    reported once and clearly, not as one ``error`` per test."""
    config = session.config
    state = config.stash.get(state_key, None)
    if state is None or _is_worker(config) or config.getoption("collectonly", False):
        return
    url = state.config.sandbox_url
    if not url or url == REFERENCE or state.config.artefacts_dir:
        return
    problem = sandbox_preflight(url)
    if not problem:
        state.harness["HARNESS.SANDBOX_API"] = contract_preflight(url)
    if problem:
        state.harness["HARNESS.PREFLIGHT"] = harness_entry(
            "HARNESS.PREFLIGHT", "Bac à sable du candidat joignable et au contrat v1",
            "Candidate sandbox reachable and speaking contract v1", "failed", problem)
        if state.config.report_dir:
            state.active = True
            try:
                results = _write(state, final=True, exitstatus=int(pytest.ExitCode.USAGE_ERROR))
                _write_report(state, results)
            except pytest.UsageError:  # what ConfigurationError makes (it is a function, not a class)
                raise
            except Exception as exc:  # the one-line problem below matters more than a report crash
                sys.stderr.write(f"segur-conformance: results not written ({type(exc).__name__}: {exc})\n")
        raise ConfigurationError(problem)


def contract_preflight(url: str) -> dict[str, Any]:
    """check-contract in fast mode (conformance/sandbox/contract_check.py ``preflight``): a warning when answers
    deviate from docs/sandbox-api.yaml, a failed campaign check only when no resident can be created."""
    from conformance.sandbox.contract_check import preflight

    verdict, reason, reason_en = preflight(url)
    return harness_entry("HARNESS.SANDBOX_API", "Réponses du bac à sable conformes à docs/sandbox-api.yaml (pré-vérification)",
                         "Sandbox answers conform to docs/sandbox-api.yaml (preflight)", verdict, reason, reason_en)


def sandbox_preflight(url: str, timeout: float = 10.0) -> str:
    """'' when ``url`` answers GET /capabilities with contract 1, else a one-line bilingual problem."""
    from conformance.sandbox.client import CONTRACT_VERSION, SandboxClient, default_deadlines

    try:  # GET /capabilities is instant: the run's deadlines, no looser than 10 s to the first byte, 30 s in all
        caps = SandboxClient(url, deadlines=default_deadlines().capped(timeout, 3 * timeout)).capabilities()
    except SandboxError as exc:
        return (f"bac à sable {url} inutilisable : {exc.message} "
                f"/ sandbox {url} not usable: {exc.message_en}")
    declared = caps.get("contract")
    if str(declared) != CONTRACT_VERSION:
        return (f"le bac à sable {url} déclare le contrat {declared!r}, ce harnais parle le contrat "
                f"{CONTRACT_VERSION!r} (docs/sandbox-api.yaml) / the sandbox declares contract {declared!r}, "
                f"this harness speaks contract {CONTRACT_VERSION!r}")
    return ""


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    state = config.stash[state_key]
    marked = [item for item in items if item.get_closest_marker(MARKER)]
    if not marked:
        return
    state.active = True
    _catalogue, profile = state.loaded()
    keyword = str(config.getoption("keyword", "") or "")
    markexpr = str(config.getoption("markexpr", "") or "")
    state.selection = " ; ".join(x for x in (f"-k {keyword}" if keyword else "", f"-m {markexpr}" if markexpr else "") if x)
    problems: list[str] = []
    index = state.proof_index
    assert index is not None  # built with the catalogue
    for item in marked:
        for mark in item.iter_markers(MARKER):
            if not mark.args:
                problems.append(f"{item.nodeid}: @pytest.mark.requirement needs at least one id")
            for rid in mark.args:
                if not index.knows(str(rid)):
                    problems.append(f"{item.nodeid}: unknown requirement, scenario or proof id {rid!r} "
                                    "(not in the catalogue)")
                elif str(rid) in index.manual:
                    problems.append(f"{item.nodeid}: {rid!r} is a manual proof: no test can verify it")
    if problems:
        raise pytest.UsageError("\n".join(problems))
    in_profile = set(profile.requirement_ids)
    keep: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        ids = requirement_ids(item)
        if ids and not (set(ids) & in_profile):
            dropped.append(item)
        else:
            keep.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep
