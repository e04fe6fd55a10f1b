"""The import contracts of .importlinter hold (docs/architecture.md "Layers"), checked by import-linter.

CI runs only pytest, so this test is what enforces the layering: rooms (cda, dmp, mss, psc) independent
of each other and importing only the core, conformance.ihe and conformance.ins; the core reaching a room
only through the seams listed in .importlinter; nothing of the harness importing the reference sandbox.
"""

from __future__ import annotations

import configparser
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / ".importlinter"
ROOMS = ("conformance.cda", "conformance.dmp", "conformance.mss", "conformance.psc")


def _lint_imports(config: Path) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "lint-imports"  # installed with the test extra (pyproject.toml)
    assert script.exists(), "import-linter is missing: pip install -e '.[test]'"
    return subprocess.run([str(script), "--config", str(config), "--no-cache"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, check=False)


def _contracts() -> configparser.ConfigParser:
    parser = configparser.ConfigParser()
    parser.read(CONFIG, encoding="utf-8")
    return parser


def test_every_import_contract_is_kept() -> None:
    done = _lint_imports(CONFIG)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    kept = done.stdout.count(" KEPT")
    assert kept == len([s for s in _contracts().sections() if s.startswith("importlinter:contract:")])


def test_a_broken_contract_is_reported(tmp_path: Path) -> None:
    """The same tool on the same code fails a contract the code breaks: the check above can fail."""
    config = tmp_path / "broken.ini"
    config.write_text("[importlinter]\nroot_packages =\n    conformance\n\n"
                      "[importlinter:contract:wrong]\nname = dmp does not use the shared IHE layer (false)\n"
                      "type = forbidden\nsource_modules =\n    conformance.dmp\n"
                      "forbidden_modules =\n    conformance.ihe\n", encoding="utf-8")
    done = _lint_imports(config)
    assert done.returncode == 1, done.stdout[-3000:]
    assert "BROKEN" in done.stdout and "conformance.dmp" in done.stdout


def test_every_package_of_the_harness_is_placed_in_a_layer() -> None:
    """A new sub-package (a fifth room, a new shared layer) must be written into the contracts."""
    text = CONFIG.read_text(encoding="utf-8")
    packages = sorted(p.parent.name for p in (ROOT / "conformance").glob("*/__init__.py"))
    missing = [name for name in packages if f"conformance.{name}\n" not in text]
    assert not missing, f"sub-packages absent from .importlinter: {missing}"
    independent = _contracts()["importlinter:contract:rooms-independent"]["modules"].split()
    assert tuple(independent) == ROOMS
