"""Equivalence of the fast schematron path with the official one (issue 16).

Both engines run the same generated XSLT on the same parsed document: the official engine as
``sch_compile.xsl`` wrote it, the fast engine after the rewrites of :mod:`conformance.cda.fastsch`.
Equivalence is byte identity of the SVRL they write (hence the same failed asserts, successful
reports, fired rules and active patterns, in the same order, with the same locations and texts);
when two outputs differ the pair is reported with a normalised summary of the difference.
``tests/test_cda_equivalence.py`` runs it in CI on a representative subset and the mutation set;
``benchmarks/bench_cda_official.py --equivalence`` runs it on every example of the kit.
"""

from __future__ import annotations

import collections
import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from conformance.cda import fastsch, sch_variant
from conformance.cda import svrl as svrl_mod
from conformance.cda.kit import Kit
from conformance.cda.schematron import SchematronRunner, _to_xdm


@dataclass
class PairResult:
    document: str
    schematron: str
    identical: bool
    fired_rules: int = 0
    failed_asserts: int = 0
    successful_reports: int = 0
    skipped_patterns: int = 0
    patterns: int = 0
    detail: str = ""


@dataclass
class EquivalenceReport:
    pairs: list[PairResult] = field(default_factory=list)

    @property
    def differences(self) -> list[PairResult]:
        return [p for p in self.pairs if not p.identical]

    @property
    def documents(self) -> int:
        return len({p.document for p in self.pairs})

    def summary(self) -> str:
        skipped = sum(p.skipped_patterns for p in self.pairs)
        total = sum(p.patterns for p in self.pairs)
        return (
            f"{self.documents} documents, {len(self.pairs)} document×schematron pairs, "
            f"{len(self.differences)} differences; fired rules {sum(p.fired_rules for p in self.pairs)}, "
            f"failed asserts {sum(p.failed_asserts for p in self.pairs)}, successful reports "
            f"{sum(p.successful_reports for p in self.pairs)}; patterns skipped by the fast path "
            f"{skipped}/{total}"
        )


def _run(runner: SchematronRunner, tree: etree._ElementTree, sch: Path, node, whole: bool = False) -> str:
    try:
        return runner.svrl_text(tree, sch, _node=node, whole=whole)
    except Exception as exc:  # both engines must fail alike; the class is what is compared
        return f"<error {exc.__class__.__name__}>"


def _summary(text: str) -> collections.Counter[tuple[str, str, str]]:
    if text.startswith("<error"):
        return collections.Counter({("error", text, ""): 1})
    rep = svrl_mod.parse_svrl(text)
    c: collections.Counter[tuple[str, str, str]] = collections.Counter()
    c[("fired", str(rep.fired_rules), "")] += 1
    c[("patterns", str(rep.active_patterns), "")] += 1
    for r in rep.results:
        c[(r.kind, r.id or r.pattern, r.location)] += 1
    return c


def _diff_excerpt(a: str, b: str, lines: int = 12) -> str:
    split = lambda t: re.sub(r"(<svrl:)", r"\n\1", t).splitlines()  # noqa: E731
    diff = difflib.unified_diff(split(a), split(b), "official", "fast", lineterm="", n=0)
    return "\n".join(line[:300] for line in list(diff)[:lines])


def compare(
    kit: Kit,
    documents: Iterable[tuple[str, etree._ElementTree]],
    cache_dir: Path | None = None,
    *,
    official: SchematronRunner | None = None,
    fast: SchematronRunner | None = None,
) -> EquivalenceReport:
    """Run both engines on each document, on the schematrons the official selection picks."""
    official = official or SchematronRunner(kit, cache_dir, engine="official")
    fast = fast or SchematronRunner(kit, cache_dir, engine="fast")
    out = EquivalenceReport()
    for name, tree in documents:
        node = _to_xdm(tree)
        tokens = fastsch.document_tokens(tree)
        for sch in official.select(tree).all:
            comp = official.compile(sch)
            if not comp.usable:
                continue
            a = _run(official, tree, sch, node)
            with sch_variant.every_document():  # the variant cut to what may run on this document
                b = _run(fast, tree, sch, node)
            whole = _run(fast, tree, sch, node, whole=True)  # and the whole stylesheet, as after MAX_VARIANTS
            plan = fast._get(sch).plan
            pr = PairResult(document=name, schematron=comp.schematron, identical=a == b == whole)
            b = b if b != a else whole  # the detail shows the fast text that differs, if one does
            if plan is not None:
                pr.patterns = len(plan.modes)
                pr.skipped_patterns = len(plan.skipped(tokens))
            if not a.startswith("<error"):
                rep = svrl_mod.parse_svrl(a)
                pr.fired_rules = rep.fired_rules
                pr.failed_asserts = len(rep.failed_asserts)
                pr.successful_reports = len(rep.successful_reports)
            if not pr.identical:
                sa, sb = _summary(a), _summary(b)
                only_a = list((sa - sb).elements())[:5]
                only_b = list((sb - sa).elements())[:5]
                pr.detail = f"official only: {only_a}; fast only: {only_b}" if (only_a or only_b) else "order/text"
                pr.detail += "\n" + _diff_excerpt(a, b)
            out.pairs.append(pr)
    return out
