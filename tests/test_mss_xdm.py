"""IHE_XDM.ZIP: a correct package passes; hostile or broken archives give findings, never exceptions."""

from __future__ import annotations

import io
import zipfile

import pytest
from test_mss_helpers import cda

from conformance.findings import Severity
from conformance.mss.xdm import ZipLimits, open_xdm
from conformance.mss.xdm_build import XdmOptions, build_xdm, metadata_from_cda


def rules(pkg: object, severity: Severity = Severity.ERROR) -> list[str]:
    return sorted({f.rule for f in pkg.findings if f.severity is severity})  # type: ignore[attr-defined]


def zip_of(files: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def good_files() -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(build_xdm([cda()]))) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def test_reference_package_is_clean() -> None:
    pkg = open_xdm(build_xdm([cda(), cda(code="60591-5")]), "ok.zip")
    assert rules(pkg) == [] and rules(pkg, Severity.WARNING) == []
    assert len(pkg.cda_documents) == 2
    assert set(pkg.files) == {"INDEX.HTM", "README.TXT", "IHE_XDM/SUBSET01/METADATA.XML",
                              "IHE_XDM/SUBSET01/DOC0001.XML", "IHE_XDM/SUBSET01/DOC0002.XML"}


def test_metadata_are_derived_from_the_cda_header() -> None:
    md = metadata_from_cda(cda())
    assert md["typeCode"][0]["code"] == "74207-2"
    assert md["creationTime"] == "20240312091500"  # +0100 → UTC
    assert md["patientId"].endswith("^^^&1.2.250.1.213.1.4.10&ISO^NH")
    assert md["healthcareFacilityTypeCode"][0]["code"] == "SA17"


@pytest.mark.parametrize("missing", ["README.TXT", "INDEX.HTM", "IHE_XDM/SUBSET01/METADATA.XML"])
def test_required_files(missing: str) -> None:
    files = good_files()
    del files[missing]
    assert "MSS.XDM.LAYOUT" in rules(open_xdm(zip_of(files)))


def test_hash_size_and_uri_must_match() -> None:
    assert rules(open_xdm(build_xdm([cda()], XdmOptions(corrupt_hash=True)))) == ["MSS.XDM.HASH"]
    assert rules(open_xdm(build_xdm([cda()], XdmOptions(corrupt_size=True)))) == ["MSS.XDM.SIZE"]
    files = good_files()
    files["IHE_XDM/SUBSET01/DOC0001.XML"] += b"\n<!-- modifie apres calcul du hash -->"
    assert rules(open_xdm(zip_of(files))) == ["MSS.XDM.HASH", "MSS.XDM.SIZE"]
    files = good_files()
    files["IHE_XDM/SUBSET01/METADATA.XML"] = files["IHE_XDM/SUBSET01/METADATA.XML"].replace(
        b">DOC0001.XML<", b">../../../etc/passwd<")
    assert "MSS.XDM.URI" in rules(open_xdm(zip_of(files)))
    files = good_files()
    files["IHE_XDM/SUBSET01/DOC0002.XML"] = files.pop("IHE_XDM/SUBSET01/DOC0001.XML")
    pkg = open_xdm(zip_of(files))
    assert "MSS.XDM.URI" in rules(pkg) and "MSS.XDM.URI" in rules(pkg, Severity.WARNING)


def test_lower_case_names_are_a_warning() -> None:
    files = {k.lower() if k == "README.TXT" else k: v for k, v in good_files().items()}
    pkg = open_xdm(zip_of(files))
    assert rules(pkg) == [] and rules(pkg, Severity.WARNING) == ["MSS.XDM.NAMES"]


def test_metadata_hostile_or_wrong() -> None:
    files = good_files()
    files["IHE_XDM/SUBSET01/METADATA.XML"] = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM '
                                               b'"file:///etc/passwd">]><r>&x;</r>')
    assert "MSS.XDM.METADATA" in rules(open_xdm(zip_of(files)))
    files["IHE_XDM/SUBSET01/METADATA.XML"] = b"<a>" * 100 + b"</a>" * 100
    assert "MSS.XDM.METADATA" in rules(open_xdm(zip_of(files)))
    files["IHE_XDM/SUBSET01/METADATA.XML"] = b"pas du XML"
    assert "MSS.XDM.METADATA" in rules(open_xdm(zip_of(files)))


# -- hostile archives -----------------------------------------------------------------------------
def test_zip_bomb_is_refused_without_inflating_it() -> None:
    bomb = zip_of({"README.TXT": b"x", "IHE_XDM/SUBSET01/DOC0001.XML": b"\0" * (30 * 1024 * 1024)})
    assert len(bomb) < 100_000
    pkg = open_xdm(bomb)
    assert "MSS.XDM.ZIP" in rules(pkg)
    assert "IHE_XDM/SUBSET01/DOC0001.XML" not in pkg.files
    ratio = zip_of({"A.TXT": b"\0" * (3 * 1024 * 1024)})
    assert "MSS.XDM.ZIP" in rules(open_xdm(ratio, limits=ZipLimits(max_ratio=100)))


@pytest.mark.parametrize("name", ["../../evil.txt", "/etc/passwd", "C:/Windows/x.txt", "IHE_XDM\\..\\x.txt",
                                  "IHE_XDM/../../x.txt"])
def test_zip_slip_entries_are_refused(name: str) -> None:
    files = good_files()
    files[name] = b"evil"
    pkg = open_xdm(zip_of(files))
    assert "MSS.XDM.ZIP" in rules(pkg)
    assert name not in pkg.files


def test_too_many_entries() -> None:
    many = zip_of({f"F{i:05d}.TXT": b"x" for i in range(600)}, compression=zipfile.ZIP_STORED)
    assert rules(open_xdm(many)) == ["MSS.XDM.ZIP"]


def test_encrypted_entry() -> None:
    data = bytearray(zip_of({"README.TXT": b"secret"}, compression=zipfile.ZIP_STORED))
    data[6] |= 0x1  # general purpose flag of the local header: "encrypted"
    central = data.find(b"PK\x01\x02")
    data[central + 8] |= 0x1  # and of the central directory entry
    pkg = open_xdm(bytes(data))
    assert "MSS.XDM.ZIP" in rules(pkg) and "README.TXT" not in pkg.files


@pytest.mark.parametrize("data", [b"", b"PK\x03\x04garbage", b"\x00" * 100, b"not a zip at all"])
def test_corrupt_archives(data: bytes) -> None:
    assert "MSS.XDM.ZIP" in rules(open_xdm(data))


def test_truncated_archive() -> None:
    whole = build_xdm([cda()])
    pkg = open_xdm(whole[: len(whole) // 2])
    assert "MSS.XDM.ZIP" in rules(pkg)


def test_crc_mismatch_is_a_finding() -> None:
    whole = bytearray(zip_of({"README.TXT": b"hello world" * 50}, compression=zipfile.ZIP_STORED))
    idx = whole.find(b"hello world")
    whole[idx] = ord("J")
    assert "MSS.XDM.ZIP" in rules(open_xdm(bytes(whole)))
