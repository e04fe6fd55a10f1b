"""The ``segur-conformance`` command line: exit codes, one-line errors, listing commands."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conformance.cli import main


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "conformance.cli", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=600)


def test_requirements_lists_one_requirement_per_line_starting_with_its_id(capsys) -> None:
    from conformance.profiles import load_profile
    from conformance.requirements import load_catalogue

    assert main(["requirements", "--profile", "MS1"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    expected = load_profile("MS1", load_catalogue()).requirement_ids
    assert [line.split()[0] for line in lines] == list(expected)


def test_unknown_profile_is_a_usage_error(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["run", "--profile", "MS9"])
    assert exc.value.code == 2
    assert "unknown profile" in capsys.readouterr().err


@pytest.mark.parametrize("args, needle", [
    (["run", "--artefacts", "/nonexistent/folder"], "n'est pas un dossier"),
    (["run", "--cisis-kit", "/tmp"], "n'est pas un kit CI-SIS"),
    (["run", "--defect", "no_such_defect"], "unknown defect"),
    (["validate", "/nonexistent.xml"], "introuvable"),
    (["verify", "/nonexistent-dir"], "n'est pas un dossier"),
])
def test_bad_arguments_give_one_clear_line_and_exit_2(capsys, args: list[str], needle: str) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_sandbox_lists_its_defects(capsys) -> None:
    assert main(["sandbox", "--list-defects"]) == 0
    out = capsys.readouterr().out
    assert "no_corridor" in out


def test_no_command_prints_help_and_exits_2(capsys) -> None:
    assert main([]) == 2
    assert "run" in capsys.readouterr().out


def test_validate_routes_messages_and_submissions_by_kind(capsys) -> None:
    """`validate` takes .eml (MSSanté) and .http (DMP ITI-41) as well as CDA documents."""
    samples = Path(__file__).resolve().parents[1] / "samples" / "artefacts"
    good = [samples / "good" / "mss" / "pro-PPA.eml", samples / "good" / "dmp" / "PPA.http",
            samples / "good" / "cda" / "PPA.xml"]
    assert all(p.is_file() for p in good)
    assert main(["validate", *map(str, good)]) == 0
    out = capsys.readouterr().out
    assert "MSSanté (.eml)" in out and "DMP ITI-41 (.http)" in out and "3 documents" in out
    bad = [samples / "bad" / "mss" / "pro-PPA-wrong_codecda.eml", samples / "bad" / "dmp" / "PPA-hash_mismatch.http"]
    assert main(["validate", "--lang", "en", *map(str, bad)]) == 1
    out = capsys.readouterr().out
    assert "MSS.HDR.CODECDA" in out and "DMP.XDS.hash" in out
