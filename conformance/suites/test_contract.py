"""Preconditions of every run: the candidate speaks contract v1 and declares the corridor under test.

These are not REM requirements (no marker): they explain, first in the output, why everything else
would be ``error`` when the sandbox is not usable.
"""

from __future__ import annotations

from typing import Any

import pytest


def test_sandbox_speaks_contract_v1(candidate: Any) -> None:
    if candidate.mode != "sandbox":
        pytest.skip("mode artefacts : pas de contrat à vérifier")
    caps = candidate.capabilities()
    assert caps.get("contract") == "1", f"contrat déclaré {caps.get('contract')!r}, attendu '1'"
    for key in ("product", "version", "vendor"):
        assert caps.get(key), f"capacité {key!r} absente"


def test_candidate_declares_the_corridor(candidate: Any, segur_profile: Any) -> None:
    caps = candidate.capabilities()
    problem = getattr(candidate, "capabilities_problem", "")
    assert not problem, problem
    if candidate.mode != "sandbox" and not caps:
        pytest.skip("mode artefacts sans capabilities.json")
    corridors = caps.get("corridors") or []
    assert segur_profile.id in corridors, (
        f"le candidat ne déclare pas le couloir {segur_profile.id} (déclarés : {corridors})")
