"""Preconditions of every run: the candidate speaks contract v1, declares the corridor under test and the
document types the corridor owes.

These are campaign-level checks (``harness_check`` marker), not REM requirements: they are shown first in
the report and the console and counted in the exit code, because every verdict below them depends on them.
"""

from __future__ import annotations

import pytest

from conformance.plugin import skip
from conformance.sandbox.client import CONTRACT_VERSION
from conformance.seams import Candidate, CorridorProfile


@pytest.mark.harness_check("HARNESS.CONTRACT", "Le candidat déclare le contrat de bac à sable v1",
                           "The candidate declares sandbox contract v1")
def test_sandbox_speaks_contract_v1(candidate: Candidate) -> None:
    if candidate.mode != "sandbox":
        skip("mode artefacts : pas de contrat à vérifier", "artefact mode: no contract to check")
    caps = candidate.capabilities()
    declared = caps.get("contract")
    assert str(declared) == CONTRACT_VERSION, (
        f"contrat déclaré {declared!r}, attendu {CONTRACT_VERSION!r} (docs/sandbox-api.yaml) "
        f"/ declared contract {declared!r}, expected {CONTRACT_VERSION!r}")
    missing = [key for key in ("product", "version", "vendor") if not caps.get(key)]
    assert not missing, f"capacités absentes : {', '.join(missing)} / capabilities missing: {', '.join(missing)}"


@pytest.mark.harness_check("HARNESS.CORRIDOR", "Le candidat déclare le couloir évalué et ses types de documents",
                           "The candidate declares the corridor under test and its document types")
def test_candidate_declares_the_corridor(candidate: Candidate, segur_profile: CorridorProfile) -> None:
    caps = candidate.capabilities()
    problem = getattr(candidate, "capabilities_problem", "")
    assert not problem, problem
    if candidate.mode != "sandbox" and not caps:
        skip("mode artefacts sans capabilities.json", "artefact mode without capabilities.json")
    corridors = caps.get("corridors") or []
    assert segur_profile.id in corridors, (
        f"le candidat ne déclare pas le couloir {segur_profile.id} (déclarés : {corridors or 'aucun'}) "
        f"/ the candidate does not declare corridor {segur_profile.id} (declared: {corridors or 'none'})")
    declared = set(caps.get("document_types") or [])
    # only document types the corridor's data marks as confirmed (verified V/Vd) are owed for sure; the
    # inferred ones (I) are listed in the report header, not failed (profiles/corridors/*.yaml)
    owed = [d.code for d in getattr(segur_profile, "documents", ()) if d.verified in ("V", "Vd")]
    missing = [code for code in owed if code not in declared]
    assert not missing, (
        f"types de documents exigés par le couloir {segur_profile.id} non déclarés : {', '.join(missing)} "
        f"(déclarés : {', '.join(sorted(declared)) or 'aucun'}) / document types the corridor requires and the "
        f"candidate does not declare: {', '.join(missing)}")
