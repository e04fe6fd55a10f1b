"""diff (regressed / fixed / unchanged) and merge (precedence, no double counting, de-duplication)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformance.report import synthetic as syn
from conformance.report.commands import cmd_diff, cmd_export, cmd_merge
from conformance.report.diff import diff
from conformance.report.manifest import verify
from conformance.report.merge import PRECEDENCE, merge_results, stronger


def _run(verdicts: dict[str, str], findings: dict[str, list[dict]] | None = None, **run) -> dict:
    findings = findings or {}
    entries = [syn.requirement(rid, rid.split(".")[1], v, findings=findings.get(rid, []),
                               manual_only=v == "manual") for rid, v in verdicts.items()]
    return syn.results(entries, **run)


# ------------------------------------------------------------------------------------------- diff
def test_diff_classifies_changes() -> None:
    old = _run({"DUI.INS.01": "passed", "DUI.INS.02": "failed", "DUI.INS.03": "passed", "DUI.INS.04": "failed",
                "DUI.INS.05": "not_run", "DUI.INS.06": "passed"},
               {"DUI.INS.04": [syn.finding("DUI.INS.04", 1)]})
    new = _run({"DUI.INS.01": "failed", "DUI.INS.02": "passed", "DUI.INS.03": "not_run", "DUI.INS.04": "failed",
                "DUI.INS.05": "error", "DUI.INS.07": "passed"},
               {"DUI.INS.04": [syn.finding("DUI.INS.04", 2)]})
    result = diff(old, new)
    assert [c.id for c in result.regressed] == ["DUI.INS.01", "DUI.INS.05"]
    assert [c.id for c in result.fixed] == ["DUI.INS.02"]
    assert [c.id for c in result.changed] == ["DUI.INS.03"]
    assert [(c.id, c.new_findings, c.gone_findings) for c in result.unchanged] == [("DUI.INS.04", 1, 1)]
    assert [c.id for c in result.added] == ["DUI.INS.07"]
    assert [c.id for c in result.removed] == ["DUI.INS.06"]
    assert set(result.to_dict()) == {"regressed", "fixed", "changed", "unchanged", "added", "removed"}


def test_cmd_diff_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(json.dumps(_run({"DUI.MSS.01": "passed"})))
    new.write_text(json.dumps(_run({"DUI.MSS.01": "failed"})))
    assert cmd_diff(old, new, "fr") == 1
    assert "Régressions (1)" in capsys.readouterr().out
    assert cmd_diff(new, old, "en") == 0
    assert "Fixes (1)" in capsys.readouterr().out
    (tmp_path / "bad.json").write_text("{not json")
    assert cmd_diff(tmp_path / "bad.json", new, "fr") == 2
    assert "illisible" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------ merge
def test_precedence_order() -> None:
    assert PRECEDENCE == ("failed", "error", "passed", "reserved", "manual", "not_run")
    assert stronger("passed", "failed") == "failed"
    assert stronger("error", "passed") == "error"
    assert stronger("manual", "passed") == "passed"
    assert stronger("not_run", "manual") == "manual"


@given(st.lists(st.sampled_from(PRECEDENCE), min_size=1, max_size=5))
def test_merged_verdict_is_the_strongest(verdicts: list[str]) -> None:
    runs = [_run({"DUI.INS.01": v}) for v in verdicts]
    merged = merge_results(runs).results
    assert merged["requirements"][0]["verdict"] == min(verdicts, key=PRECEDENCE.index)
    assert merged["summary"]["total"] == 1


def test_merge_counts_each_requirement_once_and_deduplicates_findings() -> None:
    f1 = syn.finding("DUI.MSS.01", 1)
    shard_a = _run({"DUI.MSS.01": "failed", "DUI.INS.01": "passed"}, {"DUI.MSS.01": [f1]})
    shard_b = _run({"DUI.MSS.01": "passed", "DUI.DMP.01": "not_run"},
                   {"DUI.MSS.01": [dict(f1, evidence="evidence/other.xml"), syn.finding("DUI.MSS.01", 2)]},
                   started_at="2026-01-10T10:05:00+01:00", finished_at="2026-01-10T10:09:00+01:00")
    outcome = merge_results([shard_a, shard_b, shard_a])
    merged = outcome.results
    ids = [r["id"] for r in merged["requirements"]]
    assert ids == ["DUI.MSS.01", "DUI.INS.01", "DUI.DMP.01"]
    mss = merged["requirements"][0]
    assert mss["verdict"] == "failed"
    assert [f["rule"] for f in mss["findings"]] == ["RULE.DUI.MSS.01.1", "RULE.DUI.MSS.01.2"]
    assert len(mss["tests"]) == 2  # same test from shard_a twice counted once; shard_b's passing one kept
    assert all(p["verdict"] == "failed" for s in mss["scenarios"] for p in s["proofs"])
    summary = merged["summary"]
    assert (summary["total"], summary["failed"], summary["passed"], summary["not_run"]) == (3, 1, 1, 1)
    run = merged["run"]
    assert run["started_at"].startswith("2026-01-10T10:00:00") and run["finished_at"].startswith("2026-01-10T10:09")
    assert run["duration_s"] == 540.0 and len(run["merged_from"]) == 3


def test_merge_manual_proof_stays_manual() -> None:
    a = syn.requirement("DUI.PSC.01", "PSC", "passed", extra_manual_proof=True)
    b = syn.requirement("DUI.PSC.01", "PSC", "failed", extra_manual_proof=True)
    merged = merge_results([syn.results([a]), syn.results([b])]).results
    proofs = merged["requirements"][0]["scenarios"][0]["proofs"]
    assert [p["verdict"] for p in proofs] == ["failed", "manual"]


def test_merge_relocates_colliding_evidence() -> None:
    def run_with(content: str) -> dict:
        sha = hashlib.sha256(content.encode()).hexdigest()
        entry = syn.requirement("DUI.DOC.01", "DOC", "failed",
                                findings=[syn.finding("DUI.DOC.01", 1, evidence="evidence/t/doc.xml", sha=sha)
                                          | {"message": content}])
        ev = [{"path": "evidence/t/doc.xml", "sha256": sha, "size": len(content), "kind": "Document CDA",
               "description": "", "test": entry["tests"][0]["nodeid"]}]
        return syn.results([entry], ev)

    outcome = merge_results([run_with("A"), run_with("B")])
    paths = [e["path"] for e in outcome.results["evidence"]]
    assert paths == ["evidence/t/doc.xml", "evidence/run-2/t/doc.xml"]
    assert [(c.run, c.source, c.target) for c in outcome.copies] == [
        (0, "evidence/t/doc.xml", "evidence/t/doc.xml"), (1, "evidence/t/doc.xml", "evidence/run-2/t/doc.xml")]
    findings = outcome.results["requirements"][0]["findings"]
    assert [f["evidence"] for f in findings] == ["evidence/t/doc.xml", "evidence/run-2/t/doc.xml"]


def _bundle(tmp_path: Path, name: str, verdicts: dict[str, str]) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    data = f"<doc run='{name}'/>".encode()
    (folder / "evidence" / "t").mkdir(parents=True)
    (folder / "evidence" / "t" / "doc.xml").write_bytes(data)
    res = _run(verdicts)
    first = res["requirements"][0]
    res["evidence"] = [{"path": "evidence/t/doc.xml", "sha256": hashlib.sha256(data).hexdigest(),
                        "size": len(data), "kind": "Log", "description": "", "test": first["tests"][0]["nodeid"]}]
    (folder / "results.json").write_text(json.dumps(res), encoding="utf-8")
    return folder


def test_cmd_merge_writes_a_signed_bundle_with_all_evidence(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    a = _bundle(tmp_path, "a", {"DUI.INS.01": "passed"})
    b = _bundle(tmp_path, "b", {"DUI.INS.01": "passed", "DUI.MSS.01": "passed"})
    out = tmp_path / "merged"
    code = cmd_merge([a, b / "results.json"], out, "fr", signing_key=tmp_path / "k.pem")
    assert code == 0, capsys.readouterr()
    assert (out / "evidence" / "t" / "doc.xml").read_bytes() == b"<doc run='a'/>"
    assert (out / "evidence" / "run-2" / "t" / "doc.xml").read_bytes() == b"<doc run='b'/>"
    for name in ("report.html", "results.json", "junit-requirements.xml", "convergence.csv", "convergence.xlsx"):
        assert (out / name).is_file()
    assert verify(out).intact
    merged = json.loads((out / "results.json").read_text())
    assert merged["summary"]["total"] == 2
    assert "ev-ok" in (out / "report.html").read_text()
    # failures make the exit code 1; a non-empty output folder is a usage error
    c = _bundle(tmp_path, "c", {"DUI.INS.01": "failed"})
    assert cmd_merge([a, c], tmp_path / "m2", "fr", signing_key=tmp_path / "k.pem") == 1
    assert cmd_merge([a], out, "fr", signing_key=tmp_path / "k.pem") == 2
    assert cmd_merge([tmp_path / "nowhere.json"], tmp_path / "m3", "fr") == 2


def test_cmd_export_formats_and_resigning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = _bundle(tmp_path, "a", {"DUI.INS.01": "failed"})
    key = tmp_path / "k.pem"
    assert cmd_export(a / "results.json", tmp_path / "out", ["junit,csv"], signing_key=key) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["convergence.csv", "junit-requirements.xml"]
    assert cmd_export(a / "results.json", tmp_path / "out2", ["pdf"]) == 2
    # export into a signed bundle: verified first, re-signed after
    from conformance.report.bundle import write_all

    write_all(json.loads((a / "results.json").read_text()), a, "fr", key)
    assert verify(a).intact
    assert cmd_export(a / "results.json", a, ["html"], lang="en", signing_key=key) == 0
    assert verify(a).intact and 'lang="en"' in (a / "report.html").read_text()
    (a / "results.json").write_text((a / "results.json").read_text() + " ")
    assert cmd_export(a / "results.json", a, ["all"], signing_key=key) == 1
