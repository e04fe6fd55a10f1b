"""The reference DUI is built like a vendor's product (issue 17 item 3): it imports nothing from the harness,
and the harness finds it through an entry point, never by import.

Why it matters: a builder and a checker that share code share their misreadings of a specification; the
"compliant" sandbox would then pass checks that a real product, built from the texts, would fail.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "samples" / "reference_dui"
HARNESS = ROOT / "conformance"


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """Every module an ``import``, ``from … import`` or ``importlib.import_module("…")`` of the file names."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute | ast.Name)
              and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id) in
              ("import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)):
            found.append((node.lineno, node.args[0].value))
    return found


def offending(folder: Path, forbidden: tuple[str, ...]) -> list[str]:
    out = []
    for path in sorted(folder.rglob("*.py")):
        for line, module in imported_modules(path):
            if module in forbidden or module.startswith(tuple(f"{f}." for f in forbidden)):
                out.append(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}:{line} imports {module}")
    return out


def test_the_scan_sees_every_import_form(tmp_path: Path) -> None:
    sample = tmp_path / "m.py"
    sample.write_text("import conformance.dmp\nfrom conformance import x\nfrom . import y\n"
                      "import importlib\nimportlib.import_module('conformance.mss')\n"
                      "def f():\n    from conformance.safexml import parse_bytes\n", encoding="utf-8")
    assert [m for _, m in imported_modules(sample)] == ["conformance.dmp", "conformance", "importlib",
                                                        "conformance.mss", "conformance.safexml"]
    assert len(offending(tmp_path, ("conformance",))) == 4


def test_reference_dui_imports_nothing_from_the_harness() -> None:
    assert offending(REFERENCE, ("conformance",)) == []


def test_harness_imports_nothing_from_the_reference_dui() -> None:
    assert offending(HARNESS, ("segur_reference_dui", "samples")) == []


def test_the_entry_point_gives_the_reference_sandbox() -> None:
    from conformance.reference import load_reference

    reference = load_reference()
    assert callable(reference.serve) and callable(reference.validate)
    assert "hash_mismatch" in reference.all_defects()
    with pytest.raises(reference.UnknownDefect):
        reference.validate(["no_such_defect"])
    pem = reference.dmp_trust_anchors_pem()
    assert pem.startswith(b"-----BEGIN CERTIFICATE-----")


def test_a_missing_reference_sandbox_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from conformance import reference

    monkeypatch.setattr(reference, "entry_points", lambda group: [])
    with pytest.raises(reference.ReferenceMissing, match="bac à sable de référence non installé.*pip install -e"):
        reference.load_reference()
