"""The DMP checks give, finding for finding, what they gave before their metadata rules moved to data
(profiles/dmp/rules.yaml): recorded campaign and unit-test inputs, and every table rule met on a compliant
request whose metadata are edited (tests/rules_golden.py)."""

from __future__ import annotations

import pytest
from rules_golden import load_golden, run, run_mutations

GOLDEN = load_golden()


@pytest.fixture(scope="module")
def replayed() -> dict:
    return run("dmp")


def test_same_inputs(replayed: dict) -> None:
    assert sorted(replayed) == sorted(GOLDEN["dmp"])


@pytest.mark.parametrize("name", sorted(GOLDEN["dmp"]))
def test_same_findings_on_recorded_inputs(replayed: dict, name: str) -> None:
    assert replayed[name] == GOLDEN["dmp"][name]


def test_same_findings_on_edited_metadata() -> None:
    now = run_mutations()
    assert sorted(now) == sorted(GOLDEN["dmp_mutations"])
    for case, findings in GOLDEN["dmp_mutations"].items():
        assert now[case] == findings, case
