"""Shared assert bodies (conformance/cda/sch_factor.py, issue 16 memory): same output, less code.

The kit-wide proof (byte-identical SVRL against the unmodified XSLT on the kit's examples and the
mutations) is tests/test_cda_equivalence.py, which runs the fast engine with this rewrite on.
"""

from __future__ import annotations

import pytest
from lxml import etree

from conformance.cda import sch_factor

XSL = "http://www.w3.org/1999/XSL/Transform"

ASSERT = (
    '<xsl:choose><xsl:when test="@value"/><xsl:otherwise><svrl:failed-assert test="@value" '
    'location="{{name()}}"><svrl:text>{msg} <xsl:value-of select="{sel}"/></svrl:text>'
    "</svrl:failed-assert></xsl:otherwise></xsl:choose>"
)


def _stylesheet(extra_rule: str = "") -> str:
    shared = ASSERT.format(msg="no value", sel="$lang")
    other = ASSERT.format(msg="still no value", sel="position()")
    return f"""<xsl:stylesheet xmlns:xsl="{XSL}" xmlns:sc="urn:segur-conformance:schematron" xmlns:svrl="http://purl.oclc.org/dsdl/svrl" version="2.0"
 exclude-result-prefixes="#all">
<xsl:param name="lang" select="'global'"/>
<xsl:template match="/"><svrl:schematron-output><xsl:apply-templates select="//*" mode="M"/>
</svrl:schematron-output></xsl:template>
<xsl:template match="a" priority="3" mode="M"><svrl:fired-rule context="a"/>
<xsl:variable name="lang" select="concat('from-', local-name())"/>{shared}{other}</xsl:template>
<xsl:template match="b" priority="2" mode="M"><svrl:fired-rule context="b"/>
<xsl:variable name="lang" select="concat('from-b-', local-name())"/>{shared}
<xsl:if test="true()">{other}</xsl:if>{other}</xsl:template>
<xsl:template match="c" priority="1" mode="M"><svrl:fired-rule context="c"/>{shared}{other}</xsl:template>
{extra_rule}
<xsl:template match="text()" mode="M"/>
</xsl:stylesheet>"""


DOC = "<r><a/><b/><c/><a value='1'/><b/></r>"


def _run(xslt_text: str, doc: str = DOC) -> str:
    saxonche = pytest.importorskip("saxonche")
    proc = saxonche.PySaxonProcessor(license=False)
    exe = proc.new_xslt30_processor().compile_stylesheet(stylesheet_text=xslt_text)
    return exe.transform_to_string(xdm_node=proc.parse_xml(xml_text=doc))


def test_repeated_blocks_become_calls_with_the_same_output() -> None:
    text = _stylesheet()
    out, replaced, named = sch_factor.factor(text)
    root = etree.fromstring(out.encode())
    calls = root.findall(f".//{{{XSL}}}call-template")
    # 'other' 3 times at template level (the copy inside b's xsl:if is part of that unique block);
    # 'shared' 3 times but with two parameter sets ($lang is a template variable in a and b, the global
    # parameter in c): the lone copy of c stays inline
    assert replaced == len(calls) == 5
    assert named == 2
    assert {p.get("name") for p in root.findall(f".//{{{XSL}}}with-param")} == {"lang"}
    before, after = _run(text), _run(out)
    assert "from-a" in before and "from-b-b" in before and "global" in before
    assert after == before


def test_a_repeated_run_of_adjacent_blocks_is_one_call() -> None:
    shared = ASSERT.format(msg="no value", sel="$lang")
    other = ASSERT.format(msg="still no value", sel="position()")
    # d repeats a's whole run (shared, other) with its own $lang; text between blocks breaks a run (f)
    extra = (
        f'<xsl:template match="d" priority="0.5" mode="M"><svrl:fired-rule context="d"/>'
        f"<xsl:variable name=\"lang\" select=\"concat('from-', local-name())\"/>\n  {shared}\n  {other}</xsl:template>"
        f'<xsl:template match="f" priority="0.4" mode="M"><xsl:variable name="lang" select="1"/>'
        f"{shared}<svrl:text>between</svrl:text>{other}</xsl:template>"
    )
    text = _stylesheet(extra)
    doc = "<r><a/><b/><c/><d/><f/><d value='1'/><a/></r>"
    out, replaced, named = sch_factor.factor(text)
    root = etree.fromstring(out.encode())
    run_calls = [c for t in root.findall(f"{{{XSL}}}template[@match]") if t.get("match") in ("a", "d")
                 for c in t.findall(f"{{{XSL}}}call-template")]
    assert len(run_calls) == 2 and run_calls[0].get("name") == run_calls[1].get("name")
    run = root.find(f"{{{XSL}}}template[@name='{run_calls[0].get('name')}']")
    assert run is not None and [p.get("name") for p in run.findall(f"{{{XSL}}}param")] == ["lang"]
    assert len(run.findall(f"{{{XSL}}}choose")) == 2
    f = root.find(f"{{{XSL}}}template[@match='f']")
    assert f is not None and len(f.findall(f"{{{XSL}}}call-template")) == 2
    # a, d: 2 blocks each in one call; b: shared and other; c: other (c's shared has no $lang: unique); f: 2
    assert replaced == 9 and len(root.findall(f".//{{{XSL}}}call-template")) == 7 and named == 3
    single, replaced_single, _ = sch_factor.factor(text, runs=False)
    assert replaced_single == replaced == single.count("<xsl:call-template ")
    before = _run(text, doc)
    assert "from-a" in before and "from-d" in before and "between" in before
    assert _run(out, doc) == before == _run(single, doc)


def test_a_variable_bound_to_a_string_literal_is_declared_again_not_passed() -> None:
    """A literal stays a constant in the shared template (Saxon compiles a literal regex once); blocks
    that saw different literals, or a computed value, do not share a template."""
    check = ('<xsl:choose><xsl:when test="matches(local-name(), $pattern)"/><xsl:otherwise>'
             '<svrl:failed-assert test="matches(local-name(), $pattern)"><svrl:text>'
             '<xsl:value-of select="$pattern"/></svrl:text></svrl:failed-assert></xsl:otherwise></xsl:choose>')
    lit = "<xsl:variable name=\"pattern\" select=\"'^[ab]$'\"/>"
    rules = "".join(
        f'<xsl:template match="{name}" priority="{prio}" mode="M"><svrl:fired-rule context="{name}"/>{var}{check}</xsl:template>'
        for name, prio, var in [
            ("a", 9, lit), ("b", 8, lit), ("c", 7, lit),
            ("d", 6, "<xsl:variable name=\"pattern\" select=\"'^[xy]$'\"/>"),
            ("e", 5, "<xsl:variable name=\"pattern\" select=\"concat('^', 'e', '$')\"/>"),
            ("f", 4, "<xsl:variable name=\"pattern\" select=\"concat('^', 'e', '$')\"/>"),
        ])
    text = _stylesheet(rules)
    out, _replaced, _named = sch_factor.factor(text)
    root = etree.fromstring(out.encode())
    calls = {t.get("match"): t.find(f"{{{XSL}}}call-template") for t in root.findall(f"{{{XSL}}}template[@match]")}
    assert calls["a"] is not None and calls["b"] is not None and calls["c"] is not None
    assert calls["a"].get("name") == calls["b"].get("name") == calls["c"].get("name")
    assert calls["a"].find(f"{{{XSL}}}with-param") is None  # nothing passed: declared in the template
    shared = root.find(f"{{{XSL}}}template[@name='{calls['a'].get('name')}']")
    assert shared is not None and shared.find(f"{{{XSL}}}param") is None
    assert [(v.get("name"), v.get("select")) for v in shared.findall(f"{{{XSL}}}variable")] == [("pattern", "'^[ab]$'")]
    assert calls["d"] is None  # its own literal: alone, inline
    assert calls["e"] is not None and calls["e"].get("name") == calls["f"].get("name")
    assert [p.get("name") for p in calls["e"].findall(f"{{{XSL}}}with-param")] == ["pattern"]
    doc = "<r><a/><b/><c/><d/><e/><f/><a value='x'/></r>"
    before = _run(text, doc)
    assert before.count("failed-assert") > 3 and "^[xy]$" in before and "^e$" in before
    assert _run(out, doc) == before


def test_nothing_repeated_leaves_the_text_unchanged() -> None:
    text = f'<xsl:stylesheet xmlns:xsl="{XSL}" version="2.0"><xsl:template match="/"><x/></xsl:template></xsl:stylesheet>'
    assert sch_factor.factor(text) == (text, 0, 0)
    # repeated blocks but no sc: prefix to name the shared templates with: left as is
    no_prefix = _stylesheet().replace(' xmlns:sc="urn:segur-conformance:schematron"', "")
    assert sch_factor.factor(no_prefix) == (no_prefix, 0, 0)


def test_blocks_that_apply_templates_and_templates_with_own_context_stay_inline() -> None:
    applying = '<xsl:if test="true()"><xsl:apply-templates select="*" mode="M"/></xsl:if>'
    extra = (
        f'<xsl:template match="d" mode="M">{applying}{applying}</xsl:template>'
        f'<xsl:template match="e" mode="M" xpath-default-namespace="urn:x">{ASSERT.format(msg="e", sel="1")}'
        f'{ASSERT.format(msg="e", sel="1")}</xsl:template>'
    )
    out, _replaced, _named = sch_factor.factor(_stylesheet(extra))
    root = etree.fromstring(out.encode())
    d = root.find(f"{{{XSL}}}template[@match='d']")
    e = root.find(f"{{{XSL}}}template[@match='e']")
    assert d is not None and e is not None
    assert d.find(f"{{{XSL}}}call-template") is None and len(d.findall(f"{{{XSL}}}if")) == 2
    assert e.find(f"{{{XSL}}}call-template") is None and len(e.findall(f"{{{XSL}}}choose")) == 2


def test_switch_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(sch_factor.ENV_FACTOR, "0")
    assert not sch_factor.enabled()
    monkeypatch.delenv(sch_factor.ENV_FACTOR)
    assert sch_factor.enabled()
