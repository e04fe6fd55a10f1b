"""Corridor profiles: which requirements and which documents a DUI corridor owes.

Why a profile is data that *selects* rather than a list of ids: the catalogue already says, per
requirement, which corridors and which wave it belongs to (rem.md §3). A profile only narrows that by
wave, adds or removes a few ids by hand (``include`` / ``exclude``), and names the document types the
corridor must produce. Keeping the lists out of code lets the official REM import change them.

The corridors themselves are data too: the ids of the files of the corridor folder are the known
corridors (``corridor_ids``), so a new corridor is one new file and no Python module names one. The
folder is ``profiles/corridors`` (package ``segur_profiles``) or ``$SEGUR_CORRIDORS_DIR``.

File shape (``profiles/corridors/<name>.yaml``)::

    id: XX1                           # the corridor id (capitals, digits, dashes)
    label: "DUI XX1 ..."
    description: "..."
    waves: [1, 2]
    default: true                     # optional: the profile used when none is named (one file at most)
    inherits: [XX0]                   # optional: also owes the requirements the catalogue gives to XX0
    document_types:
      - {code: PPA, verified: V}     # codes from _document_types.yaml
    include: []                       # extra requirement ids
    exclude: []                       # requirement ids to drop
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from conformance.requirements import (
    VERIFIED,
    WAVES,
    Catalogue,
    NodeReader,
    compose_file,
    load_catalogue,
    node_line,
    peek_id,
)

# libyaml's safe loader when present (5-10x faster: the CLI reads every corridor profile to list them)
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
ENV_DIR = "SEGUR_CORRIDORS_DIR"
DOCUMENT_TYPES_FILE = "_document_types.yaml"

PROFILE_FIELDS = {
    "id": True, "label": True, "description": True, "waves": True, "document_types": True,
    "include": False, "exclude": False, "source": False, "default": False, "inherits": False,
}
ID_PATTERN = re.compile(r"[A-Z0-9]+(?:-[A-Z0-9]+)*")
PROFILE_DOCUMENT_FIELDS = {"code": True, "verified": True}
DOCUMENT_TYPE_FIELDS = {"code": True, "label": True, "type_code": True, "code_system": True,
                        "alt_type_codes": False, "verified": True}


class ProfileError(ValueError):
    """Every problem of a profile load, each as ``(file, line, message)``."""

    def __init__(self, errors: list[tuple[str, int, str]]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(f"{f}:{line}: {msg}" for f, line, msg in self.errors))


@dataclass(frozen=True)
class DocumentType:
    """A document kind a DUI may produce, with its DMP/XDS typeCode (JDV_J07) and how sure we are."""

    code: str
    label: str
    type_code: str
    verified: str
    code_system: str = ""
    alt_type_codes: tuple[str, ...] = ()

    @property
    def type_codes(self) -> tuple[str, ...]:
        """Every typeCode accepted for this kind (the preferred one first)."""
        return (self.type_code, *self.alt_type_codes)


@dataclass(frozen=True)
class ProfileDocument:
    """A document type owed by a corridor; ``verified`` says whether the REM list was seen (mostly I)."""

    code: str
    verified: str


@dataclass(frozen=True)
class CorridorProfile:
    id: str
    label: str
    description: str
    waves: tuple[int, ...]
    document_types: tuple[str, ...]
    requirement_ids: tuple[str, ...]
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    file: str = ""
    documents: tuple[ProfileDocument, ...] = ()
    source: str = ""
    default: bool = False
    inherits: tuple[str, ...] = ()

    def selects(self, requirement_id: str) -> bool:
        return requirement_id in self.requirement_ids


# ---------------------------------------------------------------------------------------------
# names and files
# ---------------------------------------------------------------------------------------------
def normalise_name(name: str, directory: Path | str | None = None) -> str:
    """A corridor id as written in its file, whatever the case, dashes or underscores of ``name``
    (``xx2_abc``, ``XX2ABC`` and ``Xx2-Abc`` all mean ``XX2-ABC``); unknown names come back upper-cased."""
    norm = name.strip().upper().replace("_", "-").replace(" ", "-")
    compact = norm.replace("-", "")
    for corridor in corridor_ids(directory):
        if compact == corridor.replace("-", ""):
            return corridor
    return norm


def default_directory() -> Path:
    env = os.environ.get(ENV_DIR)
    if env:
        return Path(env)
    return Path(str(resources.files("segur_profiles") / "corridors"))


def _profile_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.glob("*.yaml") if not p.name.startswith((".", "_")))


def _peek(path: Path) -> dict[str, Any]:
    """A profile file read leniently (full validation happens in load_profile); {} when unreadable."""
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)  # noqa: S506 - a safe loader
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


def _peek_id(path: Path) -> str:
    return str(_peek(path).get("id") or "").strip().upper()


def corridor_ids(directory: Path | str | None = None) -> tuple[str, ...]:
    """The known corridors: the ids of the profile files of the corridor folder, sorted."""
    folder = Path(directory) if directory is not None else default_directory()
    if not folder.is_dir():
        return ()
    return tuple(sorted({i for i in (_peek_id(p) for p in _profile_files(folder)) if i}))


def available_profiles(directory: Path | str | None = None) -> list[str]:
    """Profile ids in the corridor folder, sorted (the same as ``corridor_ids``)."""
    return list(corridor_ids(directory))


def default_profile(directory: Path | str | None = None) -> str:
    """The profile used when none is named: the one whose file says ``default: true``, else the first."""
    folder = Path(directory) if directory is not None else default_directory()
    marked = sorted(_peek_id(p) for p in _profile_files(folder) if _peek(p).get("default") is True) \
        if folder.is_dir() else []
    known = corridor_ids(folder)
    return marked[0] if marked else (known[0] if known else "")


# ---------------------------------------------------------------------------------------------
# document types
# ---------------------------------------------------------------------------------------------
def document_types(directory: Path | str | None = None) -> dict[str, DocumentType]:
    """``code -> DocumentType`` from ``_document_types.yaml`` of the corridor folder."""
    folder = Path(directory) if directory is not None else default_directory()
    errors: list[tuple[str, int, str]] = []
    result = _read_document_types(folder / DOCUMENT_TYPES_FILE, errors)
    if errors:
        raise ProfileError(errors)
    return result


def _read_document_types(path: Path, errors: list[tuple[str, int, str]]) -> dict[str, DocumentType]:
    if not path.is_file():
        errors.append((str(path), 0, "document type list not found"))
        return {}
    ok, root = compose_file(path, errors)
    if not ok:
        return {}
    if root is None:
        errors.append((str(path), 1, "empty document type file"))
        return {}
    reader = NodeReader(path, errors)
    top = reader.mapping(root, "document type file", {"document_types": True})
    if not top or "document_types" not in top:
        return {}
    seq = top["document_types"]
    if not isinstance(seq, yaml.SequenceNode):
        reader.error(seq, "'document_types' must be a list")
        return {}
    out: dict[str, DocumentType] = {}
    lines: dict[str, int] = {}
    for item in seq.value:
        before = len(errors)
        fields = reader.mapping(item, f"document type {peek_id(item, 'code')}".rstrip(), DOCUMENT_TYPE_FIELDS)
        if fields is None:
            continue
        code = reader.string(fields.get("code"), "document type code")
        what = f"document type {code or '?'}"
        doc = DocumentType(
            code=code,
            label=reader.string(fields.get("label"), f"{what}: label"),
            type_code=reader.string(fields.get("type_code"), f"{what}: type_code"),
            code_system=reader.string(fields.get("code_system"), f"{what}: code_system"),
            alt_type_codes=reader.string_list(fields.get("alt_type_codes"), f"{what}: alt_type_codes"),
            verified=reader.enum(fields.get("verified"), f"{what}: verified", VERIFIED) or "",
        )
        if code in out:
            reader.error(fields["code"], f"duplicate document type {code!r} (first at line {lines[code]})")
        elif len(errors) == before and code:
            out[code] = doc
            lines[code] = node_line(item)
    return out


# ---------------------------------------------------------------------------------------------
# profiles
# ---------------------------------------------------------------------------------------------
def load_profile(name: str, catalogue: Catalogue | None = None,
                 directory: Path | str | None = None) -> CorridorProfile:
    """Load one corridor profile and resolve its requirement selection against the catalogue.

    Selection: requirements whose ``corridors`` contain the profile id and whose wave is in
    ``waves``, plus ``include``, minus ``exclude``, in catalogue (ANS) order.
    """
    folder = Path(directory) if directory is not None else default_directory()
    wanted = normalise_name(name, folder)
    path = next((p for p in _profile_files(folder) if _peek_id(p) == wanted), None) if folder.is_dir() else None
    if path is None:
        known = available_profiles(folder)
        raise ProfileError([(str(folder), 0, f"unknown profile {name!r} (available: "
                                             f"{', '.join(known) if known else 'none'})")])
    if catalogue is None:
        catalogue = load_catalogue()
    errors: list[tuple[str, int, str]] = []
    known_docs = _read_document_types(folder / DOCUMENT_TYPES_FILE, errors)
    profile = _read_profile(path, catalogue, known_docs, errors, check_docs=not errors,
                            corridors=corridor_ids(folder))
    if errors or profile is None:
        raise ProfileError(errors)
    return profile


def _read_profile(path: Path, catalogue: Catalogue, known_docs: dict[str, DocumentType],
                  errors: list[tuple[str, int, str]], *, check_docs: bool,
                  corridors: tuple[str, ...] = ()) -> CorridorProfile | None:
    ok, root = compose_file(path, errors)
    if not ok:
        return None
    if root is None:
        errors.append((str(path), 1, "empty profile file"))
        return None
    reader = NodeReader(path, errors)
    fields = reader.mapping(root, "profile", PROFILE_FIELDS)
    if fields is None:
        return None
    before = len(errors)
    pid = reader.string(fields.get("id"), "profile id")
    if pid and not ID_PATTERN.fullmatch(pid):
        reader.error(fields["id"], f"profile id {pid!r}: capitals, digits and dashes only (e.g. XX2-ABC)")
    default = fields.get("default")
    if default is not None and (not isinstance(default, yaml.ScalarNode) or default.tag != "tag:yaml.org,2002:bool"):
        reader.error(default, "default must be true or false")
    inherits = reader.string_list(fields.get("inherits"), "inherits") if fields.get("inherits") is not None else ()
    for other in inherits:
        if other not in corridors or other == pid:
            reader.error(fields["inherits"], f"inherits: {other!r} is not another corridor of the folder "
                                             f"(known: {', '.join(corridors) or 'none'})")
    label = reader.string(fields.get("label"), "profile label")
    description = reader.string(fields.get("description"), "profile description")
    source = reader.string(fields.get("source"), "profile source", allow_empty=True)
    waves = _waves(reader, fields.get("waves"))
    documents = _documents(reader, fields.get("document_types"), known_docs, check_docs)
    include = _ids(reader, fields.get("include"), "include", catalogue)
    exclude = _ids(reader, fields.get("exclude"), "exclude", catalogue)
    if len(errors) != before:
        return None
    owes = {pid, *inherits}
    selected = [r.id for r in catalogue if (owes & set(r.corridors) and r.wave in waves) or r.id in include]
    dropped = set(exclude)
    return CorridorProfile(
        id=pid, label=label, description=description, waves=waves,
        document_types=tuple(d.code for d in documents),
        requirement_ids=tuple(i for i in selected if i not in dropped),
        include=include, exclude=exclude, file=str(path), documents=documents, source=source,
        default=default is not None and default.value == "true", inherits=inherits,
    )


def _waves(reader: NodeReader, node: yaml.Node | None) -> tuple[int, ...]:
    if node is None:
        return ()
    if not isinstance(node, yaml.SequenceNode) or not node.value:
        reader.error(node, "waves must be a non-empty list (1, 2)")
        return ()
    values = [reader.enum(item, "wave", WAVES) for item in node.value]
    return tuple(sorted({v for v in values if v is not None}))


def _documents(reader: NodeReader, node: yaml.Node | None, known: dict[str, DocumentType],
               check: bool) -> tuple[ProfileDocument, ...]:
    if node is None:
        return ()
    if not isinstance(node, yaml.SequenceNode):
        reader.error(node, "document_types must be a list")
        return ()
    out: list[ProfileDocument] = []
    for item in node.value:
        fields = reader.mapping(item, "profile document", PROFILE_DOCUMENT_FIELDS)
        if fields is None:
            continue
        code = reader.string(fields.get("code"), "document type code")
        verified = reader.enum(fields.get("verified"), f"document type {code or '?'}: verified", VERIFIED)
        if code and check and code not in known:
            reader.error(fields["code"], f"unknown document type {code!r} (known: {', '.join(sorted(known))})")
        elif code in {d.code for d in out}:
            reader.error(fields["code"], f"document type {code!r} listed twice")
        elif code and verified:
            out.append(ProfileDocument(code=code, verified=verified))
    return tuple(out)


def _ids(reader: NodeReader, node: yaml.Node | None, what: str, catalogue: Catalogue) -> tuple[str, ...]:
    if node is None:
        return ()
    if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null":
        return ()
    if not isinstance(node, yaml.SequenceNode):
        reader.error(node, f"{what} must be a list of requirement ids")
        return ()
    out: list[str] = []
    for item in node.value:
        rid = reader.string(item, f"{what} item")
        if rid and rid not in catalogue:
            reader.error(item, f"{what}: dangling reference to requirement {rid!r} (not in the catalogue)")
        elif rid:
            out.append(rid)
    return tuple(out)


__all__ = [
    "CorridorProfile", "DocumentType", "ProfileDocument", "ProfileError",
    "available_profiles", "corridor_ids", "default_profile", "document_types", "load_profile", "normalise_name",
]
