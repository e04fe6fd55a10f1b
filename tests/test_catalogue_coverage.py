"""Project rule: every automated proof of every corridor profile is verified by a marked test in the shipped
suites (a marker may name the requirement, the scenario or the proof), and every manual proof declares what
the vendor must supply. This test fails otherwise."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def catalogue():
    from conformance.requirements import load_catalogue

    return load_catalogue()


def test_every_profile_requirement_is_tested_or_manual(pytester: pytest.Pytester, catalogue) -> None:
    from conformance.profiles import available_profiles, load_profile

    tested: set[str] = set()
    # collect once per profile: the plugin deselects tests outside the active profile
    for name in available_profiles():
        items, _ = pytester.inline_genitems("--pyargs", "conformance.suites", "-p", "no:cacheprovider",
                                            "--segur-profile", name)
        for item in items:
            for mark in item.iter_markers("requirement"):
                tested.update(str(a) for a in mark.args)
    from conformance.traceability import ProofIndex

    index = ProofIndex.build(catalogue)
    covered = set(index.proofs_of(tested))
    uncovered: list[str] = []
    for name in available_profiles():
        profile = load_profile(name, catalogue)
        assert profile.requirement_ids, f"profile {name} selects no requirement"
        for rid in profile.requirement_ids:
            req = catalogue[rid]
            for proof in req.proofs:
                if proof.manual:
                    if not proof.manual_reason:
                        uncovered.append(f"{name}: {proof.id} is manual without a reason")
                    continue
                if proof.id not in covered:
                    uncovered.append(f"{name}: {proof.id} of {rid} ({req.file}:{req.line}) is automated and "
                                     "no test verifies it")
    assert not uncovered, "\n".join(sorted(set(uncovered)))


def test_manual_proofs_always_say_what_the_vendor_must_supply(catalogue) -> None:
    missing = [p.id for r in catalogue for s in r.scenarios for p in s.proofs
               if p.method == "manual" and not p.manual_reason.strip()]
    assert not missing
