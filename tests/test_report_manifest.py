"""Signed manifest: an untouched bundle verifies; any single changed byte is named with its file."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from conformance.report import synthetic as syn
from conformance.report.bundle import write_all
from conformance.report.commands import cmd_verify
from conformance.report.manifest import (
    SigningError,
    load_or_create_key,
    load_public_key,
    public_key_info,
    verify,
)


@pytest.fixture
def key_path(tmp_path: Path) -> Path:
    return tmp_path / "keys" / "signing-key.pem"


@pytest.fixture
def bundle(tmp_path: Path, key_path: Path) -> Path:
    report = tmp_path / "report"
    report.mkdir()
    results = syn.large(60, per_requirement=6, report_dir=report)
    (report / "results.json").write_text(json.dumps(results), encoding="utf-8")
    write_all(results, report, "fr", key_path)
    return report


def _all_files(report: Path) -> list[str]:
    return sorted(p.relative_to(report).as_posix() for p in report.rglob("*") if p.is_file())


def _flip(path: Path, position: int) -> bytes:
    original = path.read_bytes()
    data = bytearray(original)
    data[position] ^= 0x01
    path.write_bytes(bytes(data))
    return original


def test_untouched_bundle_is_intact(bundle: Path, key_path: Path) -> None:
    result = verify(bundle)
    assert result.status == "intact", result.to_dict()
    assert result.key_source == "manifest"
    public = public_key_info(load_or_create_key(key_path))
    given = verify(bundle, public_key=public["b64"])
    assert given.intact and given.key_source == "given" and given.fingerprint == public["fingerprint"]
    files = set(_all_files(bundle))
    assert {"report.html", "results.json", "junit-requirements.xml", "convergence.csv", "convergence.xlsx",
            "manifest.json", "manifest.sig"} <= files
    assert sum(1 for f in files if f.startswith("evidence/")) >= 5
    assert result.files_checked == len(files) - 2


def test_every_single_byte_change_names_its_file(bundle: Path) -> None:
    files = _all_files(bundle)
    for rel in files:
        path = bundle / rel
        size = path.stat().st_size
        for position in sorted({0, size // 2, size - 1}):
            original = _flip(path, position)
            try:
                result = verify(bundle)
            finally:
                path.write_bytes(original)
            assert not result.intact, (rel, position)
            assert rel in result.changed, (rel, position, result.to_dict())
    assert verify(bundle).intact


def test_added_and_removed_files_are_named(bundle: Path) -> None:
    (bundle / "evidence" / "extra.log").write_text("ajout")
    victim = next(p for p in sorted((bundle / "evidence").rglob("*.xml")))
    rel = victim.relative_to(bundle).as_posix()
    victim.unlink()
    result = verify(bundle)
    assert result.added == ["evidence/extra.log"]
    assert result.removed == [rel]
    assert result.signature == "valid" and not result.intact


def test_missing_manifest_or_signature(bundle: Path) -> None:
    (bundle / "manifest.sig").unlink()
    result = verify(bundle)
    assert result.signature == "missing" and "manifest.sig" in result.removed and not result.intact
    (bundle / "manifest.json").unlink()
    result = verify(bundle)
    assert "manifest.json" in result.removed and not result.intact


def test_another_key_is_refused(bundle: Path, tmp_path: Path) -> None:
    other = public_key_info(load_or_create_key(tmp_path / "other.pem"))
    result = verify(bundle, public_key=other["b64"])
    assert result.signature == "invalid" and not result.intact
    assert any("autre clé" in fr for fr, _ in result.problems)


def test_resigned_with_attacker_key_fails_against_trusted_key(bundle: Path, key_path: Path, tmp_path: Path) -> None:
    from conformance.report.manifest import sign_bundle

    trusted = public_key_info(load_or_create_key(key_path))["b64"]
    (bundle / "report.html").write_text("faux rapport", encoding="utf-8")
    sign_bundle(bundle, load_or_create_key(tmp_path / "attacker.pem"))
    assert verify(bundle).intact  # integrity alone holds: the attacker re-signed everything
    assert not verify(bundle, public_key=trusted).intact  # but not against the key the auditor trusts


def test_key_created_once_with_private_permissions(key_path: Path) -> None:
    first = load_or_create_key(key_path)
    mode = stat.S_IMODE(os.stat(key_path).st_mode)
    assert mode == 0o600
    second = load_or_create_key(key_path)
    assert public_key_info(first)["b64"] == public_key_info(second)["b64"]


def test_default_key_location_under_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from conformance.report.manifest import default_key_path

    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_key_path() == tmp_path / ".config" / "segur-conformance" / "signing-key.pem"


def test_bad_key_files_give_clear_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("pas une clé")
    with pytest.raises(SigningError, match="not an unencrypted PEM private key"):
        load_or_create_key(bad)
    with pytest.raises(SigningError):
        load_public_key("AAAA")


def test_public_key_accepted_as_pem_file_private_file_or_base64(tmp_path: Path) -> None:
    key_file = tmp_path / "k.pem"
    key = load_or_create_key(key_file)
    info = public_key_info(key)
    pub_file = tmp_path / "k.pub.pem"
    pub_file.write_text(info["pem"])
    for source in (pub_file, key_file, info["b64"], info["pem"]):
        assert public_key_info(load_public_key(source))["b64"] == info["b64"]


def test_public_key_is_printed_in_the_report(bundle: Path, key_path: Path) -> None:
    info = public_key_info(load_or_create_key(key_path))
    html = (bundle / "report.html").read_text(encoding="utf-8")
    assert info["b64"] in html and info["fingerprint"] in html


def test_cmd_verify_exit_codes_and_messages(bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cmd_verify(bundle, None) == 0
    out = capsys.readouterr().out
    assert "Dossier intact" in out and "prouve l'intégrité, pas l'origine" in out
    _flip(bundle / "results.json", 10)
    assert cmd_verify(bundle, None, lang="en") == 1
    out = capsys.readouterr().out
    assert "changed: results.json" in out
    bad_key = tmp_path / "nokey.pem"
    bad_key.write_text("garbage")
    assert cmd_verify(bundle, bad_key) == 2


def test_manifest_with_hostile_paths_is_refused_not_followed(bundle: Path) -> None:
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["files"].append({"path": "../../etc/passwd", "sha256": "0" * 64, "size": 1})
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    result = verify(bundle)
    assert "manifest.json" in result.changed
    assert any("chemin invalide" in fr for fr, _ in result.problems)
