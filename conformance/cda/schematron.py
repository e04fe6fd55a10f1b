"""CDA layer 2: the official CI-SIS schematrons, compiled and run in-process without Java.

The ANS chain (specs/baseline.md §2) is: ISO include → abstract-pattern expansion → compile to XSLT 2
→ apply to the document → SVRL, with one JVM per step and per document. Here the same steps run in
SaxonC-HE (``saxonche``), each schematron is compiled once per process (and its generated XSLT kept on
disk, so the next process skips straight to loading it), and a parsed document is reused for every
schematron. The verdicts are the official ones; the defects of the published kit are handled
explicitly and visibly (D1–D4, D6 in :mod:`~conformance.cda.sch_kitfix`; D7, rules that can never
fire, are compiled a second time on their own and reported as WARNING ``CDA.SCH.DEAD_RULE`` findings,
outside the official verdict).

This module is the entry point (:class:`SchematronRunner`); each job has its own module:

* :mod:`~conformance.cda.sch_select` — which schematrons apply to a document (volet, profiles);
* :mod:`~conformance.cda.sch_compile` — compile + cache (memory and disk);
* :mod:`~conformance.cda.sch_kitfix` — kit repair (includes, value-set paths, synthesized vocabulary);
* :mod:`~conformance.cda.sch_run` — run (transform, SVRL → findings);
* :mod:`~conformance.cda.sch_saxon` — the process's one SaxonC processor.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from lxml import etree

from conformance.cda import svrl as svrl_mod
from conformance.cda.kit import HL7_NS, SCH_NS, Kit, default_cache_root
from conformance.cda.sch_compile import (
    ENV_ENGINE,
    Compiled,
    Compiler,
    CompileReport,
    _compiled,
    compiler_digest,
    default_engine,
)
from conformance.cda.sch_kitfix import KitFixes
from conformance.cda.sch_run import (
    DEAD_RULE_PREFIX,
    EVALUATED,
    KIT_FIX,
    NOT_EVALUATED,
    Executor,
    to_xdm,
)
from conformance.cda.sch_saxon import saxon
from conformance.cda.sch_select import (
    NO_VOLET,
    PI_IGNORED,
    PI_NARROWED,
    STANDARD_PROFILES,
    VOLET_VERSION,
    Selection,
    VoletEntry,
    VoletSelector,
)
from conformance.findings import Finding

# Names kept for the callers of the single-module version (equivalence, benchmarks).
_to_xdm = to_xdm
_saxon = saxon
_KitFixes = KitFixes

__all__ = [
    "DEAD_RULE_PREFIX",
    "ENV_ENGINE",
    "EVALUATED",
    "HL7_NS",
    "KIT_FIX",
    "NOT_EVALUATED",
    "NO_VOLET",
    "PI_IGNORED",
    "PI_NARROWED",
    "SCH_NS",
    "STANDARD_PROFILES",
    "VOLET_VERSION",
    "CompileReport",
    "Compiled",
    "SchematronRunner",
    "Selection",
    "VoletEntry",
    "_compiled",
    "compiler_digest",
    "default_engine",
]


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
        self.selector = VoletSelector(kit, self.cache_dir, self._digest)
        self.compiler = Compiler(kit, self.cache_dir, self.engine, self._digest)
        self.executor = Executor(self.compiler)

    # -- selection (sch_select) ------------------------------------------------------------------

    def schematrons_for(self, tree: etree._ElementTree) -> list[Path]:
        """Volet schematrons (from PIs, else from templateIds) then cross-volet profiles."""
        return self.select(tree).all

    def select(self, tree: etree._ElementTree) -> Selection:
        return self.selector.select(tree)

    def volet_index(self) -> dict[str, list[VoletEntry]]:
        """templateId root → volet schematrons asserting it, scanned once per kit (and cached)."""
        return self.selector.volet_index()

    # -- compilation (sch_compile) ---------------------------------------------------------------

    def compile(self, schematron: Path) -> CompileReport:
        """Compile (or fetch from memory/disk) one schematron; never raises for kit problems."""
        return self.compiler.compile(schematron)

    def _get(self, schematron: Path) -> Compiled:
        return self.compiler.get(schematron)

    def xslt_path(self, schematron: Path) -> Path | None:
        """The generated (official, unmodified) XSLT of a schematron on disk; None when unusable."""
        return self.compiler.xslt_path(schematron)

    def included_schema(self, schematron: Path) -> tuple[str, CompileReport]:
        """The schematron after our include step and path repairs, as text (for other engines)."""
        return self.compiler.included_schema(schematron)

    @staticmethod
    def pipeline_stylesheets() -> tuple[Path, Path]:
        """(abstract-expansion XSLT, compile XSLT): the two Saxon steps after the include step."""
        return Compiler.pipeline_stylesheets()

    # -- validation (sch_run) --------------------------------------------------------------------

    def validate(self, tree: etree._ElementTree, artefact: str, source: bytes | None = None) -> list[Finding]:
        """Run the schematrons selected for ``tree``; findings for every one (never a traceback).

        ``source``: the bytes ``tree`` was parsed from by :mod:`conformance.safexml`, unchanged since
        (optional; saves serialising the tree for Saxon, see :func:`sch_run.to_xdm`)."""
        sel = self.select(tree)
        out = [f.with_artefact(artefact) for f in sel.notes]
        out.extend(self.validate_with(tree, artefact, sel.all, source))
        return out

    def validate_with(
        self, tree: etree._ElementTree, artefact: str, schematrons: Iterable[Path], source: bytes | None = None
    ) -> list[Finding]:
        """Run an explicit list of schematrons (tests and benchmarks choose their own set)."""
        return self.executor.validate_with(tree, artefact, schematrons, source)

    def svrl(self, tree: etree._ElementTree, schematron: Path) -> svrl_mod.SvrlReport:
        """The raw SVRL report of one schematron on one document (``NotEvaluated`` when it cannot run)."""
        return self.executor.svrl(tree, schematron)

    def svrl_text(self, tree: etree._ElementTree, schematron: Path, *, _node=None, whole: bool = False) -> str:
        """The SVRL text of one schematron on one document, as the engine wrote it (equivalence tests;
        ``whole``: through the whole stylesheet even where a per-document variant would run)."""
        return self.executor.svrl_text(tree, schematron, _node=_node, whole=whole)
