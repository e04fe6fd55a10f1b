"""``svrl.quiet_report``: an SVRL that reports nothing is counted without a tree (issue 16).

The shortcut must return exactly what ``parse_svrl`` returns, or None. Proven here on hand-written
SVRL in Saxon's writing, plus two character-reference spellings Saxon never writes (each way the shortcut could be wrong: a result, a dead pattern, nesting, a comment, a rebound or
default namespace, an oversized text), on the SVRL that lxml's own ISO Schematron implementation (the
skeleton XSLT by Rick Jelliffe, not ours) writes, and on our engine's SVRL for two of the kit's
examples.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from lxml import etree, isoschematron

from conformance.cda.svrl import parse_svrl, quiet_report
from conformance.safexml import Limits, XmlRejected

DECL = '<?xml version="1.0" encoding="UTF-8"?>'
NS = 'xmlns:svrl="http://purl.oclc.org/dsdl/svrl"'
QUIET = (
    f'{DECL}<svrl:schematron-output {NS} title="Volet &amp; profil &lt;test&gt;" phase="#ALL">'
    '<svrl:active-pattern id="p1" name="Entête"/>'
    '<svrl:fired-rule context="cda:ClinicalDocument"/>'
    '<svrl:fired-rule context="//cda:section[cda:code/@code=\'X\']" id="r2"/>'
    '<svrl:active-pattern/>'
    '<svrl:fired-rule context="/"/>'
    "</svrl:schematron-output>"
)


def _same_or_none(text: str) -> bool:
    quiet = quiet_report(text)
    return quiet is None or quiet == parse_svrl(text)


def test_a_quiet_report_is_counted_as_the_full_parse_counts_it() -> None:
    quiet = quiet_report(QUIET)
    assert quiet is not None
    assert quiet == parse_svrl(QUIET)
    assert (quiet.title, quiet.phase) == ("Volet & profil <test>", "#ALL")
    assert (quiet.active_patterns, quiet.fired_rules, quiet.results) == (2, 3, [])
    # no XML declaration, whitespace between elements: still certain, still the same
    bare = QUIET[len(DECL):].replace("/><", "/>\n  <")
    assert quiet_report(bare) == parse_svrl(bare) == quiet
    # Saxon writes quotes and line ends in attribute values as character references: still certain
    refs = QUIET.replace("cda:section[cda:code/@code=\'X\']", "cda:section[@a=&#34;X&#34;]&#xA;&#9;")
    assert quiet_report(refs) == parse_svrl(refs) == quiet


@pytest.mark.parametrize(
    "why, text",
    [
        ("a failed assert", QUIET.replace(
            "</svrl:schematron-output>",
            '<svrl:failed-assert test="x" location="/"><svrl:text>non</svrl:text></svrl:failed-assert>'
            "</svrl:schematron-output>")),
        ("a successful report", QUIET.replace(
            '<svrl:fired-rule context="/"/>',
            '<svrl:fired-rule context="/"/><svrl:successful-report test="y" location="/"/>')),
        ("a dead-rule pattern (its fired rules do not count)", QUIET.replace(
            "<svrl:active-pattern/>",
            '<svrl:active-pattern xmlns:sc="urn:segur-conformance:schematron" sc:shadow="dead-rule"/>')),
        ("a fired rule nested in a pattern (parse_svrl counts children of the root only)", QUIET.replace(
            '<svrl:active-pattern id="p1" name="Entête"/>',
            '<svrl:active-pattern id="p1"><svrl:fired-rule context="x"/></svrl:active-pattern>')),
        ("a comment that looks like a rule", QUIET.replace(
            "<svrl:active-pattern/>", '<!-- <svrl:fired-rule context="z"/> --><svrl:active-pattern/>')),
        ("CDATA", QUIET.replace("<svrl:active-pattern/>", "<x><![CDATA[<svrl:fired-rule/>]]></x>")),
        ("a processing instruction", QUIET.replace("<svrl:active-pattern/>", "<?pi <svrl:fired-rule/>?>")),
        ("the prefix rebound on a child", QUIET.replace(
            '<svrl:fired-rule context="/"/>', '<svrl:fired-rule xmlns:svrl="urn:other" context="/"/>')),
        ("the SVRL namespace as the default namespace", QUIET.replace(
            '<svrl:fired-rule context="/"/>',
            '<fired-rule xmlns="http://purl.oclc.org/dsdl/svrl" context="/"/>')),
        ("an empty root", f'{DECL}<svrl:schematron-output {NS} title="t"/>'),
        ("a character reference spelling dead-rule (not Saxon's writing)", QUIET.replace(
            "<svrl:active-pattern/>",
            '<svrl:active-pattern xmlns:sc="urn:segur-conformance:schematron" sc:shadow="dead&#45;rule"/>')),
        ("the SVRL namespace spelt with a character reference", QUIET.replace(
            '<svrl:fired-rule context="/"/>',
            '<s:fired-rule xmlns:s="http://purl.oclc.org/dsdl/sv&#114;l" context="/"/>')),
        ("an xml-stylesheet PI first, no declaration (independent review)",
         '<?xml-stylesheet href="<svrl:fired-rule/>"?>' + QUIET[len(DECL):]),
        ("another encoding declared, a non-ASCII title (independent review)",
         QUIET.replace('encoding="UTF-8"', 'encoding="ISO-8859-1"').replace("Volet", "Contrôle")),
        ("another root element", QUIET.replace("svrl:schematron-output", "svrl:schematron-outputs")),
        ("text before the root", "x" + QUIET[len(DECL):]),
    ],
)
def test_anything_it_cannot_be_certain_of_goes_to_the_full_parse(why: str, text: str) -> None:
    assert quiet_report(text) is None, why
    assert _same_or_none(text)


def test_the_same_bounds_as_the_full_parse() -> None:
    limits = Limits()
    many = "<svrl:fired-rule/>" * (limits.node_budget(10**9) + 1)
    huge = QUIET.replace("</svrl:schematron-output>", many + "</svrl:schematron-output>")
    assert quiet_report(huge) is None  # parse_svrl refuses it, with its reason
    # dense within its size (attributes count as nodes too): what the compiled schematrons write
    dense = QUIET.replace("</svrl:schematron-output>", '<svrl:fired-rule context="cda:id" id="r" role="error"/>'
                          * 20000 + "</svrl:schematron-output>")
    with pytest.raises(XmlRejected):
        parse_svrl(dense)
    assert quiet_report(dense) is None


def test_the_svrl_of_lxml_iso_schematron_not_ours() -> None:
    """SVRL written by another implementation (lxml's bundled ISO skeleton), serialised by lxml."""
    schema = etree.XML(
        b'<schema xmlns="http://purl.oclc.org/dsdl/schematron">'
        b'<pattern id="p"><rule context="item"><assert test="@code">code obligatoire</assert></rule>'
        b'<rule context="box"><report test="count(item) &gt; 2">trop</report></rule></pattern></schema>'
    )
    sch = isoschematron.Schematron(schema, store_report=True)
    assert sch.validate(etree.XML(b'<box><item code="a"/><item code="b"/></box>'))
    report = sch.validation_report
    text = etree.tostring(report, encoding="unicode")
    assert "<!--" in text and quiet_report(text) is None  # the skeleton writes a comment: full parse
    for comment in report.xpath("//comment()"):
        comment.getparent().remove(comment)
    text = etree.tostring(report, encoding="unicode")
    quiet = quiet_report(text)
    assert quiet is not None and quiet == parse_svrl(text)
    assert (quiet.active_patterns, quiet.fired_rules) == (1, 3)

    assert not sch.validate(etree.XML(b'<box><item/><item code="b"/><item code="c"/></box>'))
    report = sch.validation_report
    for comment in report.xpath("//comment()"):
        comment.getparent().remove(comment)
    text = etree.tostring(report, encoding="unicode")
    assert quiet_report(text) is None and len(parse_svrl(text).results) == 2


def test_our_engine_on_kit_examples(tmp_path: Path) -> None:
    """Every SVRL our engine writes for two official examples: the shortcut is used, and exact."""
    from conformance.cda.kit import Kit
    from conformance.cda.schematron import SchematronRunner
    from conformance.safexml import parse_file

    shared = Path(os.environ.get("SEGUR_SHARED") or Path(__file__).resolve().parents[2] / "shared")
    kit_path = shared / "cisis-kit"
    if not (kit_path / "ExemplesCDA").is_dir():
        pytest.skip(f"kit CI-SIS officiel absent ({kit_path}) / official CI-SIS kit absent; set SEGUR_SHARED")
    pytest.importorskip("saxonche")
    runner = SchematronRunner(Kit.open(kit_path))
    used = 0
    for name in ("VSM_1.4_2022.01.xml", "DLU-EHPAD-DLU_2022.01.xml"):
        tree = parse_file(kit_path / "ExemplesCDA" / name)
        for sch in runner.select(tree).all:
            text = runner.svrl_text(tree, sch)
            quiet = quiet_report(text)
            if quiet is not None:
                used += 1
                assert quiet == parse_svrl(text), (name, sch)
            else:
                assert parse_svrl(text).results or "dead-rule" in text, (name, sch)
    assert used >= 10  # 12 SVRL, one of which (the VSM volet) reports a failed assert
