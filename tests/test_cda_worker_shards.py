"""The warm worker split in two shards (issue 16, peak memory per process): volets in one process, the
5 profiles in another, findings merged in the in-process order — identical to the in-process runner.

Needs the official CI-SIS kit (``SEGUR_SHARED`` or ../shared/cisis-kit).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from conformance.cda import sch_worker
from conformance.cda.kit import Kit
from conformance.cda.sch_worker import PARTS, WarmRunner, ping
from conformance.safexml import parse_file

SHARED = Path(os.environ.get("SEGUR_SHARED") or Path(__file__).resolve().parents[2] / "shared")
OFFICIAL = SHARED / "cisis-kit"
pytestmark = pytest.mark.skipif(
    not OFFICIAL.is_dir(), reason=f"official CI-SIS kit absent ({OFFICIAL}); set SEGUR_SHARED"
)
EXAMPLES = ("VSM_1.4_2022.01.xml", "DLU-EHPAD-DLU_2022.01.xml")


@pytest.fixture(scope="module")
def kit() -> Kit:
    return Kit.open(OFFICIAL)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sch-cache")


@pytest.fixture
def root():
    d = Path(tempfile.mkdtemp(prefix="segs-", dir="/tmp"))  # short: a Unix socket path fits in 108 bytes
    yield d
    shutil.rmtree(d, ignore_errors=True)


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
