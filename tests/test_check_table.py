"""conformance.check_table: the declared-checks table both rooms (DMP, MSSanté) read their YAML through."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.check_table import open_row
from conformance.dmp import engine
from conformance.mss import rules


def test_open_row_applies_defaults_and_refuses_unknown_keys_and_objects() -> None:
    class Broken(ValueError):
        pass

    row, name = open_row({"id": "c", "object": "x"}, {"scope": "s"}, keys={"id", "object", "scope"},
                         objects=("x",), error=Broken)
    assert (row, name) == ({"id": "c", "object": "x", "scope": "s"}, "c")
    with pytest.raises(Broken, match="c: unknown keys \\['colour'\\]"):
        open_row({"id": "c", "object": "x", "colour": "red"}, {}, keys={"id", "object"}, objects=("x",), error=Broken)
    with pytest.raises(Broken, match="c: object must be one of"):
        open_row({"id": "c", "object": "y"}, {}, keys={"id", "object"}, objects=("x",), error=Broken)


@pytest.mark.parametrize("room, body", [
    (engine, "checks:\n  - {id: a, object: nowhere, rules: {A: error}, requirements: [R], proofs: [P], source: s, scope: s}\n"),
    (rules, "checks:\n  - {id: a, object: nowhere, rules: [A], requirements: [R], proofs: [P], source: s}\n"),
])
def test_each_room_refuses_an_unknown_object_with_its_own_error(room, body: str, tmp_path: Path) -> None:
    path = tmp_path / "checks.yaml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(room.RuleError, match="a: object must be one of"):
        room.load_specs(path)


@pytest.mark.parametrize("room", [engine, rules])
def test_duplicate_ids_and_undeclared_checks_are_refused(room, tmp_path: Path) -> None:
    shipped = room.TABLE.specs()
    name = next(iter(shipped))
    with pytest.raises(room.RuleError, match="not declared in profiles/"):
        room.spec(name + "-absent")
    path = tmp_path / "checks.yaml"
    text = room.default_path().read_text(encoding="utf-8")
    start = text.index("checks:")
    first = text[start:].split("\n  - ")[1].split("\n  - ")[0]
    path.write_text(text + "\n  - " + first.split("\n#")[0] + "\n", encoding="utf-8")
    with pytest.raises(room.RuleError, match=f"duplicate check id {name}"):
        room.load_specs(path)
