"""Which schematrons apply to a CDA document: the volet (from its oxygen PIs, else from its templateIds)
then the five cross-volet profiles of the official chain (specs/baseline.md §2).

The templateId → volet index is scanned once per kit (its rules and its own examples) and cached in
memory and on disk next to the compiled stylesheets.
"""

from __future__ import annotations

import json
import os
import re
import urllib.parse
from dataclasses import asdict, dataclass, field
from pathlib import Path

from lxml import etree

from conformance.cda.kit import HL7_NS, KIT_LIMITS, SCH, Kit, write_cache_text
from conformance.findings import Finding, error, warning
from conformance.safexml import XmlRejected, parse_file

# The five cross-volet profiles run on every document by the official chain (baseline.md §2),
# relative to the kit's schematrons/ folder.
STANDARD_PROFILES: tuple[str, ...] = (
    "profils/IHE.sch",
    "profils/terminologies/schematron/terminologie.sch",
    "profils/CI-SIS_ModelesDeContenusCDA.sch",
    "profils/structurationMinimale/ASIP-STRUCT-MIN-StrucMin.sch",
    "profils/CI-SIS_Modeles_ANS.sch",
)

NO_VOLET = "CDA.SCH.NO_VOLET"
PI_IGNORED = "CDA.SCH.PI_UNKNOWN"
PI_NARROWED = "CDA.SCH.PI_NARROWED"
VOLET_VERSION = "CDA.SCH.VOLET_VERSION"

_DOC_TEMPLATE_PREFIX = "1.2.250.1.213.1.1.1."
_STRUCMIN_HEADER_TEMPLATE = "1.2.250.1.213.1.1.1.1"
_VERSION_RE = re.compile(r"_(\d{4}\.\d{2})\.sch$", re.I)
_PI_RE = re.compile(r"""SCHSchema\s*=\s*["']([^"']+)["']""")

_index_cache: dict[str, dict[str, list[VoletEntry]]] = {}


@dataclass(frozen=True)
class VoletEntry:
    """A volet schematron and the document templateId it checks for."""

    schematron: str  # relative to schematrons/
    root: str
    extension: str  # the extension asserted (or carried by the kit example), "" when none
    version: str  # from the file name (e.g. "2022.01"), "" when absent
    source: str = "schematron"  # "schematron" (scanned rules) or "example" (kit example's PI)


@dataclass
class Selection:
    volets: list[Path] = field(default_factory=list)
    profiles: list[Path] = field(default_factory=list)
    notes: list[Finding] = field(default_factory=list)

    @property
    def all(self) -> list[Path]:
        return self.volets + self.profiles


class VoletSelector:
    """Selects the schematrons of a document inside one kit (``cache_dir``: the kit's cache folder)."""

    def __init__(self, kit: Kit, cache_dir: Path, digest: str) -> None:
        self.kit = kit
        self.cache_dir = cache_dir
        self._digest = digest

    def select(self, tree: etree._ElementTree) -> Selection:
        sel = Selection()
        sch_dir = self.kit.schematron_dir
        named, unknown = self._pi_schematrons(tree)
        for raw in unknown:
            sel.notes.append(
                warning(
                    f"Le document désigne un schématron absent du kit : {raw} (instruction oxygen ignorée)",
                    f"The document names a schematron that is not in the kit: {raw} (oxygen PI ignored)",
                    rule=PI_IGNORED,
                    found=raw,
                )
            )
        pi_volets = [p for p in named if not is_profile(p, sch_dir)]
        pi_profiles = [p for p in named if is_profile(p, sch_dir)]
        gap = None if pi_volets else self._version_gap(tree)
        if gap is not None:  # never judge a volet version by another version's schematron (issue 12)
            sel.notes.append(gap)
        sel.volets = pi_volets or ([] if gap is not None else self._volets_by_template(tree))
        if not sel.volets and gap is None:
            roots = doc_template_roots(tree)
            sel.notes.append(
                warning(
                    "Aucun schématron de volet du kit ne correspond aux templateId du document "
                    "(seuls les profils transverses s'appliquent)",
                    "No volet schematron of the kit matches the document's templateIds "
                    "(only the cross-volet profiles apply)",
                    rule=NO_VOLET,
                    xpath="/cda:ClinicalDocument/cda:templateId",
                    found=" ".join(r for r, _e in roots) or "(aucun)",
                )
            )
        standard = [sch_dir / rel for rel in STANDARD_PROFILES]
        unknown_profiles = [raw for raw in unknown if "profils/" in raw.replace("\\", "/").lower()]
        # The document's own oxygen PIs may add profiles but never remove the standard ones: the PIs
        # come from the candidate, and a document must not be able to narrow its own checks.
        sel.profiles = list(dict.fromkeys(pi_profiles + [p for p in standard if p.exists()]))
        if unknown_profiles:
            sel.notes.append(warning(
                "Les instructions oxygen du document désignent des profils absents du kit ; "
                "les profils standard s'appliquent",
                "The document's oxygen PIs name profiles missing from the kit; the standard profiles apply",
                rule=PI_NARROWED, found=", ".join(unknown_profiles)))
        return sel

    def _pi_schematrons(self, tree: etree._ElementTree) -> tuple[list[Path], list[str]]:
        """Schematrons named by ``<?oxygen SCHSchema="..."?>`` before the root element."""
        found: list[Path] = []
        unknown: list[str] = []
        root = tree.getroot()
        pis = [n for n in root.itersiblings(preceding=True) if isinstance(n, etree._ProcessingInstruction)]
        for pi in reversed(pis):
            if pi.target != "oxygen":
                continue
            for raw in _PI_RE.findall(pi.text or ""):
                path = self._resolve_pi(raw)
                if path is None:
                    unknown.append(raw[:300])
                elif path not in found:
                    found.append(path)
        return found, unknown

    def _resolve_pi(self, raw: str) -> Path | None:
        """A PI path is relative to the kit's ExemplesCDA/: keep the part after ``schematrons/``."""
        text = urllib.parse.unquote(raw.strip()).replace("\\", "/")
        if not text.lower().endswith(".sch") or "\0" in text:
            return None
        low = text.lower()
        idx = low.rfind("schematrons/")
        rel = text[idx + len("schematrons/"):] if idx >= 0 else text
        candidate = Path(os.path.normpath(self.kit.schematron_dir / rel))
        try:
            candidate.relative_to(self.kit.schematron_dir)
        except ValueError:
            return None  # never leave the kit
        found = self.kit.resolve_ci(candidate)
        if found is None or not found.is_file():
            return None
        # Only whole schemas: a volet at the top of schematrons/, or a profile under profils/.
        if found.parent != self.kit.schematron_dir and not is_profile(found, self.kit.schematron_dir):
            return None
        return found

    def volet_index(self) -> dict[str, list[VoletEntry]]:
        """templateId root → volet schematrons asserting it, scanned once per kit (and cached)."""
        key = self.kit.sha256
        if key in _index_cache:
            return _index_cache[key]
        disk = self.cache_dir / f"volet-index-{self._digest}.json"
        index: dict[str, list[VoletEntry]] = {}
        try:
            raw = json.loads(disk.read_text(encoding="utf-8"))
            index = {k: [VoletEntry(**e) for e in v] for k, v in raw.items()}
        except (OSError, ValueError, TypeError):
            index = _scan_volets(self.kit)
            write_cache_text(disk, json.dumps({k: [asdict(e) for e in v] for k, v in index.items()}, indent=1))
        _index_cache[key] = index
        return index

    def _version_gap(self, tree: etree._ElementTree) -> Finding | None:
        """"Not evaluated" when the document declares volet versions (templateId extensions) the kit has no
        schematron for, while it has schematrons for those templateIds in other versions."""
        index = self.volet_index()
        declared = [(r, e) for r, e in doc_template_roots(tree) if e and index.get(r)]
        if not declared:
            return None
        if any(e in (entry.version, entry.extension) for r, e in declared for entry in index[r]):
            return None
        root, ext = max(declared, key=lambda d: d[0].count("."))
        name = Path(index[root][0].schematron).stem.removeprefix("CI-SIS_")
        volet = re.sub(r"_\d{4}\.\d{2}$", "", name)
        versions = sorted({e.version for e in index[root] if e.version})
        return error(
            f"couche officielle non évaluée : volet {volet} version {ext} absente de ce kit "
            f"(versions du kit : {', '.join(versions)})",
            f"official layer not evaluated: volet {volet} version {ext} not in this kit "
            f"(kit versions: {', '.join(versions)})",
            rule=VOLET_VERSION, xpath="/cda:ClinicalDocument/cda:templateId", expected=", ".join(versions), found=ext)

    def _volets_by_template(self, tree: etree._ElementTree) -> list[Path]:
        """The one volet schematron that best matches the document's CI-SIS templateIds.

        Preference: the release the document declares (templateId extension = file version or
        asserted extension), then the most specific templateId, then the same (possibly empty)
        extension as a kit example, then the newest release.
        """
        index = self.volet_index()
        ranked: list[tuple[int, int, int, str, str]] = []
        for root, ext in doc_template_roots(tree):
            for entry in index.get(root, []):
                exact = 1 if ext and ext in (entry.version, entry.extension) else 0
                same = 1 if ext == entry.extension else 0
                ranked.append((exact, root.count("."), same, entry.version, entry.schematron))
        if not ranked:
            return []
        best = max(ranked)
        return [self.kit.schematron_dir / best[4]]


def is_profile(path: Path, sch_dir: Path) -> bool:
    try:
        return path.relative_to(sch_dir).parts[0].lower() == "profils"
    except (ValueError, IndexError):
        return False


def doc_template_roots(tree: etree._ElementTree) -> list[tuple[str, str]]:
    """CI-SIS document-model templateIds of the ClinicalDocument (root or wrapped)."""
    root = tree.getroot()
    doc = root if root.tag == f"{{{HL7_NS}}}ClinicalDocument" else root.find(f".//{{{HL7_NS}}}ClinicalDocument")
    if doc is None:
        return []
    out = []
    for t in doc.findall(f"{{{HL7_NS}}}templateId"):
        r = (t.get("root") or "").strip()
        if r.startswith(_DOC_TEMPLATE_PREFIX) and r != _STRUCMIN_HEADER_TEMPLATE:
            out.append((r, (t.get("extension") or "").strip()))
    return out



_DOC_OID_RE = re.compile(r"1\.2\.250\.1\.213\.1\.1\.1\.[0-9]+(?:\.[0-9]+)*")
_EXT_RE = re.compile(r"@root\s*=\s*['\"]([0-9.]+)['\"]\s*and\s*@extension\s*=\s*['\"]([^'\"]+)['\"]")


def _scan_volets(kit: Kit) -> dict[str, list[VoletEntry]]:
    """templateId root → volet schematrons, from two sources inside the kit.

    1. The schematrons: every CI-SIS document-model OID (``1.2.250.1.213.1.1.1.*``) that a volet file
       or its own ``include/specificationsVolets/`` files mention in a rule context or test (the kit
       writes the check in several ways: ``templateId[@root=...]``, ``*[cda:templateId/@root=...]``).
    2. The kit's own examples: the volet each one names in its oxygen PI, with its templateIds (some
       volets, e.g. CSE-MDE, never test their own templateId).
    """
    index: dict[str, list[VoletEntry]] = {}
    seen: set[tuple[str, str, str]] = set()

    def add(root: str, ext: str, rel: str, source: str) -> None:
        if root == _STRUCMIN_HEADER_TEMPLATE or (root, ext, rel) in seen:
            return
        seen.add((root, ext, rel))
        version_m = _VERSION_RE.search(rel)
        index.setdefault(root, []).append(VoletEntry(rel, root, ext, version_m.group(1) if version_m else "", source))

    for sch in sorted(kit.schematron_dir.glob("*.sch")):
        for text in _volet_rule_texts(kit, sch):
            exts = dict(_EXT_RE.findall(text))
            for root in _DOC_OID_RE.findall(text):
                add(root, exts.get(root, ""), sch.name, "schematron")
    sch_dir = kit.schematron_dir
    for ex in sorted(kit.examples_dir.glob("*.xml")) if kit.examples_dir.is_dir() else []:
        try:
            tree = parse_file(str(ex))
        except (XmlRejected, OSError):
            continue
        volets = []
        for pi in tree.getroot().itersiblings(preceding=True):
            if isinstance(pi, etree._ProcessingInstruction) and pi.target == "oxygen":
                for raw in _PI_RE.findall(pi.text or ""):
                    name = raw.replace("\\", "/").rsplit("/", 1)[-1]
                    if "/profils/" not in raw.lower() and (sch_dir / name).is_file():
                        volets.append(name)
        for name in volets:
            for root, ext in doc_template_roots(tree):
                add(root, ext, name, "example")
    return index


def _volet_rule_texts(kit: Kit, sch: Path) -> list[str]:
    """Rule contexts and tests of a volet file and of its own specificationsVolets/ includes."""
    texts: list[str] = []
    try:
        top = parse_file(str(sch), KIT_LIMITS)
    except (XmlRejected, OSError):
        return texts
    docs = [top]
    for inc in top.getroot().iter(SCH + "include"):
        href = urllib.parse.unquote((inc.get("href") or "").split("#")[0])
        if "specificationsvolets/" not in href.lower():
            continue
        target = kit.resolve_ci(Path(os.path.normpath(sch.parent / href)))
        if target is None or not target.is_file():
            continue
        try:
            docs.append(parse_file(str(target), KIT_LIMITS))
        except (XmlRejected, OSError):
            continue
    for doc in docs:
        for rule in doc.getroot().iter(SCH + "rule"):
            texts.append(rule.get("context") or "")
            for a in rule.iter(SCH + "assert", SCH + "report"):
                texts.append(a.get("test") or "")
    return texts

