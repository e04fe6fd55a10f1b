"""A table of declared checks, read from a room's YAML (profiles/dmp/checks.yaml, profiles/mss/rules.yaml).

Why: the DMP and MSSanté check engines both declare their checks as data: a YAML list of entries keyed by
``id``, each naming the requirements its findings carry and the proofs its suite test verifies. Reading that
list, refusing a duplicate id, finding a check by name (with an error naming the file) and making the
suite's ``@pytest.mark.requirement`` marker from the declared proofs is the same mechanism in both rooms; it
lives here once. What an entry declares (its fields, their validation) stays the room's: the table takes the
room's row parser and error type.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

import pytest
import yaml

#: when a check's ``ok`` INFO is recorded: nothing at all was found, or only warnings
OK_WHEN = ("no_findings", "no_error")


@dataclass(frozen=True)
class Ok:
    """The INFO a check records when it held (its ``ok`` entry)."""

    when: str
    rule: str
    message: str
    message_en: str


def open_row(row: Mapping[str, Any], defaults: Mapping[str, Any], *, keys: set[str], objects: tuple[str, ...],
             error: type[ValueError]) -> tuple[dict[str, Any], str]:
    """One entry with the file's defaults applied, and its id; refuses unknown keys and an unknown ``object``
    (what every room's entry starts with; the room then checks its own fields)."""
    merged = {**defaults, **row}
    name = str(merged.get("id", "?"))
    if set(merged) - keys:
        raise error(f"{name}: unknown keys {sorted(set(merged) - keys)}")
    if merged.get("object") not in objects:
        raise error(f"{name}: object must be one of {objects}")
    return merged, name


class Declared(Protocol):
    """What the table needs of a room's check declaration."""

    @property
    def id(self) -> str: ...

    @property
    def requirements(self) -> tuple[str, ...]: ...

    @property
    def proofs(self) -> tuple[str, ...]: ...


S = TypeVar("S", bound=Declared)

#: a row parser: (the entry, the file's ``defaults``) -> the room's declaration
RowParser = Callable[[Mapping[str, Any], Mapping[str, Any]], S]


class CheckTable(Generic[S]):
    """The checks of one YAML file: ``checks:`` (a list of entries) and optional ``defaults:``."""

    def __init__(self, default_path: Callable[[], Path], parse_row: RowParser[S], *,
                 error: type[ValueError] = ValueError,
                 validate: Callable[[Mapping[str, S]], None] | None = None) -> None:
        self._default_path = default_path
        self._parse_row = parse_row
        self._error = error
        self._validate = validate
        self._specs: dict[str, S] | None = None

    def load(self, path: Path | None = None) -> dict[str, S]:
        """Every check of ``path`` (default: the room's shipped file), read afresh."""
        data = yaml.safe_load((path or self._default_path()).read_text(encoding="utf-8")) or {}
        out: dict[str, S] = {}
        for row in data.get("checks") or []:
            spec = self._parse_row(row, data.get("defaults") or {})
            if spec.id in out:
                raise self._error(f"duplicate check id {spec.id}")
            out[spec.id] = spec
        if self._validate is not None:
            self._validate(out)
        return out

    def specs(self) -> dict[str, S]:
        """The shipped checks, read once per process."""
        if self._specs is None:
            self._specs = self.load()
        return self._specs

    def spec(self, name: str) -> S:
        try:
            return self.specs()[name]
        except KeyError:
            where = self._default_path()
            raise self._error(f"check {name!r} is not declared in profiles/{where.parent.name}/{where.name}") from None

    def requirements(self, name: str) -> tuple[str, ...]:
        return self.spec(name).requirements

    def marker(self, *names: str) -> pytest.MarkDecorator:
        """The suite test's ``@pytest.mark.requirement`` for the checks ``names``: their proofs, from the data."""
        proofs = dict.fromkeys(p for n in names for p in self.spec(n).proofs)
        return pytest.mark.requirement(*proofs)
