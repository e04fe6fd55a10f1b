"""No module of the harness is over 800 lines (issue 17, "Done when").

A module that long does several jobs (docs/architecture.md: one job a module); split it by job rather
than raise the bound. The offenders are named with their line counts.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 800


def oversized(folder: Path, limit: int = MAX_LINES) -> list[tuple[str, int]]:
    """Every ``.py`` file under ``folder`` with more than ``limit`` lines, as (relative path, lines)."""
    out = []
    for path in sorted(folder.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        count = len(path.read_text(encoding="utf-8").splitlines())
        if count > limit:
            out.append((path.relative_to(folder.parent).as_posix(), count))
    return out


def test_no_module_of_conformance_is_over_800_lines() -> None:
    offenders = oversized(ROOT / "conformance")
    assert not offenders, "modules over 800 lines, to split by job: " + ", ".join(
        f"{name} ({count} lines)" for name, count in offenders)


def test_the_bound_names_a_module_one_line_over(tmp_path: Path) -> None:
    """The walk counts lines the way the bound means them, nested folders included."""
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "sub" / "big.py").write_text("x = 1\n" * (MAX_LINES + 1), encoding="utf-8")
    (package / "exact.py").write_text("y = 2\n" * MAX_LINES, encoding="utf-8")
    (package / "notes.txt").write_text("z\n" * (MAX_LINES * 2), encoding="utf-8")
    assert oversized(package) == [("pkg/sub/big.py", MAX_LINES + 1)]
