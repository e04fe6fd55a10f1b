"""Artefact mode at scale (issue 15 item 5): files streamed, never all held; work spread over --jobs; a
progress line with ETA. Figures (documents/s, peak RSS for 1,000 and 10,000 documents) are measured by
benchmarks/bench_artefacts_scale.py, never asserted here; these tests check the behaviour behind them.
"""

from __future__ import annotations

import json
import operator
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.sandbox import artefacts
from conformance.sandbox.artefacts import FileArtefact, Progress, read_folder, stream_map

ROOT = Path(__file__).resolve().parent.parent
GOOD = ROOT / "samples" / "artefacts" / "good"


def _folder(tmp_path: Path, copies: int) -> Path:
    """An artefact folder of ``copies`` CDA documents: the good samples repeated under distinct names."""
    folder = tmp_path / "art"
    (folder / "cda").mkdir(parents=True)
    shutil.copy(GOOD / "capabilities.json", folder / "capabilities.json")
    docs = sorted((GOOD / "cda").glob("*.xml"))
    for n in range(copies):
        src = docs[n % len(docs)]
        shutil.copy(src, folder / "cda" / f"{src.stem}-{n:04d}.xml")
    return folder


# ---------------------------------------------------------------------------------------------
# files are read on demand and released
# ---------------------------------------------------------------------------------------------
def test_folder_listing_holds_names_not_bytes(tmp_path: Path) -> None:
    folder = _folder(tmp_path, 3)
    arts = read_folder(folder, "cda")
    assert [type(a) for a in arts] == [FileArtefact] * 3
    assert all("data" not in vars(a) for a in arts)  # no bytes kept on the object
    first = arts[0]
    assert first.data == Path(first.meta["path"]).read_bytes()
    Path(first.meta["path"]).write_bytes(b"<changed/>")
    assert first.data == b"<changed/>"  # read again each time: nothing cached


def test_a_file_sent_to_a_worker_travels_as_its_path(tmp_path: Path) -> None:
    folder = _folder(tmp_path, 1)
    art = read_folder(folder, "cda")[0]
    blob = pickle.dumps(art)
    assert len(blob) < 500 < art.size
    back = pickle.loads(blob)
    assert back == art and back.data == art.data and back.name == art.name


def test_a_file_that_vanishes_or_grows_after_listing_reads_as_empty(tmp_path: Path, monkeypatch) -> None:
    folder = _folder(tmp_path, 2)
    gone, grown = read_folder(folder, "cda")
    Path(gone.meta["path"]).unlink()
    monkeypatch.setattr(artefacts, "MAX_ARTEFACT_BYTES", 10)
    assert gone.data == b"" and grown.data == b""


def test_unreadable_and_oversized_files_still_carry_their_problem(tmp_path: Path, monkeypatch) -> None:
    folder = _folder(tmp_path, 2)
    monkeypatch.setattr(artefacts, "MAX_ARTEFACT_BYTES", 100)
    arts = read_folder(folder, "cda")
    assert all(a.problem.startswith("fichier trop volumineux") and a.data == b"" for a in arts)


# ---------------------------------------------------------------------------------------------
# stream_map and the progress line
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("jobs", [1, 2])
def test_stream_map_keeps_order_and_pairs_each_item_with_its_result(tmp_path: Path, jobs: int) -> None:
    arts = read_folder(_folder(tmp_path, 23), "cda")
    artefacts.set_console(lambda text: None)
    try:
        pairs = list(stream_map(operator.attrgetter("data"), arts, jobs=jobs, chunksize=3))
    finally:
        artefacts.set_console(None)
    assert [a for a, _ in pairs] == arts
    assert [r for _, r in pairs] == [a.data for a in arts]


def test_progress_line_counts_rate_and_eta_then_total_time() -> None:
    now = [0.0]
    lines: list[str] = []
    progress = Progress(1000, "CDA", lines.append, clock=lambda: now[0])
    for _ in range(1000):
        now[0] += 0.02
        progress.update()
    assert lines[0].startswith("\rCDA 1/1 000 ")
    middle = next(line for line in lines if 480 <= int(line[5:].split("/")[0].replace(" ", "")) <= 520)
    done = int(middle[5:].split("/")[0].replace(" ", ""))
    assert f" {round(done / 10)}%" in middle and "50.0/s" in middle and "reste 10 s" in middle
    assert lines[-1].endswith("100% · 50.0/s · terminé en 20 s\n")
    assert len(lines) < 60  # rewritten at most every 0.5 s, not once per document


def test_progress_shown_only_for_long_folders(tmp_path: Path) -> None:
    lines: list[str] = []
    artefacts.set_console(lines.append, "en")
    try:
        list(stream_map(len, ["x"] * (artefacts.PROGRESS_MIN_ITEMS - 1)))
        assert lines == []
        list(stream_map(len, ["x"] * artefacts.PROGRESS_MIN_ITEMS, label="CDA (models)"))
    finally:
        artefacts.set_console(None)
    assert lines and lines[-1].startswith("\rCDA (models) 200/200") and "done in" in lines[-1]


def test_layer3_results_keep_a_summary_not_the_document_tree() -> None:
    from conformance.suites._fixtures_cda import _model_result, summary_tree

    art = read_folder(GOOD, "cda")[0]
    result, summary = _model_result((art, None, None, False, "MS1"))
    assert result.tree is None and "models" in result.layers_run
    tree = summary_tree(summary)
    root = tree.getroot()
    assert [child.tag.split("}")[1] for child in root] == ["title", "code"]
    assert root.findtext("{urn:hl7-org:v3}title")
    assert len(summary) < 1000 < art.size  # a few hundred bytes per document, whatever its size
    assert summary_tree(None) is None


# ---------------------------------------------------------------------------------------------
# end to end: --jobs spreads the documents and changes no verdict; the console shows progress
# ---------------------------------------------------------------------------------------------
def _run(folder: Path, report: Path, *extra: str) -> tuple[subprocess.CompletedProcess[str], dict]:
    proc = subprocess.run([sys.executable, "-m", "conformance.cli", "run", "--profile", "MS1", "--artefacts",
                           str(folder), "--report-dir", str(report), *extra], capture_output=True, text=True,
                          timeout=900, cwd=ROOT, env={**os.environ, "COLUMNS": "200"})
    results = json.loads((report / "results.json").read_text(encoding="utf-8"))
    return proc, results


def _verdicts(results: dict) -> dict[str, tuple[str, int, int]]:
    return {r["id"]: (r["verdict"], len(r.get("findings") or []),
                      sum(1 for f in r.get("findings") or [] if f.get("severity") == "error"))
            for r in results["requirements"]}


@pytest.mark.slow
def test_jobs_spread_documents_with_the_same_verdicts_and_a_progress_line(tmp_path: Path) -> None:
    folder = _folder(tmp_path, artefacts.PROGRESS_MIN_ITEMS + 8)
    broken = folder / "cda" / "DLU-0000.xml"  # one document that fails, so the comparison is not all-pass
    broken.write_bytes(broken.read_bytes().replace(b'<realmCode code="FR"/>', b'<realmCode code="US"/>'))
    one, r1 = _run(folder, tmp_path / "j1")
    two, r2 = _run(folder, tmp_path / "j2", "--jobs", "2")
    for proc in (one, two):
        assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
        assert "Traceback" not in proc.stdout + proc.stderr
    assert _verdicts(r1) == _verdicts(r2)
    assert next(r for r in r1["requirements"] if r["id"] == "DOC/AUTO.03")["verdict"] == "failed"
    total = artefacts.PROGRESS_MIN_ITEMS + 8
    for proc in (one, two):
        assert f"CDA (modèles) {total}/{total} " in proc.stdout and "terminé en" in proc.stdout
