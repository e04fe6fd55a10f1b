"""Project rule: every requirement of every corridor profile has a marked test in the shipped suites,
or all its proofs are manual with a declared reason. This test fails otherwise."""

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
    uncovered: list[str] = []
    for name in available_profiles():
        profile = load_profile(name, catalogue)
        assert profile.requirement_ids, f"profile {name} selects no requirement"
        for rid in profile.requirement_ids:
            req = catalogue[rid]
            if rid in tested:
                continue
            if req.manual_only and all(p.manual_reason for s in req.scenarios for p in s.proofs):
                continue
            uncovered.append(f"{name}: {rid} ({req.file}:{req.line}) has no test and is not manual-only")
    assert not uncovered, "\n".join(sorted(set(uncovered)))


def test_manual_proofs_always_say_what_the_vendor_must_supply(catalogue) -> None:
    missing = [p.id for r in catalogue for s in r.scenarios for p in s.proofs
               if p.method == "manual" and not p.manual_reason.strip()]
    assert not missing
