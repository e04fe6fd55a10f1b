"""Vendor CI templates (docs/ci/, issue 14): valid YAML of the right shape, every harness command they run
exists with its options, and the same commands, run here against the reference sandbox, succeed and write
the files the templates publish."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CI = ROOT / "docs" / "ci"


def _github() -> dict[str, Any]:
    return yaml.safe_load((CI / "github-actions.yml").read_text(encoding="utf-8"))


def _gitlab() -> dict[str, Any]:
    return yaml.safe_load((CI / "gitlab-ci.yml").read_text(encoding="utf-8"))


def _commands() -> list[tuple[str, str, dict[str, str]]]:
    """(template, command line, variables) of every ``segur-conformance`` line the templates run."""
    out = []
    gh = _github()
    for step in gh["jobs"]["conformance"]["steps"]:
        for line in str(step.get("run", "")).splitlines():
            if line.strip().startswith("segur-conformance "):
                out.append(("github-actions.yml", line.strip(), dict(gh["env"])))
    job = _gitlab()["segur-conformance"]
    for line in [*job["script"], *job.get("after_script", [])]:
        if str(line).startswith("segur-conformance "):
            out.append(("gitlab-ci.yml", str(line), dict(job["variables"])))
    return out


def test_templates_are_valid_yaml_of_the_expected_shape() -> None:
    gh = _github()
    steps = gh["jobs"]["conformance"]["steps"]
    upload = [s for s in steps if str(s.get("uses", "")).startswith("actions/upload-artifact")]
    assert upload and upload[0].get("if") == "always()" and upload[0]["with"]["path"] == "reports/"
    assert {"SANDBOX_URL", "DMP_TRUST", "HARNESS_PIP_SPEC"} <= set(gh["env"])
    job = _gitlab()["segur-conformance"]
    assert job["artifacts"]["when"] == "always" and job["artifacts"]["paths"] == ["reports/"]
    assert job["artifacts"]["reports"]["junit"] == "reports/ms1/junit-requirements.xml"
    assert len(_commands()) == 6  # check-contract, run, verify in each template


def test_every_command_and_option_exists() -> None:
    helps: dict[str, str] = {}
    for template, line, _ in _commands():
        args = shlex.split(line.removesuffix("|| true").strip())
        command = args[1]
        if command not in helps:
            helps[command] = subprocess.run([sys.executable, "-m", "conformance.cli", command, "--help"], cwd=ROOT,
                                            capture_output=True, text=True, timeout=120).stdout
        assert helps[command], f"{template}: segur-conformance {command} does not exist"
        for option in (a for a in args if a.startswith("--")):
            assert option in helps[command], f"{template}: segur-conformance {command} has no {option}"


@pytest.mark.slow
@pytest.mark.parametrize("template", ["github-actions.yml", "gitlab-ci.yml"])
def test_the_template_commands_pass_on_the_reference_sandbox(template: str, tmp_path: Path) -> None:
    from segur_reference_dui.dmp_client import trust_anchors_pem
    from segur_reference_dui.server import serve

    trust = tmp_path / "ci" / "igc-sante-test-chain.pem"
    trust.parent.mkdir()
    trust.write_bytes(trust_anchors_pem())
    with serve() as sandbox:
        for tpl, line, variables in _commands():
            if tpl != template:
                continue
            env = {**os.environ, **variables, "SANDBOX_URL": sandbox.url, "DMP_TRUST": str(trust)}
            args = [os.path.expandvars(a) if "$" in a else a
                    for a in shlex.split(re.sub(r"\|\| true$", "", line).strip())]
            args = [re.sub(r"\$(\w+)", lambda m, env=env: env[m.group(1)], a) for a in args]
            if args[1] == "run":
                args += ["--select", "contract"]  # the campaign's own preflight tests: the whole run is the e2e suite's
            proc = subprocess.run([sys.executable, "-m", "conformance.cli", *args[1:]], cwd=tmp_path, env=env,
                                  capture_output=True, text=True, timeout=600)
            assert proc.returncode == 0, f"{template}: {line}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    assert (tmp_path / "reports" / "contract.json").is_file()
    assert (tmp_path / "reports" / "ms1" / "junit-requirements.xml").is_file()
    assert (tmp_path / "reports" / "ms1" / "manifest.sig").is_file()
