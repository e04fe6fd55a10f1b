"""The warm schematron worker (issue 16): same findings as in-process, private socket, stops when idle;
and split in two shards (peak memory per process): volets in one process, the 5 profiles in another,
findings merged in the in-process order.

Needs the official CI-SIS kit (``SEGUR_SHARED`` or ../shared/cisis-kit); the worker compiles the kit into
this test's own cache folder, so the first request waits for a cold compilation.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import time
from pathlib import Path

import pytest

from conformance.cda import sch_worker
from conformance.cda.kit import Kit
from conformance.cda.sch_worker import PARTS, WarmRunner, ping, worker_dir
from conformance.safexml import parse_file

SHARED = Path(os.environ.get("SEGUR_SHARED") or Path(__file__).resolve().parents[2] / "shared")
OFFICIAL = SHARED / "cisis-kit"
pytestmark = pytest.mark.skipif(
    not OFFICIAL.is_dir(), reason=f"official CI-SIS kit absent ({OFFICIAL}); set SEGUR_SHARED"
)
EXAMPLE = "VSM_1.4_2022.01.xml"
EXAMPLES = ("VSM_1.4_2022.01.xml", "DLU-EHPAD-DLU_2022.01.xml")
IDLE = 4.0
WAIT = 300.0  # upper bound on waiting for the idle stop on a loaded machine (not a timing assertion)


@pytest.fixture(scope="module")
def kit() -> Kit:
    return Kit.open(OFFICIAL)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sch-cache")


@pytest.fixture
def root():
    # short: a Unix socket path must fit in 108 bytes
    d = Path(tempfile.mkdtemp(prefix="segw-", dir="/tmp"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _raw_request(path: Path, n_head: int, n_body: int) -> dict:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(60)
        s.connect(str(path))
        s.sendall(sch_worker._FRAME.pack(n_head, n_body))
        reply, _ = sch_worker._recv(s, sch_worker.MAX_HEADER, 0)
    return reply


def test_worker_answers_like_in_process_and_stops_when_idle(kit: Kit, cache: Path, root: Path) -> None:
    from conformance.cda.schematron import SchematronRunner

    tree = parse_file(str(kit.examples_dir / EXAMPLE))
    warm = WarmRunner(kit, cache, idle=IDLE, worker_root=root)
    assert warm.socket is not None and warm.socket.parent == root / "worker"
    first = warm.validate(tree, EXAMPLE)  # starts the worker, which compiles, then answers
    second = warm.validate(tree, EXAMPLE)
    assert warm.used_worker == 2, "both documents answered by the worker, none in-process"
    pid = ping(warm.socket)
    assert pid is not None and pid != os.getpid()

    # a request over the size bound is refused, and the worker keeps serving
    refused = _raw_request(warm.socket, 10, sch_worker.MAX_DOC + 1)
    assert refused["ok"] is False and "too large" in refused["error"]
    assert ping(warm.socket) == pid

    local = SchematronRunner(kit, cache).validate(tree, EXAMPLE)
    rules = [f.rule for f in local]
    assert any(r.startswith("CDA.SCH.EVALUATED") for r in rules) and "CDA.SCH.KIT_FIX" in rules
    assert first == local, "worker and in-process runner give the same findings (lines included)"
    # the kit-fix notes are said once per session, like one in-process runner
    assert [f for f in second if f.rule == "CDA.SCH.KIT_FIX"] == []
    assert second == [f for f in local if f.rule != "CDA.SCH.KIT_FIX"]

    # the worker stops by itself after IDLE seconds without a request: socket removed, lock released
    deadline = time.monotonic() + WAIT
    while warm.socket.exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not warm.socket.exists()
    assert ping(warm.socket) is None
    assert not sch_worker._locked(Path(f"{warm.socket}.lock"))


def test_no_worker_outside_a_private_folder(kit: Kit, cache: Path, root: Path) -> None:
    shared = root / "worker"
    shared.mkdir()
    shared.chmod(0o755)  # readable by others: never used for a socket
    assert worker_dir(root) is None
    warm = WarmRunner(kit, cache, idle=IDLE, worker_root=root)
    assert warm.socket is None
    tree = parse_file(str(kit.examples_dir / EXAMPLE))
    out = warm.validate(tree, EXAMPLE)  # in-process fallback, same verdicts
    assert warm.used_worker == 0
    assert any(f.rule.startswith("CDA.SCH.EVALUATED") for f in out)
    assert list(shared.iterdir()) == []


def test_worker_refuses_a_socket_outside_its_private_folder(root: Path) -> None:
    (root / "worker").mkdir(mode=0o755)
    (root / "worker").chmod(0o755)
    code = sch_worker.main(["--kit", str(OFFICIAL), "--socket", str(root / "worker" / "x.sock"), "--idle", "1"])
    assert code == 2
    assert not (root / "worker" / "x.sock").exists()


def test_validate_warm_prints_what_in_process_prints(root: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from conformance import cli
    from conformance.cda import validate

    monkeypatch.setenv("SEGUR_CONFORMANCE_CACHE", str(root))  # compile cache and worker folder of this test
    monkeypatch.setenv("SEGUR_CDA_WORKER_IDLE", str(IDLE))
    monkeypatch.setenv("SEGUR_CDA_WARM", "0")  # restored at teardown (``--warm`` sets it to 1)
    monkeypatch.setattr(validate, "_runner_cache", {})
    doc = str(OFFICIAL / "ExemplesCDA" / EXAMPLE)
    assert cli.main(["validate", "--cisis-kit", str(OFFICIAL), doc]) == 0
    in_process = capsys.readouterr().out
    assert cli.main(["validate", "--warm", "--cisis-kit", str(OFFICIAL), doc]) == 0
    warm = capsys.readouterr().out
    runners = [r for r in validate._runner_cache.values() if isinstance(r, WarmRunner)]
    assert len(runners) == 1 and runners[0].used_worker == 1, "the document went through the worker"
    assert "CDA.SCH.KIT_FIX" in in_process
    assert warm == in_process
    assert runners[0].socket is not None and ping(runners[0].socket, "stop") is not None


# ---------------------------------------------------------------------------------------------
# two shards
# ---------------------------------------------------------------------------------------------
def test_the_two_parts_concatenated_are_validate(kit: Kit, cache: Path) -> None:
    from conformance.cda.schematron import SchematronRunner

    tree = parse_file(str(kit.examples_dir / EXAMPLES[0]))
    whole = SchematronRunner(kit, cache).validate(tree, EXAMPLES[0])
    volets = sch_worker._validate_part(SchematronRunner(kit, cache), tree, EXAMPLES[0], "volets")
    profiles = sch_worker._validate_part(SchematronRunner(kit, cache), tree, EXAMPLES[0], "profiles")
    evaluated = [f.rule for f in volets + profiles if f.rule.startswith("CDA.SCH.EVALUATED")]
    assert len(evaluated) == 6, "the volet and the 5 profiles"
    assert all("ASIP-STRUCT-MIN" not in r for r in (f.rule for f in volets))
    assert volets + profiles == whole


def test_sharded_worker_answers_like_in_process(kit: Kit, cache: Path, root: Path) -> None:
    from conformance.cda.schematron import SchematronRunner

    warm = WarmRunner(kit, cache, idle=60.0, worker_root=root, shards=2)
    assert warm.socket is None and [part for part, _p in warm.sockets] == list(PARTS)
    paths = [p for _part, p in warm.sockets]
    assert all(p is not None and p.parent == root / "worker" for p in paths)
    try:
        local = SchematronRunner(kit, cache)
        for name in EXAMPLES:
            tree = parse_file(str(kit.examples_dir / name))
            assert warm.validate(tree, name) == local.validate(tree, name), name
        assert warm.used_worker == len(EXAMPLES), "every document answered by the shards, none in-process"
        pids = [ping(p) for p in paths if p is not None]
        assert None not in pids and len(set(pids)) == 2 and os.getpid() not in pids
    finally:
        for p in paths:
            if p is not None:
                ping(p, "stop")


def test_shards_must_be_one_or_two(kit: Kit, cache: Path, root: Path) -> None:
    with pytest.raises(ValueError):
        WarmRunner(kit, cache, worker_root=root, shards=3)
