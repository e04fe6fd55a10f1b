"""The fixtures the plugin offers to the suites: ``segur``, ``segur_config``, ``segur_profile``, ``cisis_kit``,
``reference_sandbox`` and ``candidate``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from conformance.plugin.options import REFERENCE, SegurConfig
from conformance.plugin.recorder import Recorder
from conformance.plugin.state import recorder_key, state_key
from conformance.plugin.verdict import skip
from conformance.sandbox.client import SandboxError

if TYPE_CHECKING:
    from conformance import seams


@pytest.fixture
def segur(request: pytest.FixtureRequest) -> seams.Recorder:  # a conformance.plugin.Recorder
    """Record findings and evidence for the current test (see docs/architecture.md)."""
    state = request.config.stash[state_key]
    recorder = Recorder(request.node, state)
    request.node.stash[recorder_key] = recorder
    return recorder


@pytest.fixture(scope="session")
def segur_config(pytestconfig: pytest.Config) -> SegurConfig:
    return pytestconfig.stash[state_key].config


@pytest.fixture(scope="session")
def segur_profile(pytestconfig: pytest.Config) -> seams.CorridorProfile:
    state = pytestconfig.stash[state_key]
    return state.loaded()[1]


@pytest.fixture(scope="session")
def cisis_kit(segur_config: SegurConfig) -> Path | None:
    return segur_config.cisis_kit


@pytest.fixture(scope="session")
def reference_sandbox(pytestconfig: pytest.Config) -> Iterator[str | None]:
    """Start the embedded reference sandbox when ``--sandbox-url reference`` was asked."""
    state = pytestconfig.stash[state_key]
    seg = state.config
    if seg.sandbox_url != REFERENCE:
        yield seg.sandbox_url
        return
    from conformance.reference import ReferenceMissing, load_reference

    try:
        reference = load_reference()
    except ReferenceMissing as exc:
        raise pytest.UsageError(str(exc)) from None
    with reference.serve(defects=seg.defects) as running:
        state.sandbox_url_effective = running.url
        yield running.url


@pytest.fixture(scope="session")
def candidate(pytestconfig: pytest.Config, reference_sandbox: str | None) -> seams.Candidate:
    """The system under test, through sandbox contract v1 or an artefact folder."""
    from conformance.sandbox.candidate import open_candidate

    state = pytestconfig.stash[state_key]
    state.ensure_loaded()
    seg = state.config
    if not reference_sandbox and not seg.artefacts_dir:
        skip("ni --sandbox-url ni --artefacts : aucun candidat à tester",
             "neither --sandbox-url nor --artefacts given: no candidate to test")
    cand = open_candidate(sandbox_url=reference_sandbox, artefacts_dir=seg.artefacts_dir,
                          profile=state.profile)
    try:
        state.candidate_caps = cand.capabilities()
    except SandboxError as exc:
        state.candidate_caps = None
        state.candidate_problem = exc.message
    state.candidate_problem = getattr(cand, "capabilities_problem", "") or state.candidate_problem
    if cand.mode == "sandbox" and state.candidate_caps is not None:
        from conformance.sandbox.client import CONTRACT_VERSION

        declared = state.candidate_caps.get("contract")
        if str(declared) != CONTRACT_VERSION:
            state.candidate_problem = (f"contrat déclaré {declared!r}, attendu {CONTRACT_VERSION!r} "
                                       f"/ declared contract {declared!r}, expected {CONTRACT_VERSION!r}")
    return cand
