"""CDA layer 2: the official CI-SIS schematrons, compiled and run in-process without Java.

The ANS chain (specs/baseline.md §2) is: ISO include → abstract-pattern expansion → compile to XSLT 2
→ apply to the document → SVRL, with one JVM per step and per document. Here the same steps run in
SaxonC-HE (``saxonche``), each schematron is compiled once per process (and its generated XSLT kept on
disk, so the next process skips straight to loading it), and a parsed document is reused for every
schematron. The verdicts are the official ones; the kit defects of the published kit are handled
explicitly and visibly (see ``_KitFixes``):

* D1 — includes whose letter case differs from the files: resolved case-insensitively, one WARNING;
* D2 — value-set paths with a case mismatch: rewritten to the file on disk, same WARNING;
* D3 — missing included files: the schematron is "non évalué" (ERROR ``CDA.SCH.NOT_EVALUATED``);
* D4 — the StrucMin vocabulary ``voc-1.2.250.1.213.1.1.5.471-DYNAMIC.xml`` is synthesized from
  ``jeuxDeValeurs/JDV_J07_XdsTypeCode_CISIS.xml`` into the cache folder (the kit stays read-only);
* D6 — an include with a space in its name is just a path here;
* D7 — rules that can never fire (same context as an earlier rule of their pattern) are compiled a
  second time on their own and reported as WARNING ``CDA.SCH.DEAD_RULE`` findings, outside the
  official verdict.

Include resolution is done in Python (lxml) because it must be case-insensitive, must stay inside
the kit and must know which files are missing; abstract expansion uses the ISO
``iso_abstract_expand.xsl`` (MIT, Rick Jelliffe, shipped unchanged with lxml, copied in
``_schematron_xsl/``); the compile step is our own ``_schematron_xsl/sch_compile.xsl``, which follows
the ISO skeleton's processing model (see its header).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from xml.sax.saxutils import quoteattr

from lxml import etree

from conformance.cda import fastsch
from conformance.cda import svrl as svrl_mod
from conformance.cda.kit import Kit, default_cache_root
from conformance.findings import Finding, NotEvaluated, error, info, warning
from conformance.safexml import Limits, XmlRejected, parse_file

log = logging.getLogger(__name__)

SCH_NS = "http://purl.oclc.org/dsdl/schematron"
HL7_NS = "urn:hl7-org:v3"
_SCH = f"{{{SCH_NS}}}"
_XSL_DIR = Path(__file__).with_name("_schematron_xsl")
_EXPAND_XSL = _XSL_DIR / "iso_abstract_expand.xsl"
_COMPILE_XSL = _XSL_DIR / "sch_compile.xsl"

# The five cross-volet profiles run on every document by the official chain (baseline.md §2),
# relative to the kit's schematrons/ folder.
STANDARD_PROFILES: tuple[str, ...] = (
    "profils/IHE.sch",
    "profils/terminologies/schematron/terminologie.sch",
    "profils/CI-SIS_ModelesDeContenusCDA.sch",
    "profils/structurationMinimale/ASIP-STRUCT-MIN-StrucMin.sch",
    "profils/CI-SIS_Modeles_ANS.sch",
)

NOT_EVALUATED = "CDA.SCH.NOT_EVALUATED"
KIT_FIX = "CDA.SCH.KIT_FIX"
NO_VOLET = "CDA.SCH.NO_VOLET"
PI_IGNORED = "CDA.SCH.PI_UNKNOWN"
PI_NARROWED = "CDA.SCH.PI_NARROWED"
VOLET_VERSION = "CDA.SCH.VOLET_VERSION"
EVALUATED = "CDA.SCH.EVALUATED"
DEAD_RULE_PREFIX = svrl_mod.DEAD_RULE

_CODE_VERSION = "4"  # bump when the pipeline changes in a way the XSL digests do not show
_DOC_TEMPLATE_PREFIX = "1.2.250.1.213.1.1.1."
_STRUCMIN_HEADER_TEMPLATE = "1.2.250.1.213.1.1.1.1"
_TEMPLATE_RE = re.compile(
    r"templateId\s*\[\s*@root\s*=\s*['\"]([0-9.]+)['\"]"
    r"(?:\s*and\s*@extension\s*=\s*['\"]([^'\"]+)['\"])?"
)
_VERSION_RE = re.compile(r"_(\d{4}\.\d{2})\.sch$", re.I)
_LITERAL_RE = re.compile(r"""(['"])([^'"\s]+?\.(?:xml|rdf))\1""")
_DYNAMIC_VOC_RE = re.compile(r"voc-([0-9.]+)-DYNAMIC\.xml$")
_PI_RE = re.compile(r"""SCHSchema\s*=\s*["']([^"']+)["']""")
_MAX_INCLUDE_DEPTH = 24
ENV_ENGINE = "SEGUR_CDA_ENGINE"  # "official" forces the unmodified generated XSLT (no fast path)
_KIT_LIMITS = Limits(max_bytes=64 * 1024 * 1024, max_depth=512)


# ---------------------------------------------------------------------------------------------
# SaxonC: one processor per process (creating several is unsupported), guarded by one lock
# ---------------------------------------------------------------------------------------------

_saxon_lock = threading.RLock()
_saxon_state: dict[str, object] = {}


def _saxon():  # -> tuple[PySaxonProcessor, PyXslt30Processor]
    with _saxon_lock:
        if "proc" not in _saxon_state:
            from saxonche import PySaxonProcessor

            proc = PySaxonProcessor(license=False)
            # Rules such as terminologie.sch build doc() URIs from document content (codeSystem):
            # never let an untrusted document make Saxon open anything but local files.
            proc.set_configuration_property("http://saxon.sf.net/feature/allowedProtocols", "file")
            _saxon_state["proc"] = proc
            _saxon_state["xslt"] = proc.new_xslt30_processor()
        return _saxon_state["proc"], _saxon_state["xslt"]


def _tool(name: str, path: Path):  # compiled pipeline stylesheet, kept for the process
    with _saxon_lock:
        key = "tool:" + name
        if key not in _saxon_state:
            _proc, xslt = _saxon()
            _saxon_state[key] = xslt.compile_stylesheet(stylesheet_file=str(path))
        return _saxon_state[key]


def _saxon_message(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:600] if text else exc.__class__.__name__


def compiler_digest() -> str:
    """Identifies the compiler: its XSLTs and this pipeline version (part of every cache key)."""
    h = hashlib.sha256(_CODE_VERSION.encode())
    for p in (_EXPAND_XSL, _COMPILE_XSL):
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


# ---------------------------------------------------------------------------------------------
# Compilation report and compiled schematron
# ---------------------------------------------------------------------------------------------


@dataclass
class CompileReport:
    """What compiling one schematron learnt; persisted next to the generated XSLT."""

    schematron: str  # path relative to the kit's schematrons/ folder
    missing_includes: list[str] = field(default_factory=list)
    case_fixes: list[list[str]] = field(default_factory=list)  # [as written, as found]
    synthesized: list[str] = field(default_factory=list)
    generated_files: list[str] = field(default_factory=list)  # absolute paths the XSLT points to
    missing_valuesets: list[str] = field(default_factory=list)
    active_patterns: int = 0
    dead_rules: int = 0
    error: str = ""
    seconds_compile: float = 0.0
    seconds_load: float = 0.0
    from_disk: bool = False

    @property
    def usable(self) -> bool:
        return not self.missing_includes and not self.error


@dataclass
class _Compiled:
    report: CompileReport
    executable: object | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    plan: fastsch.FastPlan | None = None  # fast path: pattern guards (None: the official XSLT as is)


_compiled: dict[tuple[str, ...], _Compiled] = {}
_compile_locks: dict[tuple[str, ...], threading.Lock] = {}
_preloaded: dict[str, object] = {}  # absolute path -> Saxon document node, parsed once per process


def _preloaded_docs(paths: list[Path]):  # -> PyXdmMap | None
    """The ``sc:docs`` parameter: code systems and value sets parsed once for the whole process."""
    if not paths:
        return None
    with _saxon_lock:
        proc, _x = _saxon()
        entries = {}
        for p in paths:
            key = str(p)
            if key not in _preloaded:
                try:
                    _preloaded[key] = proc.parse_xml(xml_file_name=key)
                except Exception as exc:  # unreadable: leave it to the original doc() (same error)
                    log.debug("cannot preload %s: %s", p, _saxon_message(exc))
                    _preloaded[key] = None
            node = _preloaded[key]
            if node is not None:
                entries[proc.make_string_value(fastsch.uri_key(p))] = node
        return proc.make_map(entries) if entries else None


def default_engine() -> str:
    """"fast" (default: the proven rewrites of issue 16) or "official" (``SEGUR_CDA_ENGINE=official``)."""
    return "official" if os.environ.get(ENV_ENGINE, "").strip().lower() == "official" else "fast"
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


# ---------------------------------------------------------------------------------------------
# The runner
# ---------------------------------------------------------------------------------------------


class SchematronRunner:
    """Runs the kit's schematrons on CDA documents (layer 2).

    ``cache_dir`` holds the generated XSLT and the synthesized value sets; default
    ``~/.cache/segur-conformance/schematron/<kit sha256>/``. Compiled stylesheets are shared by all
    runners of the process.
    """

    def __init__(self, kit: Kit, cache_dir: Path | None = None, *, engine: str | None = None) -> None:
        self.kit = kit
        self.engine = engine or default_engine()
        if self.engine not in ("fast", "official"):
            raise ValueError(f"unknown schematron engine: {self.engine}")
        base = Path(cache_dir) if cache_dir is not None else default_cache_root() / "schematron"
        self.cache_dir = base / kit.sha256
        self._digest = compiler_digest()
        self._warned: set[str] = set()
        self._warned_lock = threading.Lock()

    # -- selection -------------------------------------------------------------------------------

    def schematrons_for(self, tree: etree._ElementTree) -> list[Path]:
        """Volet schematrons (from PIs, else from templateIds) then cross-volet profiles."""
        return self.select(tree).all

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
        pi_volets = [p for p in named if not _is_profile(p, sch_dir)]
        pi_profiles = [p for p in named if _is_profile(p, sch_dir)]
        gap = None if pi_volets else self._version_gap(tree)
        if gap is not None:  # never judge a volet version by another version's schematron (issue 12)
            sel.notes.append(gap)
        sel.volets = pi_volets or ([] if gap is not None else self._volets_by_template(tree))
        if not sel.volets and gap is None:
            roots = _doc_template_roots(tree)
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

    def _rel(self, p: Path) -> str:
        try:
            return p.relative_to(self.kit.schematron_dir).as_posix()
        except ValueError:
            return str(p)

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
        if found.parent != self.kit.schematron_dir and not _is_profile(found, self.kit.schematron_dir):
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
            _atomic_write(disk, json.dumps({k: [asdict(e) for e in v] for k, v in index.items()}, indent=1))
        _index_cache[key] = index
        return index

    def _version_gap(self, tree: etree._ElementTree) -> Finding | None:
        """"Not evaluated" when the document declares volet versions (templateId extensions) the kit has no
        schematron for, while it has schematrons for those templateIds in other versions."""
        index = self.volet_index()
        declared = [(r, e) for r, e in _doc_template_roots(tree) if e and index.get(r)]
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
        for root, ext in _doc_template_roots(tree):
            for entry in index.get(root, []):
                exact = 1 if ext and ext in (entry.version, entry.extension) else 0
                same = 1 if ext == entry.extension else 0
                ranked.append((exact, root.count("."), same, entry.version, entry.schematron))
        if not ranked:
            return []
        best = max(ranked)
        return [self.kit.schematron_dir / best[4]]

    # -- compilation -----------------------------------------------------------------------------

    def compile(self, schematron: Path) -> CompileReport:
        """Compile (or fetch from memory/disk) one schematron; never raises for kit problems."""
        return self._get(schematron).report

    def _get(self, schematron: Path) -> _Compiled:
        sch = Path(schematron)
        if not sch.is_absolute():
            sch = self.kit.schematron_dir / sch
        rel = self._rel(sch)
        # The cache folder is part of the key: the generated XSLT names files synthesized there (D4).
        key = (self.kit.sha256, rel, self._digest, self.engine, str(self.cache_dir))
        hit = _compiled.get(key)
        if hit is not None:
            return hit
        lock = _compile_locks.setdefault(key, threading.Lock())
        with lock:
            hit = _compiled.get(key)
            if hit is None:
                hit = self._build(sch, rel)
                _compiled[key] = hit
        return hit

    def xslt_path(self, schematron: Path) -> Path | None:
        """The generated (official, unmodified) XSLT of a schematron on disk; None when unusable.

        The benchmark gives these files to the warm Java engine, so both run the same stylesheet.
        """
        sch = Path(schematron)
        if not sch.is_absolute():
            sch = self.kit.schematron_dir / sch
        if not self.compile(sch).usable:
            return None
        path = self._cache_stem(self._rel(sch))
        path = path.with_name(path.name + f".{self._digest}.xsl")
        return path if path.is_file() else None

    def _cache_stem(self, rel: str) -> Path:
        return self.cache_dir / "xsl" / (rel[: -len(".sch")] if rel.endswith(".sch") else rel)

    def _build(self, sch: Path, rel: str) -> _Compiled:
        stem = self._cache_stem(rel)
        xsl_path = stem.with_name(stem.name + f".{self._digest}.xsl")
        meta_path = stem.with_name(stem.name + f".{self._digest}.json")
        report: CompileReport | None = None
        xslt_text: str | None = None
        t0 = time.perf_counter()
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            report = CompileReport(**meta)
            report.from_disk = True
            if any(not Path(f).is_file() for f in report.generated_files):
                report = None  # a synthesized value set was removed: rebuild everything
            elif report.usable:
                xslt_text = xsl_path.read_text(encoding="utf-8")
        except (OSError, ValueError, TypeError):
            report = None
        if report is None:
            try:
                report, xslt_text = self._generate(sch, rel)
            except (OSError, ImportError) as exc:
                report, xslt_text = CompileReport(schematron=rel, error=f"compilation impossible : {exc}"), None
            report.seconds_compile = time.perf_counter() - t0
            if xslt_text is not None:
                _atomic_write(xsl_path, xslt_text)
            stored = asdict(report)
            stored["from_disk"] = False
            _atomic_write(meta_path, json.dumps(stored, indent=1))
        compiled = _Compiled(report=report)
        if report.usable and xslt_text is not None:
            t1 = time.perf_counter()
            docs = None
            if self.engine == "fast":
                try:
                    compiled.plan = self._fast_plan(xsl_path, xslt_text)
                    xslt_text = compiled.plan.xslt
                    docs = _preloaded_docs(compiled.plan.preload)
                except (etree.LxmlError, ValueError, OSError) as exc:  # the official XSLT as is
                    log.warning("fast path unavailable for %s: %s", rel, exc)
                    compiled.plan = None
            try:
                with _saxon_lock:
                    _proc, xslt = _saxon()
                    compiled.executable = xslt.compile_stylesheet(stylesheet_text=xslt_text)
                    if docs is not None:
                        compiled.executable.set_parameter("{urn:segur-conformance:schematron}docs", docs)
            except Exception as exc:  # saxonche raises PySaxonApiError (and sometimes bare errors)
                report.error = f"le XSLT généré ne compile pas : {_saxon_message(exc)}"
                compiled.executable = None
            report.seconds_load = time.perf_counter() - t1
        return compiled

    def _fast_plan(self, xsl_path: Path, xslt_text: str) -> fastsch.FastPlan:
        """The fast-path rewrite of a generated XSLT, kept on disk next to it (keyed by its digest)."""
        digest = hashlib.sha256(xslt_text.encode("utf-8")).hexdigest()[:16]
        base = xsl_path.with_name(xsl_path.name[: -len(".xsl")] + f".fast{fastsch.FAST_VERSION}-{digest}")
        fxsl, fjson = base.with_suffix(base.suffix + ".xsl"), base.with_suffix(base.suffix + ".json")
        try:
            plan = fastsch.FastPlan.from_json(fxsl.read_text(encoding="utf-8"), json.loads(fjson.read_text(encoding="utf-8")))
            if all(p.is_file() for p in plan.preload):
                return plan
        except (OSError, ValueError, KeyError, TypeError):
            pass
        plan = fastsch.plan(xslt_text, confine_to=(self.kit.path, self.cache_dir))
        _atomic_write(fxsl, plan.xslt)
        _atomic_write(fjson, json.dumps(plan.to_json()))
        return plan

    def _generate(self, sch: Path, rel: str) -> tuple[CompileReport, str | None]:
        report = CompileReport(schematron=rel)
        if not sch.is_file():
            report.error = f"schématron introuvable : {rel}"
            return report, None
        fixes = _KitFixes(self.kit, sch, self.cache_dir, report)
        try:
            tree = fixes.load_with_includes(sch)
        except XmlRejected as exc:
            report.error = f"schématron illisible : {exc.reason}"
            return report, None
        if report.missing_includes:
            return report, None
        fixes.fix_literals(tree)
        visit_attrs = _contexts_may_match_attributes(tree)
        text = etree.tostring(tree, encoding="unicode")
        try:
            with _saxon_lock:
                proc, _x = _saxon()
                node = proc.parse_xml(xml_text=text)
                expanded = _tool("expand", _EXPAND_XSL).transform_to_string(xdm_node=node)
                node2 = proc.parse_xml(xml_text=expanded)
                comp = _tool("compile", _COMPILE_XSL)
                comp.set_parameter("base-uri", proc.make_string_value(sch.resolve().as_uri()))
                comp.set_parameter("visit-attributes", proc.make_string_value("true" if visit_attrs else "false"))
                generated = comp.transform_to_string(xdm_node=node2)
                comp.clear_parameters()
        except Exception as exc:
            report.error = f"échec de compilation du schématron : {_saxon_message(exc)}"
            return report, None
        head = generated[:2000]
        m = re.search(r'sc:active-patterns="(\d+)"', head)
        report.active_patterns = int(m.group(1)) if m else 0
        m = re.search(r'sc:dead-rules="(\d+)"', head)
        report.dead_rules = int(m.group(1)) if m else 0
        return report, generated

    def included_schema(self, schematron: Path) -> tuple[str, CompileReport]:
        """The schematron after our include step and path repairs, as text (for other engines).

        The benchmark feeds it to the Java chain, so both chains see the same repaired schema.
        """
        sch = Path(schematron)
        if not sch.is_absolute():
            sch = self.kit.schematron_dir / sch
        report = CompileReport(schematron=self._rel(sch))
        fixes = _KitFixes(self.kit, sch, self.cache_dir, report)
        tree = fixes.load_with_includes(sch)
        fixes.fix_literals(tree)
        return etree.tostring(tree, encoding="unicode"), report

    @staticmethod
    def pipeline_stylesheets() -> tuple[Path, Path]:
        """(abstract-expansion XSLT, compile XSLT): the two Saxon steps after the include step."""
        return _EXPAND_XSL, _COMPILE_XSL

    # -- validation ------------------------------------------------------------------------------

    def validate(self, tree: etree._ElementTree, artefact: str) -> list[Finding]:
        """Run the schematrons selected for ``tree``; findings for every one (never a traceback)."""
        sel = self.select(tree)
        out = [f.with_artefact(artefact) for f in sel.notes]
        out.extend(self.validate_with(tree, artefact, sel.all))
        return out

    def validate_with(
        self, tree: etree._ElementTree, artefact: str, schematrons: Iterable[Path]
    ) -> list[Finding]:
        """Run an explicit list of schematrons (tests and benchmarks choose their own set)."""
        out: list[Finding] = []
        node = None
        tokens = None
        for sch in schematrons:
            name = Path(sch).name
            compiled = self._get(Path(sch))
            rep = compiled.report
            out.extend(self._kit_fix_notes(rep, artefact))
            if not rep.usable or compiled.executable is None:
                out.append(_not_evaluated(rep, artefact))
                continue
            if node is None:
                try:
                    node = _to_xdm(tree)
                except Exception as exc:
                    out.append(_not_evaluated(rep, artefact, f"document illisible par Saxon : {_saxon_message(exc)}"))
                    continue
            if compiled.plan is not None and tokens is None:
                tokens = fastsch.document_tokens(tree)
            try:
                text = _transform(compiled, node, tokens)
                report = svrl_mod.parse_svrl(text or "")
            except XmlRejected as exc:
                out.append(_not_evaluated(rep, artefact, f"rapport SVRL illisible : {exc.reason}"))
                continue
            except Exception as exc:
                out.append(_not_evaluated(rep, artefact, f"erreur d'exécution : {_saxon_message(exc)}"))
                continue
            found = svrl_mod.to_findings(report, schematron=name, artefact=artefact, tree=tree)
            out.extend(found)
            failed = sum(1 for f in found if f.is_error)
            out.append(
                info(
                    f"Schématron {rep.schematron} évalué : {report.fired_rules} règles déclenchées, "
                    f"{failed} erreur(s)",
                    f"Schematron {rep.schematron} evaluated: {report.fired_rules} rules fired, {failed} error(s)",
                    rule=f"{EVALUATED}:{name}",
                    artefact=artefact,
                    expected="0",
                    found=str(failed),
                )
            )
        return out

    def svrl(self, tree: etree._ElementTree, schematron: Path) -> svrl_mod.SvrlReport:
        """The raw SVRL report of one schematron on one document (tests, benchmarks, comparisons).

        Raises ``NotEvaluated`` when the schematron cannot be compiled or run.
        """
        compiled = self._get(Path(schematron))
        rep = compiled.report
        if not rep.usable or compiled.executable is None:
            f = _not_evaluated(rep, "")
            raise NotEvaluated(f.message, f.message_en)
        try:
            return svrl_mod.parse_svrl(self.svrl_text(tree, schematron, _node=_to_xdm(tree)) or "")
        except (XmlRejected, Exception) as exc:
            raise NotEvaluated(
                f"Schématron {rep.schematron} non évalué : {_saxon_message(exc)}",
                f"Schematron {rep.schematron} not evaluated: {_saxon_message(exc)}",
            ) from None

    def svrl_text(self, tree: etree._ElementTree, schematron: Path, *, _node=None) -> str:
        """The SVRL text of one schematron on one document, as the engine wrote it (equivalence tests).

        Raises ``NotEvaluated`` when the schematron cannot be compiled; Saxon errors propagate.
        """
        compiled = self._get(Path(schematron))
        rep = compiled.report
        if not rep.usable or compiled.executable is None:
            f = _not_evaluated(rep, "")
            raise NotEvaluated(f.message, f.message_en)
        node = _node if _node is not None else _to_xdm(tree)
        tokens = fastsch.document_tokens(tree) if compiled.plan is not None else None
        return _transform(compiled, node, tokens) or ""

    def _kit_fix_notes(self, rep: CompileReport, artefact: str) -> list[Finding]:
        """The case-insensitive fixes, said once per runner and schematron (and logged once)."""
        if not rep.case_fixes and not rep.synthesized:
            return []
        with self._warned_lock:
            if rep.schematron in self._warned:
                return []
            self._warned.add(rep.schematron)
        parts = [f"{a} → {b}" for a, b in rep.case_fixes]
        parts += [f"{s} (synthétisé)" for s in rep.synthesized]
        detail = "; ".join(parts)
        log.warning("CI-SIS kit defects worked around in %s: %s", rep.schematron, detail)
        return [
            warning(
                f"Défauts du kit contournés pour {rep.schematron} : chemins résolus sans tenir compte de la "
                f"casse ou fichier reconstitué ({detail})",
                f"Kit defects worked around for {rep.schematron}: paths resolved case-insensitively or "
                f"file rebuilt ({detail})",
                rule=KIT_FIX,
                artefact=artefact,
                found=detail,
            )
        ]


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def _not_evaluated(rep: CompileReport, artefact: str, reason: str = "") -> Finding:
    if not reason:
        if rep.missing_includes:
            reason = "fichiers inclus absents du kit : " + ", ".join(rep.missing_includes[:20])
        else:
            reason = rep.error or "raison inconnue"
    return error(
        f"Schématron {rep.schematron} non évalué : {reason}",
        f"Schematron {rep.schematron} not evaluated: {reason}",
        rule=NOT_EVALUATED,
        artefact=artefact,
        expected="évalué",
        found="non évalué",
    )


def _transform(compiled: _Compiled, node, tokens: frozenset[str] | None) -> str:
    """Apply one compiled schematron; on the fast path, tell it which patterns may fire."""
    with compiled.lock, _saxon_lock:
        exe = compiled.executable
        if compiled.plan is not None and compiled.plan.guards:
            proc, _x = _saxon()
            run = compiled.plan.active(tokens or frozenset())
            exe.set_parameter("{urn:segur-conformance:schematron}run", proc.make_string_value(run))  # type: ignore[attr-defined]
        return exe.transform_to_string(xdm_node=node)  # type: ignore[attr-defined]


_SHM = Path("/dev/shm")


def _to_xdm(tree: etree._ElementTree):
    """The parsed document as a Saxon node (the same node for every schematron of the document).

    SaxonC parses a file about 40 % faster than the same document handed over as a Python string
    (issue 16: ≈ 7.7 ms instead of 10–13 ms for a 64 KB CDA), so the serialised bytes go through a
    private temporary file (in memory when /dev/shm exists); the text path remains the fallback. No
    official schematron reads the source document's base URI.
    """
    data = etree.tostring(tree, encoding="UTF-8", xml_declaration=True)
    path = None
    try:
        fd, path = tempfile.mkstemp(suffix=".xml", prefix="segur-cda-", dir=_SHM if _SHM.is_dir() else None)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        with _saxon_lock:
            proc, _x = _saxon()
            return proc.parse_xml(xml_file_name=path)
    except OSError:
        with _saxon_lock:
            proc, _x = _saxon()
            return proc.parse_xml(xml_text=data.decode("utf-8"))
    finally:
        if path is not None:
            try:
                os.unlink(path)
            except OSError:
                pass


def _is_profile(path: Path, sch_dir: Path) -> bool:
    try:
        return path.relative_to(sch_dir).parts[0].lower() == "profils"
    except (ValueError, IndexError):
        return False


def _doc_template_roots(tree: etree._ElementTree) -> list[tuple[str, str]]:
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


def _contexts_may_match_attributes(tree: etree._ElementTree) -> bool:
    """True when a rule context's last step (outside predicates) may select an attribute."""
    for rule in tree.iter(_SCH + "rule", _SCH + "param"):
        ctx = rule.get("context") if rule.tag == _SCH + "rule" else rule.get("value")
        if not ctx:
            continue
        s = re.sub(r"'[^']*'|\"[^\"]*\"", "''", ctx)
        prev = None
        while prev != s:
            prev, s = s, re.sub(r"\[[^\[\]]*\]", "", s)
        for alt in s.split("|"):
            last = alt.strip().split("/")[-1].strip()
            if last.startswith(("@", "attribute::", "node()")):
                return True
    return False


def _atomic_write(path: Path, text: str) -> None:
    """Write through a temporary file so concurrent workers never read half a file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:  # a read-only cache only costs a recompilation next time
        log.debug("cannot write cache file %s: %s", path, exc)


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
            for root, ext in _doc_template_roots(tree):
                add(root, ext, name, "example")
    return index


def _volet_rule_texts(kit: Kit, sch: Path) -> list[str]:
    """Rule contexts and tests of a volet file and of its own specificationsVolets/ includes."""
    texts: list[str] = []
    try:
        top = parse_file(str(sch), _KIT_LIMITS)
    except (XmlRejected, OSError):
        return texts
    docs = [top]
    for inc in top.getroot().iter(_SCH + "include"):
        href = urllib.parse.unquote((inc.get("href") or "").split("#")[0])
        if "specificationsvolets/" not in href.lower():
            continue
        target = kit.resolve_ci(Path(os.path.normpath(sch.parent / href)))
        if target is None or not target.is_file():
            continue
        try:
            docs.append(parse_file(str(target), _KIT_LIMITS))
        except (XmlRejected, OSError):
            continue
    for doc in docs:
        for rule in doc.getroot().iter(_SCH + "rule"):
            texts.append(rule.get("context") or "")
            for a in rule.iter(_SCH + "assert", _SCH + "report"):
                texts.append(a.get("test") or "")
    return texts


class _KitFixes:
    """Include resolution and path repairs for one schematron (the D1, D2, D3, D4 defects)."""

    def __init__(self, kit: Kit, sch: Path, cache_dir: Path, report: CompileReport) -> None:
        self.kit = kit
        self.top = sch
        self.cache_dir = cache_dir
        self.report = report
        self._parsed: dict[Path, etree._ElementTree] = {}

    def _parse(self, path: Path) -> etree._ElementTree:
        if path not in self._parsed:
            self._parsed[path] = parse_file(str(path), _KIT_LIMITS)
        return self._parsed[path]

    def _in_kit(self, candidate: Path) -> Path | None:
        candidate = Path(os.path.normpath(candidate))
        try:
            candidate.relative_to(self.kit.path)
        except ValueError:
            return None
        return self.kit.resolve_ci(candidate)

    def load_with_includes(self, sch: Path) -> etree._ElementTree:
        tree = self._parse(sch)
        root = self._expand(tree.getroot(), sch.parent, depth=0, stack=(sch,))
        return etree.ElementTree(root)

    def _expand(self, el: etree._Element, base: Path, depth: int, stack: tuple[Path, ...]) -> etree._Element:
        """Copy ``el`` replacing each sch:include by the included element (ISO dsdl include)."""
        copy = etree.Element(el.tag, attrib=dict(el.attrib), nsmap=el.nsmap)
        copy.text = el.text
        copy.tail = el.tail
        for child in el:
            if not isinstance(child.tag, str):
                copy.append(_copy_node(child))
                continue
            if child.tag != _SCH + "include":
                copy.append(self._expand(child, base, depth, stack))
                continue
            for included in self._include(child, base, depth, stack):
                copy.append(included)
        return copy

    def _include(
        self, inc: etree._Element, base: Path, depth: int, stack: tuple[Path, ...]
    ) -> list[etree._Element]:
        href_raw = inc.get("href") or ""
        href, _, fragment = href_raw.partition("#")
        href = urllib.parse.unquote(href)
        written = Path(os.path.normpath(base / href))
        target = self._in_kit(written) if href else None
        rel_written = self.kit.relpath(written)
        if target is None or not target.is_file():
            self.report.missing_includes.append(rel_written)
            return []
        if target != written and not written.exists():
            self.report.case_fixes.append([rel_written, self.kit.relpath(target)])
        if depth >= _MAX_INCLUDE_DEPTH or target in stack:
            self.report.error = f"inclusion cyclique ou trop profonde : {rel_written}"
            return []
        try:
            doc = self._parse(target)
        except XmlRejected as exc:
            self.report.missing_includes.append(f"{rel_written} (illisible : {exc.reason})")
            return []
        root = doc.getroot()
        if fragment:
            picked = [e for e in root.iter() if isinstance(e.tag, str) and fragment in (e.get("id"), e.get("{http://www.w3.org/XML/1998/namespace}id"))]
            picks = picked[:1]
        elif isinstance(root.tag, str) and root.tag.startswith(_SCH):
            picks = [root]
        else:
            picks = [c for c in root if isinstance(c.tag, str) and c.tag.startswith(_SCH)]
        if not picks:
            self.report.missing_includes.append(f"{rel_written} (aucun élément schematron)")
            return []
        out = []
        for pick in picks:
            expanded = self._expand(pick, target.parent, depth + 1, stack + (target,))
            expanded.tail = inc.tail
            out.append(expanded)
        return out

    def fix_literals(self, tree: etree._ElementTree) -> None:
        """Rewrite value-set paths that only work on a case-insensitive disk, or that are missing.

        ``document()``/``doc()`` resolve against the compiled stylesheet, whose base URI is the top
        .sch file; a path that is missing but can be rebuilt (``voc-<oid>-DYNAMIC.xml``) is pointed at
        the copy synthesized in the cache folder.
        """
        base = self.top.parent
        memo: dict[str, str | None] = {}
        for el in tree.iter():
            if not isinstance(el.tag, str):
                continue
            for attr in ("test", "value", "select", "context"):
                val = el.get(attr)
                if not val or (".xml" not in val and ".rdf" not in val):
                    continue
                new = _LITERAL_RE.sub(lambda m: self._fix_one(m, base, memo), val)
                if new != val:
                    el.set(attr, new)

    def _fix_one(self, m: re.Match[str], base: Path, memo: dict[str, str | None]) -> str:
        quote, lit = m.group(1), m.group(2)
        if lit not in memo:
            memo[lit] = self._repair(lit, base)
        repl = memo[lit]
        return m.group(0) if repl is None else f"{quote}{repl}{quote}"

    def _repair(self, lit: str, base: Path) -> str | None:
        if "://" in lit or lit.startswith("/"):
            return None
        written = Path(os.path.normpath(base / lit))
        if written.exists():
            return None
        found = self._in_kit(written)
        if found is not None and found.is_file():
            self.report.case_fixes.append([self.kit.relpath(written), self.kit.relpath(found)])
            return os.path.relpath(found, base).replace(os.sep, "/")
        m = _DYNAMIC_VOC_RE.search(lit)
        if m:
            made = _synthesize_voc(self.kit, m.group(1), self.cache_dir)
            if made is not None:
                self.report.synthesized.append(self.kit.relpath(written))
                self.report.generated_files.append(str(made.resolve()))
                return made.resolve().as_uri()
        rel = self.kit.relpath(written)
        if rel not in self.report.missing_valuesets:
            self.report.missing_valuesets.append(rel)
        return None


def _copy_node(node: etree._Element) -> etree._Element:
    import copy as _copy

    return _copy.deepcopy(node)


_jdv_index_cache: dict[str, dict[str, Path]] = {}
_JDV_ID_RE = re.compile(rb"<(?:\w+:)?ValueSet\b[^>]*?\bid=\"([0-9.]+)\"", re.S)


def _jdv_by_oid(kit: Kit) -> dict[str, Path]:
    """OID → kit value-set file, read from the first bytes of each jeuxDeValeurs/ file."""
    if kit.sha256 in _jdv_index_cache:
        return _jdv_index_cache[kit.sha256]
    index: dict[str, Path] = {}
    for p in sorted(kit.valueset_dir.glob("*.xml")):
        try:
            with open(p, "rb") as fh:
                head = fh.read(4096)
        except OSError:
            continue
        m = _JDV_ID_RE.search(head)
        if m:
            oid = m.group(1).decode()
            # Two files may carry one OID (e.g. a placeholder): keep the larger one.
            if oid not in index or p.stat().st_size > index[oid].stat().st_size:
                index[oid] = p
    _jdv_index_cache[kit.sha256] = index
    return index


def _synthesize_voc(kit: Kit, oid: str, cache_dir: Path) -> Path | None:
    """Build an ART-DECOR ``voc-<oid>-DYNAMIC.xml`` from the kit's IHE SVS value set (defect D4).

    ART-DECOR files are ``valueSets`` (HL7 namespace) holding ``valueSet/conceptList/concept`` in no
    namespace, which is the shape the StrucMin rules read.
    """
    out = cache_dir / "voc" / f"voc-{oid}-DYNAMIC.xml"
    if out.is_file():
        return out
    src = _jdv_by_oid(kit).get(oid)
    if src is None:
        return None
    try:
        svs = parse_file(str(src), _KIT_LIMITS)
    except (XmlRejected, OSError):
        return None
    vs_el = svs.getroot().find(".//{urn:ihe:iti:svs:2008}ValueSet")
    name = vs_el.get("displayName", "") if vs_el is not None else ""
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<valueSets xmlns="{HL7_NS}">',
        f'  <valueSet xmlns="" id={quoteattr(oid)} name={quoteattr(name)} displayName={quoteattr(name)}'
        f' statusCode="final" source={quoteattr("jeuxDeValeurs/" + src.name)}>',
        "    <conceptList>",
    ]
    for c in svs.getroot().iter("{urn:ihe:iti:svs:2008}Concept"):
        attrs = " ".join(f"{a}={quoteattr(c.get(a, ''))}" for a in ("code", "codeSystem", "displayName"))
        lines.append(f'      <concept {attrs} level="0" type="L"/>')
    lines += ["    </conceptList>", "  </valueSet>", "</valueSets>", ""]
    _atomic_write(out, "\n".join(lines))
    return out if out.is_file() else None
