"""The catalogue loader: a good catalogue round trip, and every error kind named with file:line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from conformance.requirements import (
    SECTION_ORDER,
    Catalogue,
    CatalogueError,
    id_kind,
    load_catalogue,
    load_catalogue_file,
    section_rank,
)

GOOD = textwrap.dedent("""\
    section: MSS
    requirements:
      - id: DUI.MSS.07
        sub_section: MSS/CONF
        title: "Message-ID sur chaque nouveau message"
        statement: "Le système DOIT générer un Message-ID."
        nature: EXIGENCE
        criticite: MAJEURE
        conditional_profile: ""
        wave: 1
        corridors: [MS1, MS2-PDE, MS2-PDS]
        verified: Vd
        source: "rem.md §2.3"
        socle: SC.MSS/CONF.15
        refs: ["ECO.2.1.1"]
        scenarios:
          - id: DUI.MSS.07.01
            title: "Envoi d'un message"
            proofs:
              - id: DUI.MSS.07.01.01
                kind: "Source SMTP"
                verification: ["un Message-ID unique"]
                method: automated
      - id: DUI.MSS.10
        title: "Préconisation manuelle"
        statement: "Le système PEUT documenter."
        nature: PRECONISATION
        criticite: MINEURE
        conditional_profile: "Si le système envoie aux patients"
        wave: 1
        corridors: [MS1]
        verified: I
        source: test
        scenarios:
          - id: DUI.MSS.10.01
            title: "Documentation"
            proofs:
              - id: DUI.MSS.10.01.01
                kind: Démonstration
                verification: []
                method: manual
                manual_reason: "Vidéo à fournir"
      - id: DUI.MSS.09
        title: "Neuf"
        statement: "Le système DOIT."
        nature: EXIGENCE
        criticite: CRITIQUE
        wave: 1
        corridors: [MS1]
        verified: V
        source: test
        scenarios:
          - id: DUI.MSS.09.01
            title: "S"
            proofs:
              - {id: DUI.MSS.09.01.01, kind: Log, verification: ["x"], method: automated}
""")

SECOND = textwrap.dedent("""\
    section: INS
    requirements:
      - id: SC.INS/va1.53
        title: "Règle 28"
        statement: "Le système NE DOIT PAS transmettre l'INS d'une identité non qualifiée."
        nature: EXIGENCE
        criticite: CRITIQUE
        wave: 2
        corridors: [MS1]
        verified: Vd
        source: test
        scenarios:
          - id: SC.INS/va1.53.01
            title: "S"
            proofs:
              - {id: SC.INS/va1.53.01.01, kind: Log, verification: ["x"], method: automated}
      - id: ZZZ.01
        title: "Autre section"
        section: ZZZ
        statement: "Le système DOIT."
        nature: EXIGENCE
        criticite: MINEURE
        wave: 2
        corridors: [MS1]
        verified: I
        source: test
        scenarios:
          - id: ZZZ.01.01
            title: "S"
            proofs:
              - {id: ZZZ.01.01.01, kind: Log, verification: ["x"], method: automated}
      - id: DMP/ALI/PROG.01
        section: DMP
        title: "Envoi en tâche de fond"
        statement: "Le système DOIT."
        nature: EXIGENCE
        criticite: MAJEURE
        wave: 2
        corridors: [MS2-PDS]
        verified: Vd
        source: test
        scenarios:
          - id: DMP/ALI/PROG.01.01
            title: "S"
            proofs:
              - {id: DMP/ALI/PROG.01.01.01, kind: Log, verification: ["x"], method: automated}
""")


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def load_errors(folder: Path) -> list[tuple[str, int, str]]:
    with pytest.raises(CatalogueError) as info:
        load_catalogue(folder)
    return info.value.errors


def broken(tmp_path: Path, old: str, new: str, text: str = GOOD) -> tuple[Path, list[tuple[str, int, str]]]:
    """GOOD with one deliberate defect; returns the file and the loader's errors."""
    assert old in text, old
    path = write(tmp_path / "cat", "mss.yaml", text.replace(old, new, 1))
    return path, load_errors(tmp_path / "cat")


def line_of(path: Path, needle: str, occurrence: int = 1) -> int:
    seen = 0
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if needle in line:
            seen += 1
            if seen == occurrence:
                return number
    raise AssertionError(needle)


def only(errors: list[tuple[str, int, str]], fragment: str) -> tuple[str, int, str]:
    hits = [e for e in errors if fragment in e[2]]
    assert len(hits) == 1, errors
    return hits[0]


# ---------------------------------------------------------------------------------------------
# the good case
# ---------------------------------------------------------------------------------------------
def test_good_catalogue_round_trip(tmp_path: Path) -> None:
    write(tmp_path, "mss.yaml", GOOD)
    write(tmp_path, "ins.yaml", SECOND)
    cat = load_catalogue(tmp_path)
    assert len(cat) == 6
    # ANS section order (INS, DMP, MSS ...) then others alphabetically; natural id order inside.
    assert [r.id for r in cat] == ["SC.INS/va1.53", "DMP/ALI/PROG.01", "DUI.MSS.07", "DUI.MSS.09",
                                   "DUI.MSS.10", "ZZZ.01"]
    assert cat.ids() == [r.id for r in cat]
    assert cat.sections() == ["INS", "DMP", "MSS", "ZZZ"]
    assert "DUI.MSS.07" in cat and "DUI.MSS.99" not in cat
    assert cat.get("DUI.MSS.99") is None

    req = cat["DUI.MSS.07"]
    assert req.section == "MSS" and req.sub_section == "MSS/CONF"   # file-level default section
    assert req.corridors == ("MS1", "MS2-PDE", "MS2-PDS")
    assert req.refs == ("ECO.2.1.1",) and req.socle == "SC.MSS/CONF.15"
    assert req.mandatory and not req.conditional and not req.manual_only and not req.inferred
    assert req.file == str(tmp_path / "mss.yaml") and req.line == 3
    assert req.scenarios[0].proofs[0].verification == ("un Message-ID unique",)

    pre = cat["DUI.MSS.10"]
    assert not pre.mandatory and pre.conditional and pre.manual_only and pre.inferred
    assert cat["ZZZ.01"].section == "ZZZ"

    data = req.to_dict()
    assert data["corridors"] == ["MS1", "MS2-PDE", "MS2-PDS"]
    assert data["scenarios"][0]["proofs"][0] == {
        "id": "DUI.MSS.07.01.01", "kind": "Source SMTP", "description": "", "verification": ["un Message-ID unique"],
        "method": "automated", "manual_reason": ""}
    assert data["file"] == "mss.yaml" and data["line"] == 3 and data["conditional"] is False


def test_section_order_and_rank() -> None:
    assert SECTION_ORDER[:10] == ("INS", "DMP", "MSS", "PSC", "ANN", "TBB", "HOP", "DOC", "PORT", "EPR")
    ordered = sorted(["ZZZ", "SSI", "AAA", "CDA", "EPR", "INS"], key=section_rank)
    assert ordered == ["INS", "EPR", "CDA", "SSI", "AAA", "ZZZ"]


@pytest.mark.parametrize("rid, kind", [
    ("DUI.MSS.07", "wave 1"), ("SC.INS/va1.53", "socle"), ("SC.PSC.08", "socle"),
    ("SC.SSI/IAM.91", "socle"), ("DMP/ALI/PROG.01", "wave 2"), ("PSC.08", "wave 2"),
    ("ANN/va1.01", "wave 2"), ("DUI.MSS", None), ("dui.mss.07", None), ("DUI.MSS.7", None),
    ("SC.INS/.01", None), ("MSS//UX.01", None),
])
def test_id_schemes(rid: str, kind: str | None) -> None:
    assert id_kind(rid) == kind


def test_catalogue_from_objects_is_sorted(tmp_path: Path) -> None:
    reqs = load_catalogue_file(write(tmp_path, "mss.yaml", GOOD))
    cat = Catalogue(reversed(reqs))
    assert [r.id for r in cat] == ["DUI.MSS.07", "DUI.MSS.09", "DUI.MSS.10"]


def test_env_var_overrides_default_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, "mss.yaml", GOOD)
    monkeypatch.setenv("SEGUR_CATALOGUE_DIR", str(tmp_path))
    assert load_catalogue().ids() == ["DUI.MSS.07", "DUI.MSS.09", "DUI.MSS.10"]
    write(tmp_path, "ins.yaml", SECOND)      # not cached: a test sees its own new files
    assert len(load_catalogue()) == 6


# ---------------------------------------------------------------------------------------------
# every error kind, with its file and line
# ---------------------------------------------------------------------------------------------
def test_unknown_field(tmp_path: Path) -> None:
    path, errors = broken(tmp_path, "    criticite: MAJEURE\n", "    criticite: MAJEURE\n    colour: red\n")
    f, line, msg = only(errors, "unknown field 'colour'")
    assert (f, line) == (str(path), line_of(path, "colour: red"))


def test_unknown_field_in_proof(tmp_path: Path) -> None:
    path, errors = broken(tmp_path, "            method: automated\n",
                          "            method: automated\n            weight: 3\n")
    _, line, _ = only(errors, "unknown field 'weight'")
    assert line == line_of(path, "weight: 3")


def test_missing_required_field(tmp_path: Path) -> None:
    path, errors = broken(tmp_path, "    statement: \"Le système DOIT générer un Message-ID.\"\n", "")
    f, line, msg = only(errors, "missing required field 'statement'")
    assert (f, line) == (str(path), line_of(path, "- id: DUI.MSS.07"))
    assert "DUI.MSS.07" in msg


def test_missing_section_without_file_default(tmp_path: Path) -> None:
    path, errors = broken(tmp_path, "section: MSS\n", "")
    assert len([e for e in errors if "missing required field 'section'" in e[2]]) == 3
    assert errors[0][1] == line_of(path, "- id: DUI.MSS.07")


@pytest.mark.parametrize("old, new, fragment", [
    ("nature: EXIGENCE", "nature: OBLIGATOIRE", "nature: bad value 'OBLIGATOIRE'"),
    ("criticite: MAJEURE", "criticite: MAJOR", "criticite: bad value 'MAJOR'"),
    ("verified: Vd", "verified: X", "verified: bad value 'X'"),
    ("wave: 1", "wave: 3", "wave: bad value '3'"),
    ("wave: 1", "wave: \"1\"", "wave: bad value '1'"),
    ("method: automated", "method: auto", "method: bad value 'auto'"),
    ("kind: \"Source SMTP\"", "kind: Vidéo", "kind: bad value 'Vidéo'"),
])
def test_bad_enum_value(tmp_path: Path, old: str, new: str, fragment: str) -> None:
    path, errors = broken(tmp_path, old, new)
    _, line, msg = only(errors, fragment)
    assert line == line_of(path, new)
    assert "allowed:" in msg


def test_unknown_corridor(tmp_path: Path) -> None:
    path, errors = broken(tmp_path, "corridors: [MS1, MS2-PDE, MS2-PDS]", "corridors: [MS1,\n          MS3]")
    _, line, msg = only(errors, "unknown corridor 'MS3'")
    assert line == line_of(path, "MS3]")
    assert "MS2-PDE" in msg


def test_duplicate_requirement_id_across_files(tmp_path: Path) -> None:
    first = write(tmp_path, "a.yaml", GOOD)
    second = write(tmp_path, "b.yaml", GOOD.replace("DUI.MSS.09", "DUI.MSS.11").replace(
        "DUI.MSS.10", "DUI.MSS.12").replace("DUI.MSS.07.01", "DUI.MSS.08.01"))
    errors = load_errors(tmp_path)
    f, line, msg = only(errors, "duplicate requirement id 'DUI.MSS.07'")
    assert (f, line) == (str(second), 3)
    assert f"{first}:3" in msg   # names both places
    # the mismatched scenario under the duplicate is reported too
    assert any("not prefixed by its requirement id" in e[2] for e in errors)


def test_duplicate_scenario_and_proof_ids(tmp_path: Path) -> None:
    text = GOOD.replace("""        proofs:
          - id: DUI.MSS.07.01.01
            kind: "Source SMTP"
            verification: ["un Message-ID unique"]
            method: automated
""", """        proofs:
          - id: DUI.MSS.07.01.01
            kind: "Source SMTP"
            verification: ["un Message-ID unique"]
            method: automated
          - id: DUI.MSS.07.01.01
            kind: Log
            verification: []
            method: automated
      - id: DUI.MSS.07.01
        title: "Encore"
        proofs:
          - {id: DUI.MSS.07.01.02, kind: Log, verification: [], method: automated}
""")
    path = write(tmp_path, "mss.yaml", text)
    errors = load_errors(tmp_path)
    _, line, msg = only(errors, "duplicate proof id 'DUI.MSS.07.01.01'")
    assert line == line_of(path, "- id: DUI.MSS.07.01.01", 2)
    assert f"{path}:{line_of(path, '- id: DUI.MSS.07.01.01')}" in msg
    _, line, _ = only(errors, "duplicate scenario id 'DUI.MSS.07.01'")
    scenario_lines = [n for n, raw in enumerate(text.splitlines(), 1) if raw.strip() == "- id: DUI.MSS.07.01"]
    assert line == scenario_lines[1]


def test_proof_not_prefixed_by_scenario(tmp_path: Path) -> None:
    path, errors = broken(tmp_path, "- id: DUI.MSS.07.01.01", "- id: DUI.MSS.08.01.01")
    _, line, msg = only(errors, "not prefixed by its scenario id 'DUI.MSS.07.01'")
    assert line == line_of(path, "DUI.MSS.08.01.01")


def test_scenario_not_prefixed_by_requirement(tmp_path: Path) -> None:
    path, errors = broken(tmp_path, "- id: DUI.MSS.10.01\n", "- id: DUI.MSS.11.01\n")
    _, line, msg = only(errors, "scenario id 'DUI.MSS.11.01' is not prefixed by its requirement id 'DUI.MSS.10'")
    assert line == line_of(path, "- id: DUI.MSS.11.01")


def test_malformed_child_suffix(tmp_path: Path) -> None:
    path, errors = broken(tmp_path, "{id: DUI.MSS.09.01.01", "{id: DUI.MSS.09.01.x")
    _, line, _ = only(errors, "malformed proof id 'DUI.MSS.09.01.x'")
    assert line == line_of(path, "DUI.MSS.09.01.x")


def test_manual_proof_without_reason(tmp_path: Path) -> None:
    path, errors = broken(tmp_path, "            manual_reason: \"Vidéo à fournir\"\n", "")
    _, line, msg = only(errors, "manual proof needs a manual_reason")
    assert line == line_of(path, "- id: DUI.MSS.10.01.01")


@pytest.mark.parametrize("bad", ["DUI.MSS.7", "dui.mss.07", "SC.INS/.53", "MSS 07", "DUI-MSS-07"])
def test_malformed_requirement_id(tmp_path: Path, bad: str) -> None:
    path, errors = broken(tmp_path, "- id: DUI.MSS.09\n", f"- id: \"{bad}\"\n")
    _, line, msg = only(errors, f"malformed requirement id {bad!r}")
    assert line == line_of(path, bad)


def test_malformed_socle_reference(tmp_path: Path) -> None:
    path, errors = broken(tmp_path, "socle: SC.MSS/CONF.15", "socle: MSS/CONF.15")
    _, line, _ = only(errors, "malformed socle id 'MSS/CONF.15'")
    assert line == line_of(path, "socle: MSS/CONF.15")


def test_invalid_yaml_reports_its_line(tmp_path: Path) -> None:
    path, errors = broken(tmp_path, "    title: \"Neuf\"\n", "    title: \"Neuf\n")
    assert len(errors) == 1
    f, line, msg = errors[0]
    assert f == str(path) and msg.startswith("invalid YAML")
    assert line > line_of(path, "title: \"Neuf")     # the scanner notices past the open quote


def test_invalid_yaml_indentation(tmp_path: Path) -> None:
    path, errors = broken(tmp_path, "    wave: 1\n    corridors: [MS1]\n    verified: I",
                          "    wave: 1\n       corridors: [MS1]\n    verified: I")
    (f, line, msg), = errors
    assert msg.startswith("invalid YAML") and line == line_of(path, "       corridors: [MS1]")


def test_wrong_types(tmp_path: Path) -> None:
    path, errors = broken(tmp_path, "refs: [\"ECO.2.1.1\"]", "refs: \"ECO.2.1.1\"")
    _, line, _ = only(errors, "refs must be a list")
    assert line == line_of(path, "refs: \"ECO.2.1.1\"")
    path, errors = broken(tmp_path, "title: \"Neuf\"", "title: [a, b]")
    _, line, _ = only(errors, "title must be a string")
    assert line == line_of(path, "title: [a, b]")


def test_empty_lists_and_files(tmp_path: Path) -> None:
    path, errors = broken(tmp_path, "corridors: [MS1, MS2-PDE, MS2-PDS]", "corridors: []")
    assert only(errors, "corridors must be a non-empty list")[1] == line_of(path, "corridors: []")
    write(tmp_path / "empty", "x.yaml", "")
    assert load_errors(tmp_path / "empty")[0][2].startswith("empty catalogue file")
    (tmp_path / "none").mkdir()
    assert "no catalogue file" in load_errors(tmp_path / "none")[0][2]
    assert "not found" in load_errors(tmp_path / "missing")[0][2]


def test_duplicate_yaml_key(tmp_path: Path) -> None:
    path, errors = broken(tmp_path, "    wave: 1\n    corridors: [MS1]\n    verified: I",
                          "    wave: 1\n    wave: 2\n    corridors: [MS1]\n    verified: I")
    _, line, _ = only(errors, "duplicate field 'wave'")
    assert line == line_of(path, "wave: 2")


def test_all_errors_of_all_files_at_once(tmp_path: Path) -> None:
    a = write(tmp_path, "a.yaml", GOOD.replace("nature: PRECONISATION", "nature: PEUT"))
    b = write(tmp_path, "b.yaml", SECOND.replace("corridors: [MS2-PDS]", "corridors: [PDS]"))
    c = write(tmp_path, "c.yaml", "section: [\n")
    with pytest.raises(CatalogueError) as info:
        load_catalogue(tmp_path)
    files = [e[0] for e in info.value.errors]
    assert files == [str(a), str(b), str(c)]
    text = str(info.value)
    assert f"{a}:{line_of(a, 'nature: PEUT')}: " in text and len(text.splitlines()) == 3
    assert isinstance(info.value, ValueError)
