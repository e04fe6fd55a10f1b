"""The shipped catalogue and corridor profiles load cleanly, whatever valid files exist today.

Other domains add their catalogue files over time; this test is the guard that a typo in any of them
(or a profile pointing at a vanished id) is caught before a run, with file:line in the failure.
"""

from __future__ import annotations

import pytest

from conformance.profiles import available_profiles, default_directory, document_types, load_profile
from conformance.requirements import CORRIDORS, SECTION_ORDER, load_catalogue, section_rank


@pytest.fixture(autouse=True)
def _shipped_data(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SEGUR_CATALOGUE_DIR", raising=False)
    monkeypatch.delenv("SEGUR_CORRIDORS_DIR", raising=False)


def test_shipped_catalogue_loads() -> None:
    catalogue = load_catalogue()
    assert len(catalogue) > 0
    assert load_catalogue() is catalogue                       # the packaged load is cached
    ranks = [section_rank(r.section) for r in catalogue]
    assert ranks == sorted(ranks)                              # ANS section order
    for req in catalogue:
        assert req.scenarios and all(s.proofs for s in req.scenarios), req.id
        assert set(req.corridors) <= set(CORRIDORS)
        for proof in req.proofs:
            assert proof.method == "automated" or proof.manual_reason.strip(), proof.id


def test_shipped_profiles_load_and_select() -> None:
    catalogue = load_catalogue()
    assert available_profiles() == list(CORRIDORS)
    known_types = document_types()
    for name in CORRIDORS:
        profile = load_profile(name, catalogue)
        assert profile.id == name and profile.waves == (1, 2)
        assert len(profile.requirement_ids) > 0, f"{name} selects no requirement"
        assert "PPA" in profile.document_types                 # every corridor sends the PPA [V]
        assert set(profile.document_types) <= set(known_types)
        assert all(rid in catalogue for rid in profile.requirement_ids)


def test_shipped_sections_are_known_shapes() -> None:
    catalogue = load_catalogue()
    for section in catalogue.sections():
        assert section.isupper() or section in SECTION_ORDER
    assert default_directory().name == "corridors"
