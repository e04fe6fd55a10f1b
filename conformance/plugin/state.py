"""The session state of a run, and what the ``requirement`` marker of a test resolves to."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest

from conformance.evidence import EvidenceStore
from conformance.plugin.options import ConfigurationError, SegurConfig
from conformance.results import TestRecord

if TYPE_CHECKING:  # loaded lazily at run time: the plugin stays inert in unrelated pytest runs
    from conformance.plugin.recorder import Recorder
    from conformance.profiles import CorridorProfile
    from conformance.requirements import Catalogue
    from conformance.traceability import ProofIndex, RuleMap

MARKER = "requirement"
HARNESS_MARKER = "harness_check"

state_key = pytest.StashKey["SegurState"]()
recorder_key: pytest.StashKey[Recorder] = pytest.StashKey()


# ---------------------------------------------------------------------------------------------
# session state
# ---------------------------------------------------------------------------------------------
@dataclass
class SegurState:
    config: SegurConfig
    active: bool = False
    catalogue: Catalogue | None = None
    profile: CorridorProfile | None = None
    records: dict[str, TestRecord] = field(default_factory=dict)
    evidence: list[dict[str, Any]] = field(default_factory=list)
    store: EvidenceStore | None = None
    started_at: str = ""
    started: float = 0.0
    candidate_caps: dict[str, Any] | None = None
    sandbox_url_effective: str | None = None
    interrupted: bool = False
    last_flush: float = 0.0
    flush_cost: float = 0.0  # seconds the last intermediate flush of results.json took
    evidence_keys: set[str] = field(default_factory=set)  # identities of ``evidence`` entries (dedup)
    kit_info: dict[str, Any] | None = None
    candidate_problem: str = ""
    selection: str = ""
    proof_index: ProofIndex | None = None
    rule_map: RuleMap | None = None
    harness: dict[str, dict[str, Any]] = field(default_factory=dict)
    captures: list[dict[str, Any]] = field(default_factory=list)  # harness-captured screens (manual proofs)
    run_uuid: str = ""  # one per run, the same in every flush of results.json

    def ensure_loaded(self) -> None:
        """Load catalogue and profile once, turning data errors into one clear usage error."""
        if self.catalogue is not None:
            return
        from conformance.profiles import ProfileError, load_profile
        from conformance.requirements import CatalogueError, load_catalogue
        from conformance.traceability import ProofIndex, TraceabilityError, load_rule_map

        try:
            catalogue = load_catalogue()
            self.profile = load_profile(self.config.profile_name, catalogue)
            self.proof_index = ProofIndex.build(catalogue)
            self.rule_map = load_rule_map()
        except (CatalogueError, ProfileError, TraceabilityError) as exc:
            raise ConfigurationError(str(exc)) from None
        # the shipped traceability data is checked against the shipped catalogue by tests/test_traceability.py;
        # a vendor's own catalogue (SEGUR_CATALOGUE_DIR) may hold a subset: unknown proofs simply never match
        self.catalogue = catalogue

    def loaded(self) -> tuple[Catalogue, CorridorProfile]:
        """The catalogue and the profile, loaded on first use."""
        self.ensure_loaded()
        assert self.catalogue is not None and self.profile is not None  # ensure_loaded raised otherwise
        return self.catalogue, self.profile


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")

def marker_ids(item: pytest.Item) -> tuple[str, ...]:
    """The ids written in the test's markers: requirement, scenario or proof ids."""
    ids: list[str] = []
    for mark in item.iter_markers(MARKER):
        ids.extend(str(a) for a in mark.args)
    return tuple(dict.fromkeys(ids))


def requirement_ids(item: pytest.Item) -> tuple[str, ...]:
    """The requirements the test verifies (a scenario or proof id stands for its requirement)."""
    ids = marker_ids(item)
    if not ids:
        return ()
    state = item.config.stash.get(state_key, None)
    index = state.proof_index if state is not None else None
    if index is None:
        return ids
    return tuple(dict.fromkeys(index.requirement(i) for i in ids))


def proof_ids(item: pytest.Item) -> tuple[str, ...]:
    """The automated proofs the test verifies."""
    ids = marker_ids(item)
    state = item.config.stash.get(state_key, None)
    if not ids or state is None or state.proof_index is None:
        return ()
    return tuple(state.proof_index.proofs_of(ids))


def harness_entry(check_id: str, title: str, title_en: str, verdict: str, reason: str,
                  reason_en: str = "", findings: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"id": check_id, "title": title, "title_en": title_en, "verdict": verdict, "reason": reason,
            "reason_en": reason_en or reason, "findings": findings or []}

def _now() -> str:
    return datetime.now(UTC).astimezone().isoformat(timespec="seconds")
