"""The requirement catalogue: REM requirements, their scenarios and proofs, loaded from YAML data.

Why data and not code: the official REM texts are not public yet (see rem.md §0), so our paraphrases
will be replaced by imported ones (``conformance.catalogue_import``) without touching the suites.
Why a strict loader: a typo in a catalogue silently drops a requirement from an audit report, so every
problem is reported with ``file:line`` and all problems of all files are reported at once.

File shape (``profiles/requirements/*.yaml``)::

    section: MSS                      # default section of the file's entries
    requirements:
      - id: DUI.MSS.07
        title: "..."                  # short French label
        statement: "Le système DOIT ..."
        nature: EXIGENCE              # EXIGENCE | PRECONISATION
        criticite: MAJEURE            # MINEURE | MAJEURE | CRITIQUE
        wave: 1                       # 1 | 2
        corridors: [XX1, XX2-ABC]     # ids of profiles/corridors/*.yaml (conformance.profiles.corridor_ids)
        verified: Vd                  # V | Vd | S | I (I = inferred)
        source: "rem.md §2.3"
        # optional: section, sub_section, conditional_profile, socle, refs
        scenarios:
          - id: DUI.MSS.07.01
            title: "..."
            proofs:
              - id: DUI.MSS.07.01.01
                kind: "Source SMTP"
                description: "..."    # optional: the ANS wording of the proof (set by the importer)
                verification: ["..."]
                method: automated     # automated | manual (manual needs manual_reason)
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

NATURES = ("EXIGENCE", "PRECONISATION")
CRITICITES = ("MINEURE", "MAJEURE", "CRITIQUE")
VERIFIED = ("V", "Vd", "S", "I")
METHODS = ("automated", "manual")
WAVES = (1, 2)
PROOF_KINDS = (
    "Source SMTP",
    "Message SOAP (VIHF)",
    "Log",
    "Rapport de validation",
    "Démonstration",
    "Document CDA",
    "Transcription OIDC",
    "Attestation",
)

#: ANS export order (convergence-export ExcelRow.java), then the vague-2 families, then the rest A→Z.
SECTION_ORDER = ("INS", "DMP", "MSS", "PSC", "ANN", "TBB", "HOP", "DOC", "PORT", "EPR", "CDA", "SSI")

_SUB = r"(?:/[A-Za-z0-9]+)*"
ID_PATTERNS = {
    "wave 1": re.compile(r"DUI\.[A-Z]{2,6}\.\d{2,3}"),
    "socle": re.compile(rf"SC\.[A-Z]{{2,6}}{_SUB}\.\d{{2,3}}"),
    "wave 2": re.compile(rf"[A-Z]{{2,6}}{_SUB}\.\d{{2,3}}"),
    # another REM's own id (LGC.DMP.01, SGL.DMP/va1.23, DB.SO.100): what ANS's Squash exports hold
    "other REM": re.compile(rf"(?!DUI\.|SC\.)[A-Z]{{2,6}}\.[A-Z]{{2,6}}{_SUB}\.\d{{2,3}}"),
}
_SECTION_RE = re.compile(r"[A-Z]{2,6}")
_SUB_SECTION_RE = re.compile(rf"[A-Z]{{2,6}}{_SUB}")
_CHILD_SUFFIX_RE = re.compile(r"\d{2,3}")

ENV_DIR = "SEGUR_CATALOGUE_DIR"


def section_rank(section: str) -> tuple[int, str]:
    """Sort key of a section: the ANS order first, then every other section alphabetically."""
    try:
        return (SECTION_ORDER.index(section), section)
    except ValueError:
        return (len(SECTION_ORDER), section)


def _natural_key(text: str) -> tuple[Any, ...]:
    """``DUI.MSS.9`` before ``DUI.MSS.10``: compare digit runs as numbers."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text))


def id_kind(requirement_id: str) -> str | None:
    """Which ID scheme (rem.md §1.2) a requirement id follows, or None when it follows none."""
    for kind, pattern in ID_PATTERNS.items():
        if pattern.fullmatch(requirement_id):
            return kind
    return None


# ---------------------------------------------------------------------------------------------
# model
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Proof:
    """One *preuve* of a scenario: what the ANS checker looks at, and whether we can produce it."""

    id: str
    kind: str
    verification: tuple[str, ...] = ()
    method: str = "automated"
    manual_reason: str = ""
    description: str = ""

    @property
    def manual(self) -> bool:
        return self.method == "manual"

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "description": self.description,
                "verification": list(self.verification), "method": self.method,
                "manual_reason": self.manual_reason}


@dataclass(frozen=True)
class Scenario:
    """One *scénario de conformité*, with its 1..10 proofs."""

    id: str
    title: str
    proofs: tuple[Proof, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "proofs": [p.to_dict() for p in self.proofs]}


@dataclass(frozen=True)
class Requirement:
    """One REM requirement with the attributes ANS shows (rem.md §1.4) and where it was declared."""

    id: str
    section: str
    title: str
    statement: str
    nature: str
    criticite: str
    wave: int
    corridors: tuple[str, ...]
    verified: str
    source: str
    scenarios: tuple[Scenario, ...] = ()
    sub_section: str = ""
    conditional_profile: str = ""
    socle: str = ""
    refs: tuple[str, ...] = ()
    file: str = ""
    line: int = 0

    @property
    def mandatory(self) -> bool:
        return self.nature == "EXIGENCE"

    @property
    def conditional(self) -> bool:
        return bool(self.conditional_profile)

    @property
    def proofs(self) -> tuple[Proof, ...]:
        return tuple(p for s in self.scenarios for p in s.proofs)

    @property
    def manual_only(self) -> bool:
        """Every proof needs the vendor's evidence: the harness can never say ``passed``."""
        proofs = self.proofs
        return bool(proofs) and all(p.manual for p in proofs)

    @property
    def inferred(self) -> bool:
        return self.verified == "I"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "section": self.section,
            "sub_section": self.sub_section,
            "title": self.title,
            "statement": self.statement,
            "nature": self.nature,
            "criticite": self.criticite,
            "conditional_profile": self.conditional_profile,
            "conditional": self.conditional,
            "wave": self.wave,
            "corridors": list(self.corridors),
            "verified": self.verified,
            "inferred": self.inferred,
            "source": self.source,
            "socle": self.socle,
            "refs": list(self.refs),
            "scenarios": [s.to_dict() for s in self.scenarios],
            "file": Path(self.file).name if self.file else "",
            "line": self.line,
        }


class Catalogue:
    """Requirements by id; iteration follows the ANS section order, then the natural id order.

    Mapping-like on purpose but not a ``Mapping``: iterating yields Requirements, not keys, because
    every caller (report, CLI, plugin) wants the objects in ANS order.
    """

    def __init__(self, requirements: Iterable[Requirement] = ()) -> None:
        ordered = sorted(requirements, key=lambda r: (section_rank(r.section), _natural_key(r.id)))
        self._by_id: dict[str, Requirement] = {r.id: r for r in ordered}

    def __getitem__(self, requirement_id: str) -> Requirement:
        return self._by_id[requirement_id]

    def __contains__(self, requirement_id: object) -> bool:
        return requirement_id in self._by_id

    def get(self, requirement_id: str, default: Requirement | None = None) -> Requirement | None:
        return self._by_id.get(requirement_id, default)

    def __iter__(self) -> Iterator[Requirement]:
        return iter(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)

    def __repr__(self) -> str:
        return f"Catalogue({len(self)} requirements)"

    def ids(self) -> list[str]:
        return list(self._by_id)

    def sections(self) -> list[str]:
        return sorted({r.section for r in self._by_id.values()}, key=section_rank)

    def in_section(self, section: str) -> list[Requirement]:
        return [r for r in self if r.section == section]


# ---------------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------------
class CatalogueError(ValueError):
    """Every problem of a catalogue load, each as ``(file, line, message)``."""

    def __init__(self, errors: list[tuple[str, int, str]]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(f"{f}:{line}: {msg}" for f, line, msg in self.errors))


# ---------------------------------------------------------------------------------------------
# loader
# ---------------------------------------------------------------------------------------------
REQUIREMENT_FIELDS = {
    "id": True, "section": False, "sub_section": False, "title": True, "statement": True,
    "nature": True, "criticite": True, "conditional_profile": False, "wave": True, "corridors": True,
    "verified": True, "source": True, "socle": False, "refs": False, "scenarios": True,
}
SCENARIO_FIELDS = {"id": True, "title": True, "proofs": True}
PROOF_FIELDS = {"id": True, "kind": True, "description": False, "verification": True, "method": True,
                "manual_reason": False}
FILE_FIELDS = {"section", "requirements"}


class NodeReader:
    """Typed reads from a YAML node tree that record ``(file, line, message)`` instead of raising.

    Shared with ``conformance.profiles`` so both data loaders report problems the same way.
    """

    def __init__(self, path: Path | str, errors: list[tuple[str, int, str]]) -> None:
        self.name = str(path)
        self.errors = errors

    def error(self, node: yaml.Node | None, message: str) -> None:
        self.errors.append((self.name, node_line(node), message))

    def mapping(self, node: yaml.Node, what: str, fields: dict[str, bool] | set[str]
                ) -> dict[str, yaml.Node] | None:
        if not isinstance(node, yaml.MappingNode):
            self.error(node, f"{what} must be a mapping")
            return None
        out: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, str):
                self.error(key_node, f"{what}: field names must be plain strings")
                continue
            if key in out:
                self.error(key_node, f"{what}: duplicate field {key!r} (first at line {node_line(out[key])})")
                continue
            if key not in fields:
                self.error(key_node, f"{what}: unknown field {key!r} (known: {', '.join(sorted(fields))})")
                continue
            out[key] = value_node
        if isinstance(fields, dict):
            for name, required in fields.items():
                if required and name not in out:
                    self.error(node, f"{what}: missing required field {name!r}")
        return out

    def string(self, node: yaml.Node | None, what: str, *, allow_empty: bool = False) -> str:
        if node is None:
            return ""
        if not isinstance(node, yaml.ScalarNode) or node.tag != "tag:yaml.org,2002:str":
            if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null" and allow_empty:
                return ""
            self.error(node, f"{what} must be a string")
            return ""
        if not node.value.strip() and not allow_empty:
            self.error(node, f"{what} must not be empty")
        return str(node.value)

    def enum(self, node: yaml.Node | None, what: str, allowed: tuple[Any, ...]) -> Any:
        if node is None:
            return None
        value: Any = node.value if isinstance(node, yaml.ScalarNode) else None
        if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:int":
            value = int(node.value)
        if value not in allowed:
            shown = repr(node.value) if isinstance(node, yaml.ScalarNode) else (
                "a list" if isinstance(node, yaml.SequenceNode) else "a mapping")
            self.error(node, f"{what}: bad value {shown} (allowed: {', '.join(map(str, allowed))})")
            return None
        return value

    def string_list(self, node: yaml.Node | None, what: str) -> tuple[str, ...]:
        if node is None:
            return ()
        if not isinstance(node, yaml.SequenceNode):
            self.error(node, f"{what} must be a list")
            return ()
        return tuple(self.string(item, f"{what} item") for item in node.value)


class _CatalogueReader(NodeReader):
    """Turns one catalogue file's node tree into Requirements, collecting errors with line numbers."""

    def __init__(self, path: Path, errors: list[tuple[str, int, str]],
                 seen: dict[str, tuple[str, int]]) -> None:
        super().__init__(path, errors)
        self.seen = seen
        self.default_section = ""

    def claim(self, ident: str, node: yaml.Node, what: str) -> None:
        """Register an id; a second declaration (any file) names both places."""
        here = (self.name, node_line(node))
        if ident in self.seen:
            first_file, first_line = self.seen[ident]
            self.error(node, f"duplicate {what} id {ident!r} (also declared at {first_file}:{first_line})")
        else:
            self.seen[ident] = here

    def child_id(self, node: yaml.Node | None, parent: str, what: str, parent_what: str) -> str:
        ident = self.string(node, f"{what} id")
        if not ident or node is None:
            return ident
        if not parent or not ident.startswith(parent + "."):
            if parent:
                self.error(node, f"{what} id {ident!r} is not prefixed by its {parent_what} id {parent!r}")
        elif not _CHILD_SUFFIX_RE.fullmatch(ident[len(parent) + 1:]):
            self.error(node, f"malformed {what} id {ident!r} (expected {parent}.NN)")
        self.claim(ident, node, what)
        return ident

    # -- structure -----------------------------------------------------------------------------
    def read(self, root: yaml.Node | None) -> list[Requirement]:
        if root is None:
            self.errors.append((self.name, 1, "empty catalogue file (expected 'requirements:')"))
            return []
        top = self.mapping(root, "catalogue file", FILE_FIELDS)
        if top is None:
            return []
        if "section" in top:
            self.default_section = self.section(top["section"], "file section")
        if "requirements" not in top:
            self.error(root, "catalogue file: missing required field 'requirements'")
            return []
        reqs_node = top["requirements"]
        if isinstance(reqs_node, yaml.ScalarNode) and reqs_node.tag == "tag:yaml.org,2002:null":
            return []
        if not isinstance(reqs_node, yaml.SequenceNode):
            self.error(reqs_node, "'requirements' must be a list")
            return []
        out = []
        for item in reqs_node.value:
            req = self.requirement(item)
            if req is not None:
                out.append(req)
        return out

    def section(self, node: yaml.Node, what: str) -> str:
        value = self.string(node, what)
        if value and not _SECTION_RE.fullmatch(value):
            self.error(node, f"{what}: malformed section {value!r} (2 to 6 capital letters, e.g. MSS)")
            return ""
        return value

    def requirement(self, node: yaml.Node) -> Requirement | None:
        fields = self.mapping(node, f"requirement {peek_id(node)}".rstrip(), REQUIREMENT_FIELDS)
        if fields is None:
            return None
        errors_before = len(self.errors)
        rid = self.string(fields.get("id"), "requirement id")
        if rid:
            if id_kind(rid) is None:
                self.error(fields["id"], f"malformed requirement id {rid!r} (expected DUI.<SEC>.<NN>, "
                                         f"SC.<SEC>[/<SUB>].<NN>, <SEC>[/<SUB>].<NN> or "
                                         f"<REM>.<SEC>[/<SUB>].<NN>)")
            self.claim(rid, fields["id"], "requirement")
        what = f"requirement {rid or '?'}"
        if "section" in fields:
            section = self.section(fields["section"], f"{what}: section")
        else:
            section = self.default_section
            if not section:
                self.error(node, f"{what}: missing required field 'section' (and no file-level section)")
        sub_section = self.string(fields.get("sub_section"), f"{what}: sub_section", allow_empty=True)
        if sub_section and not _SUB_SECTION_RE.fullmatch(sub_section):
            self.error(fields["sub_section"], f"{what}: malformed sub_section {sub_section!r} (e.g. MSS/CONF)")
        title = self.string(fields.get("title"), f"{what}: title")
        statement = self.string(fields.get("statement"), f"{what}: statement")
        nature = self.enum(fields.get("nature"), f"{what}: nature", NATURES)
        criticite = self.enum(fields.get("criticite"), f"{what}: criticite", CRITICITES)
        conditional = self.string(fields.get("conditional_profile"), f"{what}: conditional_profile",
                                  allow_empty=True)
        wave = self.enum(fields.get("wave"), f"{what}: wave", WAVES)
        corridors = self.corridors(fields.get("corridors"), what)
        verified = self.enum(fields.get("verified"), f"{what}: verified", VERIFIED)
        source = self.string(fields.get("source"), f"{what}: source")
        socle = self.string(fields.get("socle"), f"{what}: socle", allow_empty=True)
        if socle and id_kind(socle) != "socle":
            self.error(fields["socle"], f"{what}: malformed socle id {socle!r} (expected SC.<SEC>[/<SUB>].<NN>)")
        refs = self.string_list(fields.get("refs"), f"{what}: refs")
        scenarios = self.scenarios(fields.get("scenarios"), rid, what)
        if len(self.errors) != errors_before:
            return None
        return Requirement(
            id=rid, section=section, sub_section=sub_section, title=title, statement=statement,
            nature=nature, criticite=criticite, conditional_profile=conditional, wave=wave,
            corridors=corridors, verified=verified, source=source, socle=socle, refs=refs,
            scenarios=scenarios, file=self.name, line=node_line(node),
        )

    def corridors(self, node: yaml.Node | None, what: str) -> tuple[str, ...]:
        if node is None:
            return ()
        if not isinstance(node, yaml.SequenceNode) or not node.value:
            self.error(node, f"{what}: corridors must be a non-empty list")
            return ()
        out: list[str] = []
        known: tuple[str, ...] = self.__dict__.setdefault("_known_corridors", known_corridors())  # once per file
        for item in node.value:
            value = item.value if isinstance(item, yaml.ScalarNode) else None
            if value is None or value not in known:
                self.error(item, f"{what}: unknown corridor {value!r} (known: {', '.join(known)})")
            elif value in out:
                self.error(item, f"{what}: corridor {value!r} listed twice")
            else:
                out.append(value)
        return tuple(out)

    def scenarios(self, node: yaml.Node | None, rid: str, what: str) -> tuple[Scenario, ...]:
        if node is None:
            return ()
        if not isinstance(node, yaml.SequenceNode) or not node.value:
            self.error(node, f"{what}: scenarios must be a non-empty list")
            return ()
        out = []
        for item in node.value:
            fields = self.mapping(item, f"{what}: scenario {peek_id(item)}".rstrip(), SCENARIO_FIELDS)
            if fields is None:
                continue
            sid = self.child_id(fields.get("id"), rid, "scenario", "requirement")
            title = self.string(fields.get("title"), f"scenario {sid or '?'}: title")
            proofs = self.proofs(fields.get("proofs"), sid)
            out.append(Scenario(id=sid, title=title, proofs=proofs))
        return tuple(out)

    def proofs(self, node: yaml.Node | None, sid: str) -> tuple[Proof, ...]:
        what = f"scenario {sid or '?'}"
        if node is None:
            return ()
        if not isinstance(node, yaml.SequenceNode) or not node.value:
            self.error(node, f"{what}: proofs must be a non-empty list")
            return ()
        if len(node.value) > 10:
            self.error(node, f"{what}: at most 10 proofs per scenario (ANS layout), found {len(node.value)}")
        out = []
        for item in node.value:
            fields = self.mapping(item, f"{what}: proof {peek_id(item)}".rstrip(), PROOF_FIELDS)
            if fields is None:
                continue
            pid = self.child_id(fields.get("id"), sid, "proof", "scenario")
            pwhat = f"proof {pid or '?'}"
            kind = self.enum(fields.get("kind"), f"{pwhat}: kind", PROOF_KINDS)
            verification = self.string_list(fields.get("verification"), f"{pwhat}: verification")
            method = self.enum(fields.get("method"), f"{pwhat}: method", METHODS)
            reason = self.string(fields.get("manual_reason"), f"{pwhat}: manual_reason", allow_empty=True)
            description = self.string(fields.get("description"), f"{pwhat}: description", allow_empty=True)
            if method == "manual" and not reason.strip():
                self.error(item, f"{pwhat}: a manual proof needs a manual_reason (French, why it is manual)")
            out.append(Proof(id=pid, kind=kind or "", verification=verification,
                             method=method or "automated", manual_reason=reason, description=description))
        return tuple(out)


def peek_id(node: yaml.Node, key_name: str = "id") -> str:
    """The ``id`` scalar of a mapping node, if any, so early errors can already name the entry."""
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == key_name and isinstance(value, yaml.ScalarNode):
                return str(value.value)
    return ""


def node_line(node: yaml.Node | None) -> int:
    return node.start_mark.line + 1 if node is not None and node.start_mark is not None else 0


def compose_file(path: Path, errors: list[tuple[str, int, str]]) -> tuple[bool, yaml.Node | None]:
    """Parse one file into a node tree (no Python objects: we want the line of everything)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        errors.append((str(path), 0, f"cannot read file: {exc}"))
        return False, None
    try:
        return True, yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        errors.append((str(path), line, f"invalid YAML: {exc.problem or exc.context}"))
    except yaml.YAMLError as exc:
        errors.append((str(path), 0, f"invalid YAML: {exc}"))
    return False, None


def catalogue_files(directory: Path) -> list[Path]:
    """The catalogue files of a folder, in a stable order (hidden files and ``_*`` helpers skipped)."""
    return sorted(p for p in directory.glob("*.yaml") if not p.name.startswith((".", "_")))


def default_directory() -> Path:
    """``SEGUR_CATALOGUE_DIR`` when set, else the packaged ``segur_profiles/requirements``."""
    env = os.environ.get(ENV_DIR)
    if env:
        return Path(env)
    return Path(str(resources.files("segur_profiles") / "requirements"))


def load_catalogue(directory: Path | str | None = None) -> Catalogue:
    """Load every ``*.yaml`` of a catalogue folder; raise one CatalogueError listing all problems.

    The packaged default is cached (every suite asks for it); an explicit folder or
    ``SEGUR_CATALOGUE_DIR`` is read afresh so tests that write catalogues see their own files.
    """
    if directory is None and not os.environ.get(ENV_DIR):
        return _load_packaged()
    return _load(Path(directory) if directory is not None else default_directory())


@functools.lru_cache(maxsize=1)
def _load_packaged() -> Catalogue:
    return _load(default_directory())


def _load(directory: Path) -> Catalogue:
    errors: list[tuple[str, int, str]] = []
    if not directory.is_dir():
        raise CatalogueError([(str(directory), 0, "catalogue folder not found")])
    files = catalogue_files(directory)
    if not files:
        raise CatalogueError([(str(directory), 0, "no catalogue file (*.yaml) in this folder")])
    seen: dict[str, tuple[str, int]] = {}
    requirements: list[Requirement] = []
    for path in files:
        ok, root = compose_file(path, errors)
        if ok:
            requirements.extend(_CatalogueReader(path, errors, seen).read(root))
    if errors:
        raise CatalogueError(errors)
    return Catalogue(requirements)


def load_catalogue_file(path: Path | str) -> list[Requirement]:
    """One file on its own (used by the importer to check what it wrote)."""
    path = Path(path)
    errors: list[tuple[str, int, str]] = []
    ok, root = compose_file(path, errors)
    requirements = _CatalogueReader(path, errors, {}).read(root) if ok else []
    if errors:
        raise CatalogueError(errors)
    return requirements


# ---------------------------------------------------------------------------------------------
# identity of a catalogue (recorded in results.json and the report header)
# ---------------------------------------------------------------------------------------------
META_FILE = "_catalogue.yaml"
_META_CACHE: dict[tuple[Any, ...], dict[str, Any]] = {}


def statement_origins(catalogue: Iterable[Requirement]) -> dict[str, int]:
    """How many statements are ANS texts (public working data), imported REM texts, or our paraphrases."""
    counts = {"ans_public": 0, "imported": 0, "paraphrase": 0}
    for req in catalogue:
        if req.source.startswith("Texte ANS "):
            counts["ans_public"] += 1
        elif req.source.startswith(("REM officiel", "Export Squash TM")):
            counts["imported"] += 1
        else:
            counts["paraphrase"] += 1
    return counts


def catalogue_metadata(directory: Path | str | None = None, catalogue: Catalogue | None = None) -> dict[str, Any]:
    """``{"version", "origin", "sha256", "location", "requirements", "statements"}`` of a catalogue folder.

    ``sha256`` covers every ``*.yaml`` of the folder (names and bytes, ``_catalogue.yaml`` included), so two
    runs with the same digest judged against the same texts; ``version`` and ``origin`` come from
    ``_catalogue.yaml`` when the folder has one. Never raises: a problem is reported in ``error``.
    """
    folder = Path(directory) if directory is not None else default_directory()
    try:
        files = sorted(p for p in folder.glob("*.yaml") if not p.name.startswith("."))
        key = (str(folder), tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in files),
               id(catalogue))
        if key in _META_CACHE:
            return dict(_META_CACHE[key])
        digest = hashlib.sha256()
        for path in files:
            data = path.read_bytes()
            digest.update(path.name.encode("utf-8") + b"\0" + len(data).to_bytes(8, "big") + data)
        meta: Any = {}
        if (folder / META_FILE).is_file():
            meta = yaml.safe_load((folder / META_FILE).read_text(encoding="utf-8")) or {}
        meta = meta if isinstance(meta, dict) else {}
        cat = catalogue if catalogue is not None else load_catalogue(directory)
        packaged = directory is None and not os.environ.get(ENV_DIR)
        info: dict[str, Any] = {
            "version": str(meta.get("version") or "non déclarée"),
            "origin": " ".join(str(meta.get("origin") or "").split()) or "non déclarée",
            "sha256": digest.hexdigest(),
            "location": "segur_profiles/requirements (paquet)" if packaged else str(folder),
            "requirements": len(cat),
            "statements": statement_origins(cat),
        }
    except (OSError, yaml.YAMLError, CatalogueError, UnicodeDecodeError) as exc:
        return {"version": "inconnue", "origin": "inconnue", "sha256": None, "location": str(folder),
                "error": f"{type(exc).__name__}: {str(exc)[:300]}"}
    _META_CACHE.clear()
    _META_CACHE[key] = info
    return dict(info)


# ---------------------------------------------------------------------------------------------
# comparing two catalogues (``segur-conformance requirements --diff``)
# ---------------------------------------------------------------------------------------------
DIFF_ATTRIBUTES = ("title", "nature", "criticite", "verified", "wave", "corridors", "conditional_profile", "socle")


def _words(text: str) -> str:
    return " ".join(text.split())


def diff_catalogues(base: Iterable[Requirement], other: Iterable[Requirement]) -> dict[str, Any]:
    """What ``other`` changes against ``base``: requirements added, removed, reworded (the statement differs
    beyond line breaks and spaces), and other attribute changes, each list in the catalogue order."""
    old = {r.id: r for r in base}
    new = {r.id: r for r in other}
    added = [r.to_dict() for r in Catalogue(r for r in new.values() if r.id not in old)]
    removed = [r.to_dict() for r in Catalogue(r for r in old.values() if r.id not in new)]
    reworded: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    for req in Catalogue(r for r in new.values() if r.id in old):
        before = old[req.id]
        if _words(before.statement) != _words(req.statement):
            reworded.append({"id": req.id, "title": req.title, "before": before.statement, "after": req.statement,
                             "source_before": before.source, "source_after": req.source})
        fields = {}
        for name in DIFF_ATTRIBUTES:
            a, b = getattr(before, name), getattr(req, name)
            if a != b:
                fields[name] = [list(a) if isinstance(a, tuple) else a, list(b) if isinstance(b, tuple) else b]
        if fields:
            changed.append({"id": req.id, "title": req.title, "fields": fields})
    return {"added": added, "removed": removed, "reworded": reworded, "changed": changed}


def known_corridors() -> tuple[str, ...]:
    """The corridors a requirement may name: the profiles of the corridor folder (data, not code)."""
    from conformance.profiles import corridor_ids  # profiles imports this module: read at call time

    return corridor_ids()


def __getattr__(name: str) -> Any:
    if name == "CORRIDORS":  # the former constant, now read from profiles/corridors/ when asked
        return known_corridors()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CRITICITES", "NATURES", "PROOF_KINDS", "SECTION_ORDER", "VERIFIED",
    "Catalogue", "CatalogueError", "Proof", "Requirement", "Scenario",
    "catalogue_metadata", "diff_catalogues", "id_kind", "known_corridors", "load_catalogue", "load_catalogue_file", "section_rank",
]
