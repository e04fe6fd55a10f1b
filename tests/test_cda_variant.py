"""Per-document variants of a schematron stylesheet (issue 16, start-up): cut to the patterns that may run
on a document, they give the whole stylesheet's output for that document, and the runner compiles a few
of them, then the whole stylesheet. The kit-wide proof is the equivalence test (each document's variant
and the whole stylesheet against the official engine, ``conformance.cda.equivalence.compare``)."""

from __future__ import annotations

import pytest
from lxml import etree
from test_cda_equivalence import _TINY, _tiny_doc

from conformance.cda import fastsch, sch_variant

RUN = "{urn:segur-conformance:schematron}run"


def _templates(text: str) -> list[str]:
    root = etree.fromstring(text.encode("utf-8"))
    return [f"{t.get('name') or t.get('match')}|{t.get('mode') or ''}"
            for t in root.iter("{http://www.w3.org/1999/XSL/Transform}template")]


def test_a_variant_keeps_what_may_run_and_writes_the_whole_stylesheets_output() -> None:
    saxonche = pytest.importorskip("saxonche")
    plan = fastsch.plan(_TINY)
    proc = saxonche.PySaxonProcessor(license=False)
    xslt = proc.new_xslt30_processor()
    whole = xslt.compile_stylesheet(stylesheet_text=plan.xslt)
    official = xslt.compile_stylesheet(stylesheet_text=_TINY)
    runs = {}
    for roots in ([], ["A"], ["B"], ["A", "B"]):
        tree = _tiny_doc(roots)
        run = runs[tuple(roots)] = plan.active(fastsch.document_tokens(tree))
        cut = sch_variant.variant(plan.xslt, run, 3)
        if run == "111":
            assert cut is None  # nothing to leave out
            continue
        assert cut is not None
        # the rule templates of each pattern that cannot run are gone (and the walk's no-op templates,
        # which the keyed selections no longer reach); the others, and the root, stay
        kept = _templates(cut)
        assert "/|" in kept and "node()|@*|K1 K2 K3" in kept and "cda:x/*[parent::cda:x][@code='1']|K3" in kept
        assert ("*[cda:templateId/@root='A']|K1" in kept) == (run[0] == "1")
        assert ("*[cda:templateId/@root='B']|K2" in kept) == (run[1] == "1")
        assert not any(t.endswith("|M1 M2 M3") for t in kept)
        exe = xslt.compile_stylesheet(stylesheet_text=cut)
        node = proc.parse_xml(xml_text=etree.tostring(tree, encoding="unicode"))
        for e in (exe, whole):
            e.set_parameter(RUN, proc.make_string_value(run))
        out = exe.transform_to_string(xdm_node=node)
        assert out == whole.transform_to_string(xdm_node=node) == official.transform_to_string(xdm_node=node)
    assert runs == {(): "001", ("A",): "101", ("B",): "011", ("A", "B"): "111"}
    # a variant is right for its own value only: the one made for "001" misses the A and B rules
    cut = sch_variant.variant(plan.xslt, "001", 3)
    assert cut is not None
    exe = xslt.compile_stylesheet(stylesheet_text=cut)
    node = proc.parse_xml(xml_text=etree.tostring(_tiny_doc(["A", "B"]), encoding="unicode"))
    for e in (exe, whole):
        e.set_parameter(RUN, proc.make_string_value("111"))
    assert exe.transform_to_string(xdm_node=node).count("fired-rule") < whole.transform_to_string(
        xdm_node=node).count("fired-rule")
    assert sch_variant.variant(plan.xslt, "1x1", 3) is None and sch_variant.variant(plan.xslt, "0" * 9, 3) is None


def test_unreachable_templates_go_and_reachable_ones_stay() -> None:
    """A template whose every mode no remaining apply-templates names is removed; one reached through
    another template (a dispatch mode, ``#current``), a named template and a template of several modes
    of which one is reached stay."""
    xsl = """<xsl:stylesheet xmlns:xsl="http://www.w3.org/1999/XSL/Transform" version="2.0">
<xsl:template match="/"><out>
<xsl:if test="$sc:run = '*' or substring($sc:run, 1, 1) eq '1'"><xsl:apply-templates select="*" mode="K1"/></xsl:if>
<xsl:if test="$sc:run = '*' or substring($sc:run, 2, 1) eq '1'"><xsl:apply-templates select="*" mode="K2"/></xsl:if>
</out></xsl:template>
<xsl:template match="a" mode="K1"><xsl:apply-templates select=".." mode="K1P"/></xsl:template>
<xsl:template match="b" mode="K1P"><xsl:apply-templates select="*" mode="#current"/></xsl:template>
<xsl:template match="c" mode="K2"><xsl:call-template name="shared"/></xsl:template>
<xsl:template match="d" mode="K2 K1"/>
<xsl:template match="e" mode="K2"/>
<xsl:template name="shared"/>
</xsl:stylesheet>"""
    cut = sch_variant.variant(xsl, "10", 2)
    assert cut is not None
    assert _templates(cut) == ["/|", "a|K1", "b|K1P", "d|K2 K1", "shared|"]
    assert sch_variant.variant(xsl, "11", 2) is None


def test_the_runner_compiles_a_few_variants_then_the_whole_stylesheet(monkeypatch) -> None:
    """The first documents with a new ``sc:run`` value each get their variant (compiled once, reused);
    past ``MAX_VARIANTS``, a new value runs the whole stylesheet, compiled then; every output is the
    official one. A value with too few patterns left out runs the whole stylesheet too."""
    pytest.importorskip("saxonche")
    from conformance.cda import sch_run
    from conformance.cda.sch_compile import Compiled, CompileReport
    from conformance.cda.sch_saxon import saxon

    monkeypatch.setattr(sch_variant, "MIN_SKIPPED", 1)
    monkeypatch.setattr(sch_variant, "MAX_VARIANTS", 2)
    plan = fastsch.plan(_TINY)
    proc, xslt = saxon()
    official = xslt.compile_stylesheet(stylesheet_text=_TINY)
    compiled = Compiled(report=CompileReport(schematron="tiny.sch"), plan=plan, variant_text=plan.xslt)
    assert compiled.ready and compiled.executable is None
    steps = []
    for roots in ([], ["A"], [], ["B"], ["A", "B"], ["A"]):
        tree = _tiny_doc(roots)
        node = proc.parse_xml(xml_text=etree.tostring(tree, encoding="unicode"))
        out = sch_run.transform(compiled, node, fastsch.document_tokens(tree))
        assert out == official.transform_to_string(xdm_node=node)
        steps.append((len(compiled.variants), compiled.executable is not None))
    # "001"/"101" get variants; "011" (third value) runs the whole stylesheet, compiled then, and so do
    # all later documents (the variants dropped)
    assert steps == [(1, False), (2, False), (2, False), (0, True), (0, True), (0, True)]


def test_a_named_template_with_modes_keeps_what_it_applies() -> None:
    """A template with both a name and modes, reached by call-template, keeps the templates of the modes
    it applies, whatever guard was removed (independent review: the variant wrote the built-in rule's
    text instead of ``<h/>``)."""
    saxonche = pytest.importorskip("saxonche")
    xsl = """<xsl:stylesheet xmlns:xsl="http://www.w3.org/1999/XSL/Transform" version="2.0"
 xmlns:sc="urn:segur-conformance:schematron" exclude-result-prefixes="sc">
<xsl:param name="sc:run" select="'*'"/>
<xsl:template match="/"><out><xsl:call-template name="helper"/>
<xsl:if test="$sc:run = '*' or substring($sc:run, 1, 1) eq '1'"><xsl:apply-templates select="*" mode="K1"/></xsl:if>
</out></xsl:template>
<xsl:template name="helper" match="x" mode="K1"><xsl:apply-templates select="/*" mode="H"/></xsl:template>
<xsl:template match="r" mode="H"><h/></xsl:template>
</xsl:stylesheet>"""
    cut = sch_variant.variant(xsl, "0", 1)
    assert cut is not None and "r|H" in _templates(cut)
    proc = saxonche.PySaxonProcessor(license=False)
    xslt = proc.new_xslt30_processor()
    node = proc.parse_xml(xml_text="<r>t</r>")
    outs = []
    for text in (xsl, cut):
        exe = xslt.compile_stylesheet(stylesheet_text=text)
        exe.set_parameter("{urn:segur-conformance:schematron}run", proc.make_string_value("0"))
        outs.append(exe.transform_to_string(xdm_node=node))
    assert outs[0] == outs[1] and "<h/>" in outs[0]


@pytest.mark.parametrize("change", [
    ('<xsl:stylesheet ', '<xsl:stylesheet default-mode="K1" '),
    ('mode="K2"/>', 'mode="K2 #default"/>'),
    ('mode="K2"/>', 'mode="p:K2"/>'),
    ('<xsl:template name="shared"/>', '<xsl:template name="shared"/><xsl:mode name="K2"/>'),
])
def test_modes_it_cannot_follow_as_plain_names_give_no_variant(change: tuple[str, str]) -> None:
    """``default-mode``, ``#default``/``#unnamed`` in a template's modes, a prefixed mode name or an
    ``xsl:mode`` declaration: the whole stylesheet runs (independent review: a variant lost output)."""
    xsl = """<xsl:stylesheet xmlns:xsl="http://www.w3.org/1999/XSL/Transform" xmlns:p="urn:p" version="3.0">
<xsl:template match="/"><out>
<xsl:if test="$sc:run = '*' or substring($sc:run, 1, 1) eq '1'"><xsl:apply-templates select="*" mode="K1"/></xsl:if>
<xsl:if test="$sc:run = '*' or substring($sc:run, 2, 1) eq '1'"><xsl:apply-templates select="*" mode="K2"/></xsl:if>
</out></xsl:template>
<xsl:template match="e" mode="K2"/>
<xsl:template name="shared"/>
</xsl:stylesheet>"""
    assert sch_variant.variant(xsl, "10", 2) is not None
    assert sch_variant.variant(xsl.replace(*change, 1), "10", 2) is None
