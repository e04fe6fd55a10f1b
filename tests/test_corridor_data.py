"""Corridors come from data only: a new corridor is one YAML file, and no module of conformance/ names one.

The new corridor lives in a temporary copy of the corridor folder, pointed at by ``SEGUR_CORRIDORS_DIR``
(conformance.profiles.ENV_DIR), the way a vendor or the ANS would try a corridor before shipping it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

from conformance.cli import build_parser
from conformance.profiles import ENV_DIR, corridor_ids, default_profile, load_profile, normalise_name
from conformance.requirements import load_catalogue

ROOT = Path(__file__).resolve().parents[1]
NEW_ID = "MS9-ESSAI"
NEW_CORRIDOR = """# A corridor added by one file (tests/test_corridor_data.py): MS1's wave-1 requirements, a DLU owed.
id: MS9-ESSAI
label: "DUI MS9 essai — couloir ajouté par une donnée"
description: "Couloir d'essai : les exigences de vague 1 du MS1, un DLU exigé."
source: "tests/test_corridor_data.py"
waves: [1]
inherits: [MS1]
document_types:
  - {code: DLU, verified: V}
include: []
exclude: []
"""
# Modules that may write a corridor id, and why (sample data, not a list of corridors).
NAMES_ALLOWED = {
    "conformance/report/synthetic.py": "synthetic results.json for the report's own tests",
}


@pytest.fixture()
def corridors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "corridors"
    shutil.copytree(Path(str(resources.files("segur_profiles") / "corridors")), folder)
    (folder / "ms9-essai.yaml").write_text(NEW_CORRIDOR, encoding="utf-8")
    monkeypatch.setenv(ENV_DIR, str(folder))
    return folder


def test_a_corridor_file_is_a_corridor(corridors: Path) -> None:
    assert NEW_ID in corridor_ids()
    assert normalise_name("ms9_essai") == NEW_ID and default_profile() == "MS1"
    profile = load_profile("ms9essai")
    catalogue = load_catalogue()
    expected = [r.id for r in catalogue if "MS1" in r.corridors and r.wave == 1]  # inherits: [MS1], waves: [1]
    assert profile.id == NEW_ID and list(profile.requirement_ids) == expected and expected
    assert profile.document_types == ("DLU",) and profile.inherits == ("MS1",)


def test_the_command_line_takes_its_corridors_from_the_folder(corridors: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    assert build_parser().parse_args(["run", "--profile", "ms9_essai"]).profile == NEW_ID
    monkeypatch.delenv(ENV_DIR)  # the shipped folder has no such corridor
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--profile", "ms9_essai"])


def test_inherits_must_name_another_corridor(corridors: Path) -> None:
    (corridors / "ms9-essai.yaml").write_text(NEW_CORRIDOR.replace("inherits: [MS1]", "inherits: [MS7]"),
                                              encoding="utf-8")
    with pytest.raises(ValueError, match="inherits: 'MS7' is not another corridor"):
        load_profile(NEW_ID)


def test_a_new_corridor_runs_end_to_end(corridors: Path, tmp_path: Path) -> None:
    """`run --profile` on the new corridor, against an artefact folder whose candidate declares it."""
    artefacts = tmp_path / "artefacts"
    shutil.copytree(ROOT / "samples" / "artefacts" / "good", artefacts)
    caps = json.loads((artefacts / "capabilities.json").read_text(encoding="utf-8"))
    caps["corridors"] = [*caps["corridors"], NEW_ID]
    (artefacts / "capabilities.json").write_text(json.dumps(caps), encoding="utf-8")
    report = tmp_path / "report"
    done = subprocess.run(
        [sys.executable, "-m", "conformance.cli", "run", "--profile", "ms9-essai", "--artefacts", str(artefacts),
         "-k", "test_candidate_declares_the_corridor", "--report-dir", str(report)],
        cwd=ROOT, capture_output=True, text=True, timeout=600, env={**os.environ, ENV_DIR: str(corridors)})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads((report / "results.json").read_text(encoding="utf-8"))
    assert results["run"]["profile"] == NEW_ID and results["run"]["waves"] == [1]
    corridor_check = next(h for h in results["harness_checks"] if h["id"] == "HARNESS.CORRIDOR")
    assert corridor_check["verdict"] == "passed"
    assert {r["id"] for r in results["requirements"]} == set(load_profile(NEW_ID).requirement_ids)


def test_no_module_of_the_harness_names_a_corridor() -> None:
    names = corridor_ids()
    assert names, "no corridor in profiles/corridors/"
    word = re.compile(r"(?<![\w-])(" + "|".join(re.escape(n) for n in names) + r")(?![\w-])")
    found = []
    for path in sorted((ROOT / "conformance").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel in NAMES_ALLOWED:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if word.search(line):
                found.append(f"{rel}:{number}: {line.strip()}")
    assert not found, "corridor ids written in code (read them from profiles/corridors/):\n" + "\n".join(found)
