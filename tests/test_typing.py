"""The core modules and the plugin stay ``mypy --strict`` clean (issue 17 item 6), and the suites' seams typed.

CI runs only pytest, so this test is what holds the line: the modules every room and suite meet through
(findings, results, requirements, profiles, evidence, traceability, the seams' Protocols and the pytest
plugin package) are checked with ``--strict``. The modules they import are analysed but not reported
(``--follow-imports=silent``): a room's own typing is its own business, not a reason for this test to fail.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STRICT_MODULES = (
    "conformance/findings.py",
    "conformance/results.py",
    "conformance/requirements.py",
    "conformance/profiles.py",
    "conformance/evidence.py",
    "conformance/traceability.py",
    "conformance/seams.py",
    "conformance/check_table.py",
    "conformance/plugin",  # the package: options, state, session, recorder, fixtures, verdict, reporting
)


def _mypy(*args: str) -> tuple[str, str, int]:
    api = pytest.importorskip("mypy.api", reason="mypy is not installed: pip install -e '.[test]'")
    stdout, stderr, status = api.run([*args, "--config-file", str(ROOT / "pyproject.toml"), "--no-incremental",
                                      "--no-error-summary", "--show-error-codes", "--follow-imports=silent"])
    return stdout, stderr, status


def test_the_core_and_the_plugin_are_mypy_strict_clean() -> None:
    stdout, stderr, status = _mypy("--strict", *(str(ROOT / m) for m in STRICT_MODULES))
    errors = [line for line in stdout.splitlines() if ": error:" in line]
    assert status == 0 and not errors, (f"mypy --strict: {len(errors)} error(s)\n" + "\n".join(errors)
                                        + (f"\n{stderr}" if stderr else ""))


def test_a_typing_error_is_reported(tmp_path: Path) -> None:
    """The same call on a module with a strict error fails: the check above can fail."""
    bad = tmp_path / "loose.py"
    bad.write_text("def untyped(x):\n    return x\n", encoding="utf-8")
    stdout, _stderr, status = _mypy("--strict", str(bad))
    assert status == 1 and "no-untyped-def" in stdout, stdout


def test_the_suites_annotate_the_seams_not_any() -> None:
    """The fixtures that cross the seams are typed in every suite: no ``segur: Any``, ``candidate: Any``,
    ``segur_profile: Any``, ``catalogue: Any`` or ``profile: Any`` parameter is left."""
    import re

    loose = re.compile(r"\b(segur|candidate|segur_profile|profile|catalogue|client|cda_documents): Any\b")
    found = [f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
             for path in sorted((ROOT / "conformance").rglob("*.py"))
             if "suites" in path.parts or "plugin" in path.parts
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if loose.search(line)]
    assert not found, "\n".join(found)
