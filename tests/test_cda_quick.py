"""The quick stylesheet (``sch_quick``): compiled at start-up without its report-writing branches; a
document that reaches one is run again through the full stylesheet, so the SVRL is always the full one.

On a hand-written stylesheet in the generated form (no kit needed), then on the official kit: the
quick variant of StrucMin is what runs on a conforming example, the full one is compiled only when a
mutated example fails an assert, and the SVRL matches the official engine's either way.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from lxml import etree

from conformance.cda import sch_quick

SHARED = Path(os.environ.get("SEGUR_SHARED") or Path(__file__).resolve().parents[2] / "shared")
OFFICIAL = SHARED / "cisis-kit"
H = "{urn:hl7-org:v3}"

_GENERATED = """<xsl:stylesheet xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
 xmlns:svrl="http://purl.oclc.org/dsdl/svrl" version="2.0" exclude-result-prefixes="#all">
<xsl:output method="xml" indent="no" encoding="UTF-8"/>
<xsl:template match="/"><svrl:schematron-output title="t"><svrl:active-pattern id="p"/>
<xsl:apply-templates select="//item" mode="M1"/></svrl:schematron-output></xsl:template>
<xsl:template match="item" priority="1000" mode="M1"><svrl:fired-rule context="item"/>
<xsl:choose><xsl:when test="@code"/><xsl:otherwise>
  <svrl:failed-assert test="@code" location="{name()}[{count(preceding-sibling::item) + 1}]"><svrl:text>code
  obligatoire : <xsl:value-of select="@name"/></svrl:text></svrl:failed-assert>
</xsl:otherwise></xsl:choose>
<xsl:if test="@code = 'X'"><svrl:successful-report test="@code = 'X'"><svrl:text>X</svrl:text></svrl:successful-report></xsl:if>
<xsl:choose><xsl:when test="true()"/><xsl:otherwise><svrl:failed-assert test="1"/><svrl:text>not alone</svrl:text></xsl:otherwise></xsl:choose>
</xsl:template>
</xsl:stylesheet>"""


def test_the_report_branches_become_a_marker_and_nothing_else_changes() -> None:
    q = sch_quick.quick(_GENERATED)
    assert q.branches == 2  # the failed assert and the report; the branch with two children is left as is
    root = etree.fromstring(q.xslt.encode())
    xsl = "{http://www.w3.org/1999/XSL/Transform}"
    assert len(root.findall(f".//{xsl}processing-instruction[@name='sc-fail']")) == 2
    assert q.xslt.count("<svrl:failed-assert") == 1  # the one not alone in its branch is left
    assert "svrl:successful-report" not in q.xslt
    # everything but those two branches is the same
    full = etree.fromstring(_GENERATED.encode())
    assert len(list(root.iter())) < len(list(full.iter()))
    assert [t.get("test") for t in root.iter(xsl + "when", xsl + "if")] == \
        [t.get("test") for t in full.iter(xsl + "when", xsl + "if")]
    # a stylesheet that already writes the marker is not rewritten
    assert sch_quick.quick(_GENERATED.replace('<svrl:active-pattern id="p"/>',
                                              '<xsl:processing-instruction name="sc-fail"/>')).branches == 0


def test_quick_output_is_the_full_output_unless_it_holds_the_marker() -> None:
    saxonche = pytest.importorskip("saxonche")
    proc = saxonche.PySaxonProcessor(license=False)
    xslt = proc.new_xslt30_processor()
    full = xslt.compile_stylesheet(stylesheet_text=_GENERATED)
    quick = xslt.compile_stylesheet(stylesheet_text=sch_quick.quick(_GENERATED).xslt)
    cases = {
        '<r><item code="a"/><item code="b"/></r>': False,
        '<r><item code="a"/><item name="n"/></r>': True,  # a failed assert
        '<r><item code="X"/></r>': True,  # a successful report
        '<r><item code="&lt;?sc-fail?&gt;"/></r>': False,  # the marker's text in the document: escaped
    }
    for doc, fails in cases.items():
        node = proc.parse_xml(xml_text=doc)
        q, f = quick.transform_to_string(xdm_node=node), full.transform_to_string(xdm_node=node)
        assert sch_quick.needs_full(q) is fails, doc
        assert sch_quick.MARKER not in f
        if not fails:
            assert q == f, doc
        else:
            assert q != f and ("failed-assert" in f or "successful-report" in f)


def test_on_the_kit_the_full_stylesheet_is_compiled_only_for_a_failing_document(tmp_path: Path) -> None:
    if not (OFFICIAL / "ExemplesCDA").is_dir():
        pytest.skip(f"kit CI-SIS officiel absent ({OFFICIAL}) / official CI-SIS kit absent; set SEGUR_SHARED")
    pytest.importorskip("saxonche")
    from conformance.cda.kit import Kit
    from conformance.cda.schematron import SchematronRunner
    from conformance.safexml import parse_file

    kit = Kit.open(OFFICIAL)
    # a cache folder of its own: compiled schematrons are shared per process and cache folder
    fast = SchematronRunner(kit, tmp_path / "cache", engine="fast")
    official = SchematronRunner(kit, tmp_path / "cache", engine="official")
    strucmin = kit.schematron_dir / "profils/structurationMinimale/ASIP-STRUCT-MIN-StrucMin.sch"
    compiled = fast._get(strucmin)
    assert compiled.plan is not None and compiled.plan.quick and compiled.full_text is not None
    assert len(compiled.plan.quick) < 0.8 * len(compiled.full_text)

    tree = parse_file(str(OFFICIAL / "ExemplesCDA" / "VSM_1.4_2022.01.xml"))
    good = fast.svrl_text(tree, strucmin)
    assert compiled.full is None  # a conforming document: the quick stylesheet's output is the SVRL
    assert good == official.svrl_text(tree, strucmin)

    tree.getroot().find(H + "realmCode").set("code", "US")  # StrucMin: a realmCode FR is required
    bad = fast.svrl_text(tree, strucmin)
    assert compiled.full is not None  # compiled now, once
    assert sch_quick.MARKER not in bad and "<svrl:failed-assert" in bad
    assert bad == official.svrl_text(tree, strucmin)


def _fake_kit(root: Path, sch: str) -> Path:
    (root / "infrastructure/cda").mkdir(parents=True)
    (root / "infrastructure/cda/CDA_extended.xsd").write_text(
        '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"/>', encoding="utf-8")
    (root / "schematrons").mkdir()
    (root / "schematrons/y.sch").write_text(sch, encoding="utf-8")
    return root


def _verdicts(kit_root: Path, cache: Path, doc: str) -> dict[str, list[tuple[str, str]]]:
    from conformance.cda.kit import Kit
    from conformance.cda.schematron import SchematronRunner

    kit = Kit.open(kit_root)
    tree = etree.ElementTree(etree.fromstring(doc))
    out = {}
    for engine in ("official", "fast"):
        runner = SchematronRunner(kit, cache, engine=engine)
        found = runner.executor.validate_with(tree, "d.xml", [kit.schematron_dir / "y.sch"])
        out[engine] = [(f.rule, f.message_en) for f in found]
    return out


_SCH_HEAD = ('<schema xmlns="http://purl.oclc.org/dsdl/schematron" queryBinding="xslt2">'
             '<ns prefix="cda" uri="urn:hl7-org:v3"/><ns prefix="xs" uri="http://www.w3.org/2001/XMLSchema"/>')


def test_a_static_error_in_a_message_is_not_evaluated_as_officially(tmp_path: Path) -> None:
    """The official engine cannot compile a stylesheet whose assert message names an undeclared
    variable; the quick variant (message dropped) could. It must not: no quick variant is kept, and a
    conforming document is "not evaluated", not "evaluated, 0 errors" (independent review, finding 1)."""
    pytest.importorskip("saxonche")
    kit = _fake_kit(tmp_path / "kit", _SCH_HEAD + '<pattern id="p"><rule context="cda:ClinicalDocument">'
                    '<assert test="cda:realmCode/@code = \'FR\'">FR attendu, trouvé <value-of select="$undeclared"/>'
                    "</assert></rule></pattern></schema>")
    good = '<ClinicalDocument xmlns="urn:hl7-org:v3"><realmCode code="FR"/></ClinicalDocument>'
    verdicts = _verdicts(kit, tmp_path / "cache", good)
    assert [r for r, _m in verdicts["official"]] == ["CDA.SCH.NOT_EVALUATED"]
    assert [r for r, _m in verdicts["fast"]] == ["CDA.SCH.NOT_EVALUATED"]


def test_an_error_raised_in_a_branch_is_the_official_error(tmp_path: Path) -> None:
    """A dynamic error in a message, then another in a later test: the official engine stops at the
    first; so does the fast engine (the quick run's failure sends the document to the full stylesheet)."""
    pytest.importorskip("saxonche")
    kit = _fake_kit(tmp_path / "kit", _SCH_HEAD +
                    '<pattern id="p1"><rule context="cda:realmCode"><assert test="@code = \'FR\'">code '
                    '<value-of select="xs:integer(@code)"/></assert></rule></pattern>'
                    '<pattern id="p2"><rule context="cda:value"><assert test="xs:integer(@v) gt 0">v positif'
                    "</assert></rule></pattern></schema>")
    doc = '<ClinicalDocument xmlns="urn:hl7-org:v3"><realmCode code="US"/><value v="abc"/></ClinicalDocument>'
    verdicts = _verdicts(kit, tmp_path / "cache", doc)
    assert verdicts["fast"] == verdicts["official"]
    assert [r for r, _m in verdicts["fast"]] == ["CDA.SCH.NOT_EVALUATED"]
    assert '"US"' in verdicts["fast"][0][1]
