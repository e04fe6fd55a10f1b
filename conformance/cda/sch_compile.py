"""Compile and cache the kit's schematrons (the ISO pipeline in SaxonC-HE, no Java).

The ANS chain (specs/baseline.md §2) is: ISO include → abstract-pattern expansion → compile to XSLT 2.
The include step and the kit repairs are :mod:`conformance.cda.sch_kitfix`; abstract expansion uses the
ISO ``iso_abstract_expand.xsl`` (MIT, Rick Jelliffe, shipped unchanged with lxml, copied in
``_schematron_xsl/``); the compile step is our own ``_schematron_xsl/sch_compile.xsl``, which follows the
ISO skeleton's processing model (see its header). Rules that can never fire (D7: same context as an
earlier rule of their pattern) are compiled a second time on their own.

Each schematron is compiled once per process (shared by every runner) and its generated XSLT, its
:class:`CompileReport` and its fast-path rewrite (:mod:`conformance.cda.fastsch`) are kept on disk in the
kit's cache folder, so the next process skips straight to loading them into SaxonC.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import logging
import os
import re
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from lxml import etree

from conformance.cda import fastsch, sch_factor, sch_quick, sch_variant
from conformance.cda.kit import SCH, Kit, write_cache_text
from conformance.cda.sch_kitfix import KitFixes
from conformance.cda.sch_saxon import saxon, saxon_lock, saxon_message, tool
from conformance.safexml import XmlRejected

log = logging.getLogger(__name__)

_XSL_DIR = Path(__file__).with_name("_schematron_xsl")
_EXPAND_XSL = _XSL_DIR / "iso_abstract_expand.xsl"
_COMPILE_XSL = _XSL_DIR / "sch_compile.xsl"
_CODE_VERSION = "4"  # bump when the pipeline changes in a way the XSL digests do not show
ENV_ENGINE = "SEGUR_CDA_ENGINE"  # "official" forces the unmodified generated XSLT (no fast path)


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
class Compiled:
    report: CompileReport
    executable: object | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    plan: fastsch.FastPlan | None = None  # fast path: pattern guards (None: the official XSLT as is)
    docs_loaded: frozenset[Path] = frozenset()  # the files in the executables' sc:docs map
    full_text: str | None = None  # with a quick executable (sch_quick): the full stylesheet, compiled on need
    full: object | None = None  # that full stylesheet, once compiled
    listed: object | None = None  # the sc:listed map (fastsch_docs.listed_entries), set on every executable
    # sch_variant: the stylesheet whose per-document variants are compiled instead of it (until
    # MAX_VARIANTS), the variants by sc:run value, and whether its whole form is still not compiled
    variant_text: str | None = None
    variants: dict[str, object] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        """A document can be run: the stylesheet is compiled, or compiles per document (sch_variant)."""
        return self.executable is not None or self.variant_text is not None

    def executables(self) -> list[object]:
        return [e for e in (self.executable, self.full, *self.variants.values()) if e is not None]


_compiled: dict[tuple[str, ...], Compiled] = {}
_compile_locks: dict[tuple[str, ...], threading.Lock] = {}
_preloaded: dict[str, object] = {}  # absolute path -> Saxon document node, parsed once per process


def _preloaded_docs(paths: list[Path]):  # -> PyXdmMap | None
    """The ``sc:docs`` parameter: code systems and value sets parsed once for the whole process."""
    if not paths:
        return None
    with saxon_lock:
        proc, _x = saxon()
        entries = {}
        for p in paths:
            key = str(p)
            if key not in _preloaded:
                try:
                    _preloaded[key] = proc.parse_xml(xml_file_name=key)
                except Exception as exc:  # unreadable: leave it to the original doc() (same error)
                    log.debug("cannot preload %s: %s", p, saxon_message(exc))
                    _preloaded[key] = None
            node = _preloaded[key]
            if node is not None:
                entries[proc.make_string_value(fastsch.uri_key(p))] = node
        return proc.make_map(entries) if entries else None


DOCS_PARAM = "{urn:segur-conformance:schematron}docs"
LISTED_PARAM = "{urn:segur-conformance:schematron}listed"


def _listed_map(plan: fastsch.FastPlan | None):  # -> PyXdmMap | None
    """The ``sc:listed`` parameter: the folders of the on-demand files, listed now (once per process)."""
    if plan is None or not plan.on_demand:
        return None
    entries = fastsch.listed_entries(sorted({p.parent for p in plan.on_demand}))
    if not entries:
        return None
    with saxon_lock:
        proc, _x = saxon()
        true = proc.make_boolean_value(True)
        return proc.make_map({proc.make_string_value(k): true for k in entries})


@functools.cache
def _saxon_version() -> str:
    """Part of the quick stylesheet's cache key: whether the full one compiles is the engine's say."""
    try:
        return importlib.metadata.version("saxonche")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _compiles(xslt_text: str) -> bool:
    try:
        with saxon_lock:
            _proc, xslt = saxon()
            xslt.compile_stylesheet(stylesheet_text=xslt_text)
        return True
    except Exception:  # saxonche raises PySaxonApiError (and sometimes bare errors)
        return False


def hand_over_docs(compiled: Compiled, wanted: tuple[Path, ...]) -> None:
    """Make sure the files ``wanted`` for a document are in the executable's ``sc:docs`` map.

    The map only grows (parsed once per process, like the eager files): a file it holds that a
    document does not need changes nothing, since ``sc:doc`` gives the document ``doc()`` would.
    Called with the compiled schematron's lock held.
    """
    if not compiled.ready or compiled.docs_loaded.issuperset(wanted):
        return
    loaded = compiled.docs_loaded | frozenset(wanted)
    docs = _preloaded_docs(sorted(loaded))
    if docs is not None:
        with saxon_lock:
            for exe in compiled.executables():
                exe.set_parameter(DOCS_PARAM, docs)  # type: ignore[attr-defined]
    compiled.docs_loaded = loaded


def _set_shared_parameters(compiled: Compiled, exe: object) -> None:
    """The code systems handed over so far and the folder listing, on a newly compiled executable."""
    docs = _preloaded_docs(sorted(compiled.docs_loaded))
    if docs is not None:
        exe.set_parameter(DOCS_PARAM, docs)  # type: ignore[attr-defined]
    if compiled.listed is not None:
        exe.set_parameter(LISTED_PARAM, compiled.listed)  # type: ignore[attr-defined]


def executable_for(compiled: Compiled, run: str | None, *, whole: bool = False) -> object:
    """The executable that runs a document whose ``sc:run`` value is ``run`` (called with the compiled
    schematron's lock held). A stylesheet compiled per document (sch_variant) runs the variant made
    for that value, compiled the first time it is seen, up to ``sch_variant.MAX_VARIANTS`` variants;
    the next value runs the whole stylesheet, compiled then and kept for every later document (the
    variants are dropped). ``whole``: the whole stylesheet in any case (the equivalence test proves
    both)."""
    text = compiled.variant_text
    if text is not None and not whole and run is not None:
        hit = compiled.variants.get(run)
        if hit is not None:
            return hit
        if (compiled.executable is None or sch_variant.every_document_active()) \
                and len(compiled.variants) < sch_variant.max_variants() \
                and sch_variant.skipped_guards(run) >= sch_variant.MIN_SKIPPED:
            cut = sch_variant.variant(text, run, len(compiled.plan.modes) if compiled.plan is not None else -1)
            if cut is not None:
                with saxon_lock:
                    _proc, xslt = saxon()
                    exe = xslt.compile_stylesheet(stylesheet_text=cut)
                    _set_shared_parameters(compiled, exe)
                compiled.variants[run] = exe
                return exe
    if compiled.executable is None:
        if text is None:
            raise ValueError("no stylesheet behind this executable")
        with saxon_lock:
            _proc, xslt = saxon()
            exe = xslt.compile_stylesheet(stylesheet_text=text)
            _set_shared_parameters(compiled, exe)
        compiled.executable = exe
        if not whole:
            # the variants are spent: the whole stylesheet runs every later document, and their memory
            # (≈ 15 MB each on the kit's examples) goes
            compiled.variants.clear()
    return compiled.executable


def full_executable(compiled: Compiled) -> object:
    """The full stylesheet of a schematron run through its quick variant, compiled the first time a
    document needs it (called with the compiled schematron's lock held)."""
    if compiled.full is None:
        if compiled.full_text is None:
            raise ValueError("no full stylesheet behind this executable")
        with saxon_lock:
            _proc, xslt = saxon()
            full = xslt.compile_stylesheet(stylesheet_text=compiled.full_text)
            _set_shared_parameters(compiled, full)
        compiled.full = full
    return compiled.full


def default_engine() -> str:
    """"fast" (default: the proven rewrites of issue 16) or "official" (``SEGUR_CDA_ENGINE=official``)."""
    return "official" if os.environ.get(ENV_ENGINE, "").strip().lower() == "official" else "fast"


class Compiler:
    """Compiles the schematrons of one kit into ``cache_dir`` for one engine ("fast" or "official")."""

    def __init__(self, kit: Kit, cache_dir: Path, engine: str, digest: str) -> None:
        self.kit = kit
        self.cache_dir = cache_dir
        self.engine = engine
        self._digest = digest

    def _rel(self, p: Path) -> str:
        try:
            return p.relative_to(self.kit.schematron_dir).as_posix()
        except ValueError:
            return str(p)

    # -- compilation -----------------------------------------------------------------------------

    def compile(self, schematron: Path) -> CompileReport:
        """Compile (or fetch from memory/disk) one schematron; never raises for kit problems."""
        return self.get(schematron).report

    def get(self, schematron: Path) -> Compiled:
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

    def _build(self, sch: Path, rel: str) -> Compiled:
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
            except OSError as exc:
                report, xslt_text = CompileReport(schematron=rel, error=f"compilation impossible : {exc}"), None
            report.seconds_compile = time.perf_counter() - t0
            if xslt_text is not None:
                write_cache_text(xsl_path, xslt_text)
            stored = asdict(report)
            stored["from_disk"] = False
            write_cache_text(meta_path, json.dumps(stored, indent=1))
        compiled = Compiled(report=report)
        if report.usable and xslt_text is not None:
            t1 = time.perf_counter()
            docs = None
            if self.engine == "fast":
                try:
                    compiled.plan = self._fast_plan(xsl_path, xslt_text)
                    xslt_text = compiled.plan.xslt
                    docs = _preloaded_docs(list(compiled.plan.eager()))
                    compiled.docs_loaded = frozenset(compiled.plan.eager())
                    compiled.listed = _listed_map(compiled.plan)
                except (etree.LxmlError, ValueError, OSError) as exc:  # the official XSLT as is
                    log.warning("fast path unavailable for %s: %s", rel, exc)
                    compiled.plan = None
            if compiled.plan is not None and compiled.plan.quick:
                compiled.full_text, xslt_text = xslt_text, compiled.plan.quick
                # (a quick stylesheet exists only when the full one compiled, _fast_plan)
                if sch_variant.enabled() and len(compiled.plan.guards) >= sch_variant.MIN_GUARDED:
                    compiled.variant_text = xslt_text  # compiled per document, cut to what can run
                    report.seconds_load = time.perf_counter() - t1
                    return compiled
            try:
                with saxon_lock:
                    _proc, xslt = saxon()
                    exe = xslt.compile_stylesheet(stylesheet_text=xslt_text)
                    if docs is not None:
                        exe.set_parameter(DOCS_PARAM, docs)
                    if compiled.listed is not None:
                        exe.set_parameter(LISTED_PARAM, compiled.listed)
                    compiled.executable = exe
            except Exception as exc:  # saxonche raises PySaxonApiError (and sometimes bare errors)
                report.error = f"le XSLT généré ne compile pas : {saxon_message(exc)}"
                compiled.executable = None
            report.seconds_load = time.perf_counter() - t1
        return compiled

    def _fast_plan(self, xsl_path: Path, xslt_text: str) -> fastsch.FastPlan:
        """The fast-path rewrite of a generated XSLT, kept on disk next to it (keyed by its digest).

        The folders the preload is confined to are part of the key: the cache is shared by every
        path of the same kit, and a plan made for another path would preload nothing (terminologie
        then re-parses its code systems on every document: 190 ms instead of 3).
        """
        confine = (self.kit.path, self.cache_dir)
        factored = sch_factor.enabled()
        keyed = xslt_text + "\0" + "\0".join(str(Path(r).resolve()) for r in confine)
        if factored:  # shared assert bodies (sch_factor): another stylesheet, another cache entry
            keyed += "\0factor" + sch_factor.FACTOR_VERSION
        digest = hashlib.sha256(keyed.encode("utf-8")).hexdigest()[:16]
        base = xsl_path.with_name(xsl_path.name[: -len(".xsl")] + f".fast{fastsch.FAST_VERSION}-{digest}")
        fxsl, fjson = base.with_suffix(base.suffix + ".xsl"), base.with_suffix(base.suffix + ".json")
        fquick = base.with_suffix(base.suffix + f".quick{sch_quick.QUICK_VERSION}-{_saxon_version()}.xsl")
        plan: fastsch.FastPlan | None = None
        try:
            plan = fastsch.FastPlan.from_json(fxsl.read_text(encoding="utf-8"), json.loads(fjson.read_text(encoding="utf-8")))
            if not all(p.is_file() for p in plan.preload):
                plan = None
        except (OSError, ValueError, KeyError, TypeError):
            plan = None
        if plan is None:
            plan = fastsch.plan(xslt_text, confine_to=confine)
            if factored:
                plan.xslt = sch_factor.factor(plan.xslt)[0]
            write_cache_text(fxsl, plan.xslt)
            write_cache_text(fjson, json.dumps(plan.to_json()))
        if sch_quick.enabled():
            try:
                plan.quick = fquick.read_text(encoding="utf-8")
            except OSError:
                q = sch_quick.quick(plan.xslt)
                plan.quick = q.xslt if q.branches else ""
                if plan.quick and not _compiles(plan.xslt):
                    # a static error in a report branch (say, an undeclared variable in a message): the
                    # official engine cannot compile the stylesheet, nor may we — no quick variant, so
                    # start-up compiles the full one and every document is "not evaluated", as officially
                    plan.quick = ""
                write_cache_text(fquick, plan.quick)
        return plan

    def _generate(self, sch: Path, rel: str) -> tuple[CompileReport, str | None]:
        report = CompileReport(schematron=rel)
        if not sch.is_file():
            report.error = f"schématron introuvable : {rel}"
            return report, None
        fixes = KitFixes(self.kit, sch, self.cache_dir, report)
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
            with saxon_lock:
                proc, _x = saxon()
                node = proc.parse_xml(xml_text=text)
                expanded = tool("expand", _EXPAND_XSL).transform_to_string(xdm_node=node)
                node2 = proc.parse_xml(xml_text=expanded)
                comp = tool("compile", _COMPILE_XSL)
                comp.set_parameter("base-uri", proc.make_string_value(sch.resolve().as_uri()))
                comp.set_parameter("visit-attributes", proc.make_string_value("true" if visit_attrs else "false"))
                generated = comp.transform_to_string(xdm_node=node2)
                comp.clear_parameters()
        except Exception as exc:
            report.error = f"échec de compilation du schématron : {saxon_message(exc)}"
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
        fixes = KitFixes(self.kit, sch, self.cache_dir, report)
        tree = fixes.load_with_includes(sch)
        fixes.fix_literals(tree)
        return etree.tostring(tree, encoding="unicode"), report

    @staticmethod
    def pipeline_stylesheets() -> tuple[Path, Path]:
        """(abstract-expansion XSLT, compile XSLT): the two Saxon steps after the include step."""
        return _EXPAND_XSL, _COMPILE_XSL


def _contexts_may_match_attributes(tree: etree._ElementTree) -> bool:
    """True when a rule context's last step (outside predicates) may select an attribute."""
    for rule in tree.iter(SCH + "rule", SCH + "param"):
        ctx = rule.get("context") if rule.tag == SCH + "rule" else rule.get("value")
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
