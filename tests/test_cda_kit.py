"""Kit location, identity (version, content hash) and case-insensitive lookups."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conformance.cda import kit as kit_mod
from conformance.cda.kit import ENV_KIT, Kit, KitError, kit_from_env_or_option

SHARED = Path(os.environ.get("SEGUR_SHARED") or Path(__file__).resolve().parents[2] / "shared")
OFFICIAL = SHARED / "cisis-kit"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEGUR_CONFORMANCE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv(ENV_KIT, raising=False)


def tiny_kit(root: Path, *, source: bool = True) -> Path:
    (root / "infrastructure/cda").mkdir(parents=True)
    (root / "infrastructure/cda/CDA_extended.xsd").write_text("<xs:schema xmlns:xs='http://www.w3.org/2001/XMLSchema'/>")
    (root / "schematrons/include").mkdir(parents=True)
    (root / "schematrons/include/Entete_X.sch").write_text("<pattern/>")
    (root / "jeuxDeValeurs").mkdir()
    (root / "jeuxDeValeurs/JDV_A.xml").write_text("<a/>")
    if source:
        (root / "SOURCE.md").write_text(f"kit copied at commit {COMMIT} (2025-02-19)\n")
    return root


def test_open_reads_version_and_hash(tmp_path: Path) -> None:
    kit = Kit.open(tiny_kit(tmp_path / "k"))
    assert kit.version == COMMIT
    assert len(kit.sha256) == 64 and int(kit.sha256, 16) >= 0
    assert kit.path == (tmp_path / "k").resolve()
    assert kit.xsd_path.is_file() and kit.schematron_dir.is_dir()


def test_version_unknown_without_source(tmp_path: Path) -> None:
    assert Kit.open(tiny_kit(tmp_path / "k", source=False)).version == "inconnue"


def test_not_a_kit_gives_bilingual_error(tmp_path: Path) -> None:
    with pytest.raises(KitError) as exc:
        Kit.open(tmp_path / "absent")
    assert "introuvable" in exc.value.reason and "not found" in exc.value.reason_en
    (tmp_path / "empty").mkdir()
    with pytest.raises(KitError) as exc:
        Kit.open(tmp_path / "empty")
    assert "CDA_extended.xsd" in exc.value.reason and "missing" in exc.value.reason_en
    root = tmp_path / "noschematron"
    (root / "infrastructure/cda").mkdir(parents=True)
    (root / "infrastructure/cda/CDA_extended.xsd").write_text("<x/>")
    with pytest.raises(KitError) as exc:
        Kit.open(root)
    assert "schematrons/" in exc.value.reason


def test_hash_follows_content_and_is_cached(tmp_path: Path) -> None:
    root = tiny_kit(tmp_path / "k")
    first = Kit.open(root).sha256
    assert Kit.open(root).sha256 == first
    assert (tmp_path / "cache" / "kit-sha256.json").is_file()
    (root / "jeuxDeValeurs/JDV_A.xml").write_text("<a>changed</a>")
    changed = Kit.open(root).sha256
    assert changed != first
    # Examples and docs do not change verdicts, so they do not change the hash.
    (root / "ExemplesCDA").mkdir()
    (root / "ExemplesCDA/x.xml").write_text("<x/>")
    assert Kit.open(root).sha256 == changed


def test_hash_comes_from_disk_cache_in_a_fresh_process_state(tmp_path: Path) -> None:
    root = tiny_kit(tmp_path / "k")
    value = Kit.open(root).sha256
    kit_mod._hash_cache.clear()
    assert Kit.open(root).sha256 == value


def test_resolve_ci_finds_case_variants_only_inside_the_kit(tmp_path: Path) -> None:
    kit = Kit.open(tiny_kit(tmp_path / "k"))
    wrong = kit.schematron_dir / "include" / "entete_x.SCH"
    assert kit.resolve_ci(wrong) == kit.schematron_dir / "include" / "Entete_X.sch"
    assert kit.resolve_ci(kit.schematron_dir / "include" / "nothing.sch") is None
    assert kit.resolve_ci(tmp_path / "elsewhere.sch") is None


def test_kit_from_option_then_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a = tiny_kit(tmp_path / "a")
    b = tiny_kit(tmp_path / "b")
    assert kit_from_env_or_option(None) is None
    monkeypatch.setenv(ENV_KIT, str(b))
    assert kit_from_env_or_option(None).path == b.resolve()
    assert kit_from_env_or_option(str(a)).path == a.resolve()
    monkeypatch.setenv(ENV_KIT, str(tmp_path / "nope"))
    with pytest.raises(KitError):
        kit_from_env_or_option(None)


@pytest.mark.skipif(not OFFICIAL.is_dir(), reason=f"official CI-SIS kit absent ({OFFICIAL}); set SEGUR_SHARED")
def test_official_kit_identity_and_warm_hash() -> None:
    kit = Kit.open(OFFICIAL)
    assert kit.version == "7cd489b39368809df9bcf2cfef5e5d6354438a02"
    assert any(root == str(kit.path) for root, _fp in kit_mod._hash_cache)
    assert Kit.open(OFFICIAL).sha256 == kit.sha256
