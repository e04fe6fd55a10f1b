"""The MSSanté checks give, finding for finding, what they gave before their declarations moved to data
(profiles/mss/rules.yaml) and their common opening and closing to conformance/mss/rules.py: recorded campaign
and unit-test messages and SMTP sessions (tests/rules_golden.py)."""

from __future__ import annotations

import pytest
from rules_golden import load_golden, run

GOLDEN = load_golden()


@pytest.fixture(scope="module")
def replayed() -> dict:
    return run("mss")


def test_same_inputs(replayed: dict) -> None:
    assert sorted(replayed) == sorted(GOLDEN["mss"])


@pytest.mark.parametrize("name", sorted(GOLDEN["mss"]))
def test_same_findings_on_recorded_inputs(replayed: dict, name: str) -> None:
    assert replayed[name] == GOLDEN["mss"][name]
