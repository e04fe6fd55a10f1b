"""Corridor profiles: selection by corridor and wave, include/exclude, document types, and errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from conformance.profiles import (
    ProfileError,
    available_profiles,
    default_directory,
    document_types,
    load_profile,
    normalise_name,
)
from conformance.requirements import load_catalogue


def requirement(rid: str, corridors: str, wave: int, section: str = "INS") -> str:
    return textwrap.dedent(f"""\
          - id: {rid}
            section: {section}
            title: "T"
            statement: "Le système DOIT."
            nature: EXIGENCE
            criticite: MAJEURE
            wave: {wave}
            corridors: {corridors}
            verified: I
            source: test
            scenarios:
              - id: {rid}.01
                title: "S"
                proofs:
                  - {{id: {rid}.01.01, kind: Log, verification: [], method: automated}}
        """)


CATALOGUE = "requirements:\n" + "".join([
    requirement("DUI.INS.01", "[MS1, MS2-PDE, MS2-PDS]", 1),
    requirement("DUI.INS.02", "[MS1]", 1),
    requirement("INS/PSC.01", "[MS1, MS2-PDS]", 2),
    requirement("DUI.MSS.01", "[MS2-PDE]", 1, "MSS"),
    requirement("DUI.DMP.01", "[MS2-PDS]", 2, "DMP"),
])

DOC_TYPES = textwrap.dedent("""\
    document_types:
      - {code: PPA, label: "Projet personnalisé d'accompagnement", type_code: "80788-3",
         code_system: "2.16.840.1.113883.6.1", verified: V}
      - {code: DLU, label: "Document de liaison d'urgence", type_code: "74207-2",
         code_system: "2.16.840.1.113883.6.1", verified: V}
      - {code: VSM, label: "Volet de synthèse médicale", type_code: SYNTH, code_system: "1.2.250.1.213.1.1.4.12",
         alt_type_codes: ["60591-5"], verified: V}
""")

MS1 = textwrap.dedent("""\
    # test profile
    id: MS1
    label: "DUI MS1"
    description: "Profil de test"
    waves: [1, 2]
    document_types:
      - {code: PPA, verified: V}
      - {code: DLU, verified: I}
    include: []
    exclude: []
""")


@pytest.fixture()
def data(tmp_path: Path) -> tuple[Path, Path]:
    cat = tmp_path / "requirements"
    cor = tmp_path / "corridors"
    cat.mkdir()
    cor.mkdir()
    (cat / "ins.yaml").write_text(CATALOGUE, encoding="utf-8")
    (cor / "_document_types.yaml").write_text(DOC_TYPES, encoding="utf-8")
    (cor / "ms1.yaml").write_text(MS1, encoding="utf-8")
    (cor / "ms2-pde.yaml").write_text(MS1.replace("id: MS1", "id: MS2-PDE").replace("[1, 2]", "[1]"),
                                      encoding="utf-8")
    (cor / "ms2-pds.yaml").write_text(
        MS1.replace("id: MS1", "id: MS2-PDS").replace("include: []", "include: [DUI.INS.02]")
        .replace("exclude: []", "exclude: [DUI.DMP.01]"), encoding="utf-8")
    return cat, cor


def profile_errors(cor: Path, cat: Path, name: str = "MS1") -> list[tuple[str, int, str]]:
    with pytest.raises(ProfileError) as info:
        load_profile(name, load_catalogue(cat), cor)
    assert isinstance(info.value, ValueError)
    return info.value.errors


def edit(path: Path, old: str, new: str, mark: str = "") -> int:
    """Apply one defect and return the line of ``mark`` (default: the defect's first line)."""
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    text = text.replace(old, new, 1)
    path.write_text(text, encoding="utf-8")
    if not new.strip():
        return 0
    first = mark or new.strip().splitlines()[0]
    return next(n for n, line in enumerate(text.splitlines(), 1) if first in line)


# ---------------------------------------------------------------------------------------------
# selection
# ---------------------------------------------------------------------------------------------
def test_selection_by_corridor_and_wave(data: tuple[Path, Path]) -> None:
    cat_dir, cor = data
    cat = load_catalogue(cat_dir)
    ms1 = load_profile("MS1", cat, cor)
    assert ms1.id == "MS1" and ms1.waves == (1, 2) and ms1.label == "DUI MS1"
    assert ms1.requirement_ids == ("DUI.INS.01", "DUI.INS.02", "INS/PSC.01")
    assert ms1.document_types == ("PPA", "DLU")
    assert [d.verified for d in ms1.documents] == ["V", "I"]
    assert ms1.file == str(cor / "ms1.yaml") and ms1.selects("DUI.INS.02")

    pde = load_profile("ms2_pde", cat, cor)          # wave 1 only
    assert pde.requirement_ids == ("DUI.INS.01", "DUI.MSS.01")


def test_include_and_exclude(data: tuple[Path, Path]) -> None:
    cat_dir, cor = data
    pds = load_profile("ms2pds", load_catalogue(cat_dir), cor)
    # DUI.INS.02 is MS1-only but included by hand; DUI.DMP.01 is PDS but excluded; catalogue order kept.
    assert pds.requirement_ids == ("DUI.INS.01", "DUI.INS.02", "INS/PSC.01")
    assert pds.include == ("DUI.INS.02",) and pds.exclude == ("DUI.DMP.01",)


@pytest.mark.parametrize("name, expected", [
    ("MS1", "MS1"), ("ms1", "MS1"), ("MS2-PDE", "MS2-PDE"), ("ms2_pde", "MS2-PDE"), ("ms2pde", "MS2-PDE"),
    ("Ms2-Pds", "MS2-PDS"), ("MS2 PDS", "MS2-PDS"), ("MS3", "MS3"),
])
def test_normalise_name(name: str, expected: str) -> None:
    assert normalise_name(name) == expected


def test_available_profiles_and_document_types(data: tuple[Path, Path]) -> None:
    _, cor = data
    assert available_profiles(cor) == ["MS1", "MS2-PDE", "MS2-PDS"]
    types = document_types(cor)
    assert list(types) == ["PPA", "DLU", "VSM"]
    assert types["VSM"].type_codes == ("SYNTH", "60591-5")
    assert types["PPA"].label == "Projet personnalisé d'accompagnement" and types["PPA"].verified == "V"


def test_env_var_overrides_corridor_folder(data: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    cat_dir, cor = data
    monkeypatch.setenv("SEGUR_CORRIDORS_DIR", str(cor))
    monkeypatch.setenv("SEGUR_CATALOGUE_DIR", str(cat_dir))
    assert default_directory() == cor
    assert load_profile("ms1").requirement_ids == ("DUI.INS.01", "DUI.INS.02", "INS/PSC.01")


# ---------------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------------
def test_unknown_profile_lists_available(data: tuple[Path, Path]) -> None:
    cat, cor = data
    (f, line, msg), = profile_errors(cor, cat, "MS3")
    assert f == str(cor) and "unknown profile 'MS3'" in msg
    assert "MS1, MS2-PDE, MS2-PDS" in msg


def test_unknown_field(data: tuple[Path, Path]) -> None:
    cat, cor = data
    line = edit(cor / "ms1.yaml", "waves: [1, 2]\n", "waves: [1, 2]\nvague: 2\n", mark="vague")
    (f, got, msg), = profile_errors(cor, cat)
    assert (f, got) == (str(cor / "ms1.yaml"), line) and "unknown field 'vague'" in msg


def test_dangling_include_and_exclude(data: tuple[Path, Path]) -> None:
    cat, cor = data
    inc = edit(cor / "ms1.yaml", "include: []", "include: [DUI.INS.99]")
    exc = edit(cor / "ms1.yaml", "exclude: []", "exclude:\n  - DUI.INS.02\n  - SC.PSC.42")
    errors = profile_errors(cor, cat)
    assert [(e[1], e[2]) for e in errors] == [
        (inc, "include: dangling reference to requirement 'DUI.INS.99' (not in the catalogue)"),
        (exc + 2, "exclude: dangling reference to requirement 'SC.PSC.42' (not in the catalogue)"),
    ]


def test_unknown_document_type(data: tuple[Path, Path]) -> None:
    cat, cor = data
    line = edit(cor / "ms1.yaml", "  - {code: DLU, verified: I}", "  - {code: CERFA, verified: I}")
    (f, got, msg), = profile_errors(cor, cat)
    assert got == line and "unknown document type 'CERFA'" in msg and "DLU, PPA, VSM" in msg


def test_bad_wave_and_verified_and_id(data: tuple[Path, Path]) -> None:
    cat, cor = data
    wave = edit(cor / "ms1.yaml", "waves: [1, 2]", "waves: [1, 3]")
    ver = edit(cor / "ms1.yaml", "{code: PPA, verified: V}", "{code: PPA, verified: yes}")
    errors = profile_errors(cor, cat)
    assert [e[1] for e in errors] == [wave, ver]
    assert "wave: bad value '3'" in errors[0][2] and "verified: bad value 'yes'" in errors[1][2]


def test_profile_id_is_capitals_digits_and_dashes(data: tuple[Path, Path]) -> None:
    cat, cor = data  # any id is a corridor (the folder is the list), but it must read as one
    (cor / "x.yaml").write_text(MS1.replace("id: MS1", "id: MS9.1"), encoding="utf-8")
    errors = profile_errors(cor, cat, "MS9.1")
    assert errors == [(str(cor / "x.yaml"), 2,
                       "profile id 'MS9.1': capitals, digits and dashes only (e.g. XX2-ABC)")]


def test_missing_required_field_and_invalid_yaml(data: tuple[Path, Path]) -> None:
    cat, cor = data
    edit(cor / "ms1.yaml", "description: \"Profil de test\"\n", "")
    (_, line, msg), = profile_errors(cor, cat)
    assert line == 2 and "missing required field 'description'" in msg
    (cor / "ms1.yaml").write_text(MS1 + "include: [\n", encoding="utf-8")
    assert "unknown profile" in profile_errors(cor, cat)[0][2]   # unreadable file: its id is unknown


def test_bad_document_type_file(data: tuple[Path, Path]) -> None:
    cat, cor = data
    path = cor / "_document_types.yaml"
    line = edit(path, "type_code: SYNTH,", "typecode: SYNTH,")
    with pytest.raises(ProfileError) as info:
        document_types(cor)
    messages = [(e[0], e[1], e[2]) for e in info.value.errors]
    assert (str(path), line, "document type VSM: unknown field 'typecode' (known: alt_type_codes, code, "
            "code_system, label, type_code, verified)") in messages
    assert any("missing required field 'type_code'" in m[2] for m in messages)
    # a broken type list also fails profile loading, with the type file's line
    assert any(e[0] == str(path) for e in profile_errors(cor, cat))


def test_duplicate_document_type(data: tuple[Path, Path]) -> None:
    cat, cor = data
    (cor / "_document_types.yaml").write_text(DOC_TYPES + DOC_TYPES.split("\n", 1)[1], encoding="utf-8")
    with pytest.raises(ProfileError) as info:
        document_types(cor)
    assert [e[1] for e in info.value.errors] == [8, 10, 12]
    assert "duplicate document type 'PPA' (first at line 2)" in info.value.errors[0][2]


def test_shipped_document_types() -> None:
    types = document_types()
    expected = {"PPA", "DLU", "FLUDT", "FLUDR", "FT-SU", "FR-SU", "VSM", "IPS-FR", "PPS", "GRILLE-EVAL",
                "BIL-AUTO", "PPP", "PAI", "LETTRE-LIAISON", "BILAN-ENFANT", "CR-EXAMEN-ENFANT", "AUTORIS-SOINS",
                "ATTESTATION", "DOC-ADMIN", "DOC-MS", "EXPORT-DUI"}
    assert set(types) == expected
    assert types["DOC-MS"].type_code == "28653-4" and types["PPA"].type_code == "80788-3"
    assert types["EXPORT-DUI"].type_code == "EXPORT_DUI"
