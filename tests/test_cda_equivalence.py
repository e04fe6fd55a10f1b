"""The fast schematron path gives the official engine's SVRL byte for byte (issue 16).

Two parts:
* the static analysis the fast path relies on (no kit needed): which rule contexts can be proven not
  to match a document, and which match patterns may take a parent-name test first;
* on the official kit (skips without ../shared): the fast engine and the official engine (same
  generated XSLT, unmodified) on a fixed representative subset of the kit's examples — one document
  per kind of content the profiles treat differently — and on every mutation of
  tests/test_cda_mutations.py. The full set (every example of the kit and of examples-extra/, plus the
  mutations: 141 documents, 832 pairs, 0 differences when last measured) is run by
  ``python benchmarks/bench_cda_official.py --equivalence``, too slow for CI on 2 shared cores.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from lxml import etree

from conformance.cda import fastsch

SHARED = Path(os.environ.get("SEGUR_SHARED") or Path(__file__).resolve().parents[2] / "shared")
OFFICIAL = SHARED / "cisis-kit"
NS = {"cda": "urn:hl7-org:v3", "hl7": "urn:hl7-org:v3", "xsi": "http://www.w3.org/2001/XMLSchema-instance"}
H = "{urn:hl7-org:v3}"


# ---------------------------------------------------------------------------------------------
# Static analysis (always runs)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        ("*[cda:templateId/@root = '1.2.3']", [{"a:root=1.2.3", f"e:{{{NS['cda']}}}templateId"}]),
        ('*[cda:templateId/@root="1.2.3"]', [{"a:root=1.2.3", f"e:{{{NS['cda']}}}templateId"}]),
        (
            "cda:section[cda:templateId/@root='A']/cda:entry/cda:act[cda:templateId/@root='B']",
            [{"a:root=A", "a:root=B", f"e:{H}section", f"e:{H}entry", f"e:{H}act", f"e:{H}templateId"}],
        ),
        ("cda:templateId[@root='X' and @extension='Y']", [{f"e:{H}templateId", "a:root=X", "a:extension=Y"}]),
        # union: one token set per alternative
        ("cda:a[@code='1'] | cda:b", [{f"e:{H}a", "a:code=1"}, {f"e:{H}b"}]),
        # or / not / functions / variables: no attribute requirement from that predicate
        ("*[@root='A' or @root='B']", [set()]),
        ("*[not(cda:templateId/@root='A')]", [set()]),
        ("*[cda:templateId/@root=$v]", [set()]),
        ("*[contains(@root, 'A')]", [set()]),
        ("/", [set()]),
        ("//hl7:code", [{f"e:{H}code"}]),
        ("cda:x[1]", [{f"e:{H}x"}]),
        ("ancestor::cda:x", [set()]),
        # a string literal containing "and" / "|" does not split anything
        ("*[@displayName='a and b | c']", [{"a:displayName=a and b | c"}]),
    ],
)
def test_context_requirements(context: str, expected: list[set[str]]) -> None:
    assert [set(alt) for alt in fastsch.context_requirements(context, NS)] == expected


def test_document_tokens_cover_elements_and_unqualified_attributes() -> None:
    tree = etree.ElementTree(etree.fromstring(
        '<ClinicalDocument xmlns="urn:hl7-org:v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        '<templateId root="1.2"/><!-- a comment --><?pi x?><value xsi:type="CD" code="x"/>'
        '<plain xmlns="" a="1"/></ClinicalDocument>'
    ))
    toks = fastsch.document_tokens(tree)
    assert toks == {f"e:{H}ClinicalDocument", f"e:{H}templateId", f"e:{H}value", "e:{}plain",
                    "a:root=1.2", "a:code=x", "a:a=1"}  # no token for the comment, the PI, xsi:type


@pytest.mark.parametrize(
    ("match", "expected"),
    [
        ("//h:a[h:b]/h:c/*[not(@xsi:nil = 'true')][not(self::h:d | self::h:e)]",
         "//h:a[h:b]/h:c/*[parent::h:c][not(@xsi:nil = 'true')][not(self::h:d | self::h:e)]"),
        ("h:c/*[@code = '1']", "h:c/*[parent::h:c][@code = '1']"),
        ("h:c/*[1]", None),  # positional: a new first predicate would change position()
        ("h:c/*[position() = 1]", None),
        ("h:c/*[last()]", None),
        ("h:c/*[$n]", None),
        ("h:c/*", None),  # nothing to reorder
        ("*[h:templateId/@root = '1']", None),  # no parent step
        ("h:a/h:c", None),  # named final step: Saxon indexes it already
        ("h:a/* | h:b/*[@x = '1']", None),  # unions are left alone
    ],
)
def test_parent_first(match: str, expected: str | None) -> None:
    assert fastsch.parent_first(match) == expected


@pytest.mark.parametrize(
    ("match", "expected"),
    [
        ("*[cda:templateId/@root='1.2']", {"1.2"}),
        ("cda:section[cda:templateId/@root = \"1.2\" and cda:code/@code='x']", {"1.2"}),
        ("*[cda:templateId/@root='1'] | cda:act[cda:templateId/@root='2']", {"1", "2"}),
        ("cda:section[cda:templateId/@root='1']/cda:entry", None),  # final step does not need it
        ("*[cda:templateId/@root='1' or cda:templateId/@root='2']", None),
        ("*[not(cda:templateId/@root='1')]", None),
        ("*[x:templateId/@root='1']", None),  # another namespace
        ("*[cda:templateId/@root='1'] | cda:b", None),
    ],
)
def test_template_id_roots(match: str, expected: set[str] | None) -> None:
    assert fastsch.template_id_roots(match, {**NS, "x": "urn:other"}) == expected


def test_plan_cache_key_covers_every_fast_path_module() -> None:
    """The fast path is split into fastsch_*.py modules: a stored plan must be keyed by all their code."""
    import hashlib
    import sys

    loaded = {Path(m.__file__).resolve() for name, m in sys.modules.items()
              if name.startswith("conformance.cda.fastsch") and getattr(m, "__file__", None)}
    covered = {p.resolve() for p in fastsch.FASTSCH_MODULES}
    assert len(loaded) >= 5 and loaded <= covered
    h = hashlib.sha256()
    for p in fastsch.FASTSCH_MODULES:
        h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    assert fastsch.FAST_VERSION.endswith("-" + h.hexdigest()[:10])


def _skeleton(patterns: list[str], base: str = "") -> str:
    """The head of a generated schematron XSLT: one active pattern and one walk per mode M1, M2..."""
    walks = "".join(f'<svrl:active-pattern id="{p}"/><xsl:apply-templates select="/" mode="M{i}"/>\n'
                    for i, p in enumerate(patterns, 1))
    return ('<xsl:stylesheet xmlns:xsl="http://www.w3.org/1999/XSL/Transform" xmlns:cda="urn:hl7-org:v3"\n'
            ' xmlns:svrl="http://purl.oclc.org/dsdl/svrl" xmlns:xs="http://www.w3.org/2001/XMLSchema" version="2.0"'
            f' exclude-result-prefixes="#all"{base}>\n<xsl:output method="xml"/>\n'
            f"<xsl:template match=\"/\"><svrl:schematron-output>\n{walks}</svrl:schematron-output></xsl:template>\n")


_TINY = _skeleton(["p1", "p2", "p3"], ' xml:base="file:///nonexistent/x.sch"') + """<xsl:template match="*[cda:templateId/@root='A']" priority="1000" mode="M1"><svrl:fired-rule context="A"/><svrl:failed-assert location="{local-name()}"/><xsl:apply-templates select="*" mode="M1"/></xsl:template>
<xsl:template match="*[cda:templateId/@root='B']" priority="1000" mode="M2"><svrl:fired-rule context="B"/><xsl:apply-templates select="*" mode="M2"/></xsl:template>
<xsl:template match="cda:x/*[@code='1']" priority="1000" mode="M3"><svrl:fired-rule context="code"/><xsl:if test="doc-available('nothing.xml')"><svrl:failed-assert/></xsl:if><xsl:apply-templates select="*" mode="M3"/></xsl:template>
<xsl:template match="text()" priority="-1" mode="M1 M2 M3"/>
<xsl:template match="@*|node()" priority="-2" mode="M1 M2 M3"><xsl:apply-templates select="*" mode="#current"/></xsl:template>
</xsl:stylesheet>"""


def _tiny_doc(roots: list[str]) -> etree._ElementTree:
    tids = "".join(f'<templateId root="{r}"/>' for r in roots)
    # the same templateIds on an ancestor and on a nested element: both must fire, in document order
    return etree.ElementTree(etree.fromstring(
        f'<ClinicalDocument xmlns="urn:hl7-org:v3"><x><y code="1">{tids}<z>{tids}</z></y></x>'
        f'<w>{tids}</w></ClinicalDocument>'))


def test_plan_guards_rewrites_and_same_output_in_saxon() -> None:
    saxonche = pytest.importorskip("saxonche")
    plan = fastsch.plan(_TINY)
    assert plan.modes == ["M1", "M2", "M3"]
    assert set(plan.guards) == {"M1", "M2", "M3"}
    assert plan.parent_first == 1 and "cda:x/*[parent::cda:x][@code='1']" in plan.xslt
    # every pattern visits a selection instead of the whole document: M1/M2 by key, M3 by parent name
    assert plan.keyed_patterns == 3 and "key('sc:tid', ('A'))" in plan.xslt
    assert "key('sc:byname', $sc:names-1)/*" in plan.xslt
    assert '<xsl:key name="sc:byname" match="*" use="node-name(.)"/>' in plan.xslt
    assert "select=\"(QName('urn:hl7-org:v3', 'x'))\"" in plan.xslt
    assert plan.doc_calls >= 1 and "sc:doc-available('nothing.xml')" in plan.xslt
    proc = saxonche.PySaxonProcessor(license=False)
    xslt = proc.new_xslt30_processor()
    official = xslt.compile_stylesheet(stylesheet_text=_TINY)
    fast = xslt.compile_stylesheet(stylesheet_text=plan.xslt)
    for roots in ([], ["A"], ["B"], ["A", "B"]):
        tree = _tiny_doc(roots)
        node = proc.parse_xml(xml_text=etree.tostring(tree, encoding="unicode"))
        toks = fastsch.document_tokens(tree)
        skipped = plan.skipped(toks)
        assert ("M1" in skipped) == ("A" not in roots) and ("M2" in skipped) == ("B" not in roots)
        assert "M3" not in skipped
        fast.set_parameter("{urn:segur-conformance:schematron}run", proc.make_string_value(plan.active(toks)))
        assert fast.transform_to_string(xdm_node=node) == official.transform_to_string(xdm_node=node)
    # a wrong guard WOULD change the output: running with every pattern skipped drops fired rules
    tree = _tiny_doc(["A", "B"])
    node = proc.parse_xml(xml_text=etree.tostring(tree, encoding="unicode"))
    fast.set_parameter("{urn:segur-conformance:schematron}run", proc.make_string_value("000"))
    assert fast.transform_to_string(xdm_node=node) != official.transform_to_string(xdm_node=node)
    # and each guard reads its own pattern's character: M2 alone skipped drops only M2's output
    assert plan.active(fastsch.document_tokens(tree)) == "111"
    fast.set_parameter("{urn:segur-conformance:schematron}run", proc.make_string_value("101"))
    alone = fast.transform_to_string(xdm_node=node)
    full = official.transform_to_string(xdm_node=node)
    assert 'context="B"' in full and 'context="B"' not in alone  # M2's rule: skipped
    assert 'context="A"' in alone and 'context="code"' in alone  # M1's and M3's: run (review: an off-by-one)


_WALKS = _skeleton(["empty", "root-only", "codes"]) + """<xsl:template match="/" priority="1000" mode="M2"><svrl:fired-rule context="/"/>
<xsl:if test="not(cda:doc)"><svrl:failed-assert test="cda:doc" location="/"/></xsl:if><xsl:apply-templates select="*" mode="M2"/></xsl:template>
<xsl:template match="//cda:code" priority="1000" mode="M3"><svrl:fired-rule context="code"/>
<xsl:if test="not(@code)"><svrl:failed-assert location="{count(preceding::cda:code)}"/></xsl:if><xsl:apply-templates select="*" mode="M3"/></xsl:template>
<xsl:template match="text()" priority="-1" mode="MODES"/>
<xsl:template match="@*|node()" priority="-2" mode="MODES"><xsl:apply-templates select="*" mode="#current"/></xsl:template>
</xsl:stylesheet>"""


@pytest.mark.parametrize("modes", ["M1 M2 M3", "M3"])
def test_walks_that_write_nothing_are_dropped_and_one_pattern_stylesheets_are_keyed(modes: str) -> None:
    """A pattern without rules and the recursion of a pattern whose rules match "/" only write nothing:
    dropped. A stylesheet of one pattern (terminologie.sch) declares its no-op templates with that mode
    alone: they are not rules, so the pattern is still visited by selection."""
    saxonche = pytest.importorskip("saxonche")
    text = _WALKS.replace("MODES", modes)
    if modes == "M3":  # one pattern only
        text = text.replace('<svrl:active-pattern id="empty"/><xsl:apply-templates select="/" mode="M1"/>', "")
        text = text.replace('<svrl:active-pattern id="root-only"/><xsl:apply-templates select="/" mode="M2"/>', "")
        text = text[: text.index('<xsl:template match="/" priority="1000" mode="M2">')] + text[text.index(
            '<xsl:template match="//cda:code"'):]
    plan = fastsch.plan(text)
    assert plan.dropped_walks == (2 if modes != "M3" else 0)
    assert plan.keyed_patterns == 1 and "key('sc:byname', $sc:names-1)" in plan.xslt
    if modes != "M3":
        assert 'select="/" mode="M1"' not in plan.xslt and plan.xslt.count('select="*" mode="M2"') == 0
    proc = saxonche.PySaxonProcessor(license=False)
    xslt = proc.new_xslt30_processor()
    official = xslt.compile_stylesheet(stylesheet_text=text)
    fast = xslt.compile_stylesheet(stylesheet_text=plan.xslt)
    for doc in ('<doc xmlns="urn:hl7-org:v3"><code code="1"><code/></code><x><code/></x></doc>',
                '<other xmlns="urn:hl7-org:v3"><code code="2"/></other>', '<doc xmlns="urn:hl7-org:v3"/>'):
        node = proc.parse_xml(xml_text=doc)
        assert fast.transform_to_string(xdm_node=node) == official.transform_to_string(xdm_node=node), doc


_WILD_RULES = [  # (match, priority): closed-template-like rules, all ending in a wildcard step
    ("cda:a/*[@k='1'] | cda:c/*[@k='1']", 11),  # two parents: belongs to both groups
    ("cda:a/*[@k='1']", 10),
    ("cda:a/*[@k='2']", 9),
    ("cda:b/*[@k='1']", 8),
    ("cda:b/*", 7),
    ("cda:x/cda:a/*[@k='3']", 6),
    ("cda:c/*", 5),
    ("cda:d/*[@k='9']", 4),
    ("cda:b/*[not(self::cda:a)]", 7),  # same priority as cda:b/*, declared later: wins when both match
    # a closed template: children named f are excluded for the whole group e (one name test)
    ("cda:e/*[not(self::cda:f | self::cda:g[@k])]", 3),
    ("cda:e/*[@k='1'][not(self::cda:f)]", 4),
    ("cda:e[cda:h]/*[not(self::cda:g)]", 2),  # another class of group e: its parent must have an h
]
_WILD = (
    """<xsl:stylesheet xmlns:xsl="http://www.w3.org/1999/XSL/Transform" xmlns:cda="urn:hl7-org:v3"
 xmlns:svrl="http://purl.oclc.org/dsdl/svrl" xmlns:xs="http://www.w3.org/2001/XMLSchema" version="2.0"
 exclude-result-prefixes="#all">
<xsl:output method="xml"/>
<xsl:template match="/"><svrl:schematron-output><svrl:active-pattern id="p1"/><xsl:apply-templates select="/" mode="M1"/>
</svrl:schematron-output></xsl:template>"""
    + "".join(
        f'<xsl:template match="{m}" priority="{p}" mode="M1"><svrl:fired-rule context="r{i}"/>'
        f'<svrl:failed-assert location="{{name()}}/{{@k}}"/><xsl:apply-templates select="*" mode="M1"/></xsl:template>'
        for i, (m, p) in enumerate(_WILD_RULES)
    )
    # the generated stylesheets declare these two for all their modes at once ("M1 M2 ...")
    + """<xsl:template match="text()" priority="-1" mode="M1 M2"/>
<xsl:template match="@*|node()" priority="-2" mode="M1 M2"><xsl:apply-templates select="*" mode="#current"/></xsl:template>
</xsl:stylesheet>"""
)


def test_parent_dispatch_same_output_in_saxon() -> None:
    """Wildcard rules grouped by parent name: same fired rule, same order, on nested parents."""
    saxonche = pytest.importorskip("saxonche")
    plan = fastsch.plan(_WILD)
    assert plan.parent_dispatched == 1 and plan.keyed_patterns == 1
    assert plan.xslt.count('mode="K1P"><xsl:param') == 5  # one dispatcher per parent name (a, b, c, d, e)
    # group e: a child named f can only match the class whose parent has an h; g never there
    assert ("$sc:c[(not(node-name(.) = (QName('urn:hl7-org:v3', 'f')))) or (not(node-name(.) = "
            "(QName('urn:hl7-org:v3', 'g'))) and parent::*[cda:h])]") in plan.xslt
    proc = saxonche.PySaxonProcessor(license=False)
    xslt = proc.new_xslt30_processor()
    official = xslt.compile_stylesheet(stylesheet_text=_WILD)
    fast = xslt.compile_stylesheet(stylesheet_text=plan.xslt)
    docs = [
        '<r xmlns="urn:hl7-org:v3"/>',
        '<r xmlns="urn:hl7-org:v3"><a k="1"><e k="2"/></a><a k="2"/><c k="1"/></r>',
        '<x xmlns="urn:hl7-org:v3"><a><e k="1"/><b k="3"><a k="1"><e k="3"/></a><e k="1"/><a/></b>'
        '<e k="3"/><c><e k="1"/><d k="9"><e k="9"/></d></c><e k="2"/></a><d><e k="9"/><e/></d></x>',
        '<e xmlns="urn:hl7-org:v3"><f k="1"/><g k="1"/><g/><h k="1"/><e><f/><h/></e><e><f/><g/></e></e>',
    ]
    fired = 0
    for text in docs:
        node = proc.parse_xml(xml_text=text)
        fast.set_parameter("{urn:segur-conformance:schematron}run", proc.make_string_value("*"))
        out = official.transform_to_string(xdm_node=node)
        assert fast.transform_to_string(xdm_node=node) == out
        fired += out.count("<svrl:fired-rule")
    assert fired >= 16  # not vacuous: most rules fired, several where two groups or priorities compete
    # the grouping is what is tested: the two-parent rule left in one group only WOULD change the output
    assert len(re.findall(r'mode="K1p\d+ K1p\d+"', plan.xslt)) == 1
    broken = re.sub(r'mode="(K1p\d+) K1p\d+"', r'mode="\1"', plan.xslt)
    node = proc.parse_xml(xml_text=docs[2])
    fast2 = xslt.compile_stylesheet(stylesheet_text=broken)
    fast2.set_parameter("{urn:segur-conformance:schematron}run", proc.make_string_value("*"))
    assert fast2.transform_to_string(xdm_node=node) != official.transform_to_string(xdm_node=node)


# ---------------------------------------------------------------------------------------------
# On the official kit
# ---------------------------------------------------------------------------------------------

# One document per kind of content: structured volets of the Ségur scope (VSM, DLU family, IPS), an N1
# document (nonXMLBody), a lab report (many value-set lookups), a prescription (pharmacy templates),
# two documents written for other kits, and one the volet selection treats specially.
SUBSET = [
    "VSM_1.4_2022.01.xml",
    "DLU-EHPAD-DLU_2022.01.xml",
    "DLU-EHPAD-FLUDT_2022.01.xml",
    "IPS-FR_2024.01.xml",
    "DOC_NON_STRUCTURE_CDA-R2-N1.xml",
    "BIO-CR-BIO_2024.01_Microbiologie_V2.xml",
    "eP-MED-DM_2024.01_PosoStruct.xml",
    "eDISP-MED_2024.01.xml",
    "01_Modèles_contenus_CDA.xml",
    "CDA_TDDUI_Exemple_v1.0.1.xml",
    "PPS-PAERPA_2021.01.xml",
]


@pytest.fixture(scope="module")
def engines(tmp_path_factory: pytest.TempPathFactory):
    if not OFFICIAL.is_dir():
        pytest.skip(f"official CI-SIS kit absent ({OFFICIAL}); set SEGUR_SHARED")
    from conformance.cda.kit import Kit
    from conformance.cda.schematron import SchematronRunner

    base = tmp_path_factory.mktemp("equivalence")
    mp = pytest.MonkeyPatch()
    mp.setenv("SEGUR_CONFORMANCE_CACHE", str(base / "home"))
    kit = Kit.open(OFFICIAL)
    yield kit, SchematronRunner(kit, base, engine="official"), SchematronRunner(kit, base, engine="fast")
    mp.undo()


def _find(name: str) -> Path:
    for folder in (OFFICIAL / "ExemplesCDA", SHARED / "examples-extra"):
        for p in folder.glob("*.xml"):
            if p.name.lower() == name.lower():
                return p
    return OFFICIAL / "ExemplesCDA" / name


def test_fast_path_equals_official_on_kit_subset_and_mutations(engines) -> None:
    import test_cda_mutations as tm

    from conformance.cda.equivalence import compare
    from conformance.safexml import parse_bytes, parse_file

    kit, official, fast = engines
    docs = [(n, parse_file(str(_find(n)))) for n in SUBSET if _find(n).is_file()]
    assert len(docs) >= 8, "the representative subset must be present in the kit"
    docs += [(m.id, parse_bytes(tm.mutated(m))) for m in tm.MUTATIONS]
    rep = compare(kit, docs, official=official, fast=fast)
    assert rep.differences == [], rep.summary()
    # Not vacuous: the fast path did skip patterns, and the comparison saw real verdicts.
    assert sum(p.skipped_patterns for p in rep.pairs) > 1000
    assert sum(p.failed_asserts for p in rep.pairs) > 20
    assert sum(p.fired_rules for p in rep.pairs) > 10000
    profiles = {p.schematron for p in rep.pairs}
    assert {"profils/IHE.sch", "profils/terminologies/schematron/terminologie.sch",
            "profils/structurationMinimale/ASIP-STRUCT-MIN-StrucMin.sch"} <= profiles


def test_fast_path_preloads_code_systems_and_uses_keys(engines) -> None:
    kit, _official, fast = engines
    term = fast._get(kit.schematron_dir / "profils/terminologies/schematron/terminologie.sch")
    assert term.plan is not None
    assert term.plan.keyed_lookups >= 10 and len(term.plan.preload) >= 10
    assert all(p.is_relative_to(kit.path) for p in term.plan.preload)
    strucmin = fast._get(kit.schematron_dir / "profils/structurationMinimale/ASIP-STRUCT-MIN-StrucMin.sch")
    assert strucmin.plan is not None and strucmin.plan.parent_first >= 100
    assert strucmin.plan.parent_dispatched == 1  # the closed-template pattern: rules grouped by parent


def test_code_systems_are_handed_over_on_demand_and_a_miss_reads_the_file(engines) -> None:
    """terminologie.sch opens ``<codeSystem>.rdf`` by a name built from the document: only the files whose
    OID is one of the document's attribute values are parsed and handed over (start-up no longer parses
    the 15 MB of RDF); a file not handed over is read by the original ``doc()``, with the same verdicts."""
    import dataclasses

    from conformance.cda import sch_run
    from conformance.cda.sch_compile import Compiled, hand_over_docs
    from conformance.cda.sch_saxon import saxon
    from conformance.safexml import parse_file

    kit, _official, fast = engines
    term = fast._get(kit.schematron_dir / "profils/terminologies/schematron/terminologie.sch")
    plan = term.plan
    assert plan is not None and len(plan.on_demand) >= 9
    # also named by a literal (concat($path, '...xml')) in the rules of the one pattern: handed over when it runs
    ucum = "2.16.840.1.113883.6.8.xml"
    assert ucum not in {p.name for p in plan.on_demand} and not plan.eager()
    assert [p.name for files in plan.by_pattern.values() for p in files] == [ucum]
    tree = parse_file(str(_find("VSM_1.4_2022.01.xml")))
    wrong = next(e for e in tree.iter(H + "code", H + "value") if e.get("codeSystem") == "2.16.840.1.113883.6.3")
    wrong.set("code", "ZZZ-NOT-A-CODE")  # a failed lookup: the verdict depends on the file's content
    tokens = fastsch.document_tokens(tree)
    wanted = {p.name for p in plan.docs_for(tokens)} - {p.name for p in plan.eager()}
    assert wanted == {"2.16.840.1.113883.6.3.rdf", "0.4.0.127.0.16.1.1.2.1.rdf", "1.2.250.1.215.300.1.rdf", ucum}
    node = sch_run.to_xdm(tree)
    handed = sch_run.transform(term, node, tokens)
    assert wanted <= {p.name for p in term.docs_loaded}
    _proc, xslt = saxon()
    # the literal file only: every .rdf is read by doc()
    bare_plan = dataclasses.replace(plan, on_demand=[], by_pattern={},
                                    preload=[p for p in plan.preload if p.suffix != ".rdf"])
    bare = Compiled(report=term.report, executable=xslt.compile_stylesheet(stylesheet_text=plan.xslt),
                    plan=bare_plan)
    hand_over_docs(bare, bare_plan.eager())
    assert not any(p.suffix == ".rdf" for p in bare.docs_loaded)
    read = sch_run.transform(bare, node, tokens)
    assert read == handed
    assert "ZZZ-NOT-A-CODE" in handed and handed.count("<svrl:failed-assert") >= 1


def test_a_value_set_named_by_an_absolute_file_uri_is_answered_from_the_handed_over_map(tmp_path: Path) -> None:
    """The kit fix writes a synthesised value set's absolute ``file:///`` URI into StrucMin; ``sc:doc``
    answers it from the documents parsed once per process, like a relative name, instead of parsing
    it again in each transformation. Proven by changing the file on disk after it was handed over:
    the map's copy answers; a name the map cannot take (percent-encoded) still reads the file; and a
    name with a host (``file://host/path``, ``//host/path``: not this file for doc()) is never answered
    from the map (independent review: the key once dropped the host)."""
    pytest.importorskip("saxonche")
    from conformance.cda.sch_compile import Compiled, CompileReport, hand_over_docs
    from conformance.cda.sch_saxon import saxon

    vs = tmp_path / "voc-1.2.3-DYNAMIC.xml"
    vs.write_text('<valueSet code="before"/>', encoding="utf-8")
    uri = vs.resolve().as_uri()
    escaped = uri.replace("-DYNAMIC", "%2DDYNAMIC")  # the same file, by a name sc:uri-key does not take
    hosted = "file:/" + vs.resolve().as_posix()  # file://<first folder>/<rest>: a host, another resource
    network = "/" + vs.resolve().as_posix()
    xslt = f"""<xsl:stylesheet xmlns:xsl="http://www.w3.org/1999/XSL/Transform" version="2.0"
 xmlns:xs="http://www.w3.org/2001/XMLSchema" xml:base="{(tmp_path / 'x.sch').resolve().as_uri()}">
<xsl:template match="/"><out><xsl:value-of select="doc('{uri}')/*/@code, doc('{escaped}')/*/@code"/></out>
<hosts><xsl:value-of select="doc-available('{hosted}'), doc-available('{network}')"/></hosts></xsl:template>
</xsl:stylesheet>"""
    plan = fastsch.plan(xslt, confine_to=(tmp_path,))
    assert plan.preload == [vs.resolve()]
    proc, xslt_proc = saxon()  # the processor the handed-over documents were parsed with
    exe = xslt_proc.compile_stylesheet(stylesheet_text=plan.xslt)
    compiled = Compiled(report=CompileReport(schematron="x.sch"), executable=exe, plan=plan)
    hand_over_docs(compiled, plan.eager())
    vs.write_text('<valueSet code="after"/>', encoding="utf-8")
    out = exe.transform_to_string(xdm_node=proc.parse_xml(xml_text="<r/>"))
    assert ">before after</out>" in out and out.endswith(">false false</hosts>")


def test_saxon_reads_the_source_bytes_with_the_same_verdicts(engines) -> None:
    """``validate(tree, name, source)``: Saxon parses the bytes the tree came from instead of a new
    serialisation. Same findings on a kit example and on the same document re-encoded in ISO-8859-1 by
    hand (character references, CRLF line ends: what a serialisation by lxml would have normalised);
    and the bytes are what Saxon judges (a broken promise shows: other bytes, other
    verdict)."""
    from conformance.safexml import parse_bytes

    kit, _official, fast = engines
    data = _find("VSM_1.4_2022.01.xml").read_bytes()
    sel = [s for s in fast.select(parse_bytes(data)).all if "StrucMin" in s.name or "terminologie" in s.name]
    assert len(sel) == 2
    tree = parse_bytes(data)
    fast.validate_with(tree, "vsm", sel)  # the kit-fix notes are said once per runner: said now
    serialised = fast.validate_with(tree, "vsm", sel)
    assert fast.validate_with(tree, "vsm", sel, data) == serialised
    text = data.decode("utf-8")
    # the same infoset written otherwise: CRLF line ends, characters as references (lxml would write
    # them back as LF and as characters)
    other = text.replace("\r\n", "\n").replace("\n", "\r\n").replace("é", "&#233;").encode("utf-8")
    assert other != data and b"&#233;" in other
    otree = parse_bytes(other)
    assert fast.validate_with(otree, "vsm", sel, other) == fast.validate_with(otree, "vsm", sel) == serialised
    broken = data.replace(b'<realmCode code="FR"/>', b'<realmCode code="XX"/>', 1)
    assert broken != data
    errors = [f for f in fast.validate_with(tree, "vsm", sel, broken) if f.is_error]
    assert errors and not [f for f in serialised if f.is_error]


def test_an_xml_1_1_source_is_not_handed_over_raw() -> None:
    """libxml2 reads XML 1.1 by the 1.0 rules while SaxonC applies 1.1's line ends (NEL, ``&#x85;``): the raw
    bytes would give Saxon another tree than the one the harness judged, so a 1.1 document is serialised
    (independent review: a kit example in 1.1 with ``&#x85;`` in an address gained 2 StrucMin errors)."""
    pytest.importorskip("saxonche")
    from conformance.cda import sch_run
    from conformance.cda.sch_saxon import saxon
    from conformance.safexml import parse_bytes

    _proc, xslt = saxon()
    probe = xslt.compile_stylesheet(stylesheet_text=(
        '<xsl:stylesheet xmlns:xsl="http://www.w3.org/1999/XSL/Transform" version="2.0">'
        '<xsl:output method="text"/><xsl:template match="/">'
        '<xsl:value-of select="string-to-codepoints(/*/@a)"/></xsl:template></xsl:stylesheet>'))
    for version, expected in (("1.1", "120 32 121"), ("1.0", "120 133 121")):
        data = f'<?xml version="{version}" encoding="UTF-8"?><r a="x&#x85;y"/>'.encode()
        tree = parse_bytes(data)
        serialised = probe.transform_to_string(xdm_node=sch_run.to_xdm(tree))
        assert probe.transform_to_string(xdm_node=sch_run.to_xdm(tree, data)) == serialised == expected
    # with a byte-order mark, the same tree either way
    bom = b"\xef\xbb\xbf" + b'<?xml version="1.0" encoding="UTF-8"?><r a="b"/>'
    assert probe.transform_to_string(xdm_node=sch_run.to_xdm(parse_bytes(bom), bom)) == "98"


def test_a_value_set_read_in_a_match_pattern_is_answered_from_the_handed_over_map(tmp_path: Path) -> None:
    """StrucMin tests a value set inside some rules' match patterns; ``doc()`` there parsed the file again
    in each transformation. The pattern reads it through ``sc:doc`` too: proven by changing the file
    after hand-over (the pattern still sees the handed-over copy)."""
    pytest.importorskip("saxonche")
    from conformance.cda.sch_compile import Compiled, CompileReport, hand_over_docs
    from conformance.cda.sch_saxon import saxon

    (tmp_path / "include").mkdir()
    vs = tmp_path / "include" / "voc-9.9-DYNAMIC.xml"
    vs.write_text('<valueSet code="before"/>', encoding="utf-8")
    xslt = _skeleton(["p1"], f' xml:base="{(tmp_path / "x.sch").resolve().as_uri()}"') + """
<xsl:template match="cda:r[doc('include/voc-9.9-DYNAMIC.xml')/*/@code = 'before']" priority="1000" mode="M1"><svrl:fired-rule context="r"/></xsl:template>
<xsl:template match="text()" priority="-1" mode="M1"/>
<xsl:template match="@*|node()" priority="-2" mode="M1"><xsl:apply-templates select="*" mode="M1"/></xsl:template>
</xsl:stylesheet>"""
    plan = fastsch.plan(xslt, confine_to=(tmp_path,))
    assert "sc:doc('include/voc-9.9-DYNAMIC.xml')" in plan.xslt and plan.preload == [vs.resolve()]
    proc, xslt_proc = saxon()
    doc = proc.parse_xml(xml_text='<r xmlns="urn:hl7-org:v3"/>')
    official = xslt_proc.compile_stylesheet(stylesheet_text=xslt).transform_to_string(xdm_node=doc)
    exe = xslt_proc.compile_stylesheet(stylesheet_text=plan.xslt)
    compiled = Compiled(report=CompileReport(schematron="x.sch"), executable=exe, plan=plan)
    assert plan.by_pattern == {"M1": [vs.resolve()]} and not plan.eager()  # read by pattern M1's rules only
    hand_over_docs(compiled, plan.docs_for(fastsch.document_tokens(etree.ElementTree(etree.fromstring(
        '<r xmlns="urn:hl7-org:v3"/>')))))
    assert exe.transform_to_string(xdm_node=doc) == official and 'context="r"' in official
    vs.write_text('<valueSet code="after"/>', encoding="utf-8")
    assert 'context="r"' in exe.transform_to_string(xdm_node=doc)  # the handed-over copy, not the file


def test_an_absent_code_system_is_answered_from_the_folder_listing(tmp_path: Path) -> None:
    """terminologie.sch asks ``doc-available('../terminologie/<codeSystem>.rdf')`` for every coded element,
    and most of a document's code systems have no file in the kit: each was a failed file open in
    Saxon (≈ 1.6 ms per document). The folder of the files opened by a computed name is listed once
    per process (``sc:listed``) and a name it does not hold is answered ``false``. Proven against the
    file system after the listing: a file added later is not seen (a snapshot, like the handed-over
    documents); a name differing only by case from a listed entry is still asked of the file system
    (a case-insensitive one would open it), and so is a name in a folder inside the listed one or in
    a folder not listed; the verdicts before
    the change are the official engine's."""
    pytest.importorskip("saxonche")
    from conformance.cda.sch_compile import LISTED_PARAM, Compiled, CompileReport, _listed_map, hand_over_docs
    from conformance.cda.sch_saxon import saxon

    cs = tmp_path / "cs"
    other = tmp_path / "other"
    cs.mkdir()
    other.mkdir()
    (cs / "A.rdf").write_text("<rdf/>", encoding="utf-8")
    (cs / "sub").mkdir()
    (cs / "sub" / "E.rdf").write_text("<rdf/>", encoding="utf-8")  # in a folder inside the listed one
    base = (tmp_path / "sch" / "x.sch").resolve().as_uri()
    names = "('A', 'B', 'a', 'C', 'sub/E')"
    xslt = f"""<xsl:stylesheet xmlns:xsl="http://www.w3.org/1999/XSL/Transform" version="2.0"
 xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:sc="urn:segur-conformance:schematron" xml:base="{base}">
<xsl:variable name="path" select="'../cs/'"/>
<xsl:template match="/"><out><xsl:value-of select="for $n in {names} return doc-available(concat($path, $n, '.rdf'))"/></out>
<lone><xsl:value-of select="doc-available('../other/D.rdf')"/></lone></xsl:template>
</xsl:stylesheet>"""
    plan = fastsch.plan(xslt, confine_to=(tmp_path,))
    assert plan.on_demand == [(cs / "A.rdf").resolve()]
    proc, xslt_proc = saxon()
    doc = proc.parse_xml(xml_text="<r/>")
    official = xslt_proc.compile_stylesheet(stylesheet_text=xslt)
    exe = xslt_proc.compile_stylesheet(stylesheet_text=plan.xslt)
    compiled = Compiled(report=CompileReport(schematron="x.sch"), executable=exe, plan=plan)
    compiled.listed = _listed_map(plan)
    assert compiled.listed is not None
    exe.set_parameter(LISTED_PARAM, compiled.listed)
    hand_over_docs(compiled, plan.eager())
    before = official.transform_to_string(xdm_node=doc)
    assert ">true false false false true</out>" in before and ">false</lone>" in before
    assert exe.transform_to_string(xdm_node=doc) == before
    for name in ("B.rdf", "a.rdf", "C.RDF"):
        (cs / name).write_text("<rdf/>", encoding="utf-8")
    (other / "D.rdf").write_text("<rdf/>", encoding="utf-8")
    now = official.transform_to_string(xdm_node=doc)
    assert ">true true true false true</out>" in now and ">true</lone>" in now  # C.rdf: not C.RDF, on this disk
    # B: not in the listing, a snapshot; a: a case variant of a listed entry, asked of the file system
    fast = exe.transform_to_string(xdm_node=doc)
    assert ">true false true false true</out>" in fast and ">true</lone>" in fast


def test_a_folder_listing_holds_plain_ascii_names_within_bounds(tmp_path: Path, monkeypatch) -> None:
    """A folder with a name a case-insensitive file system could fold otherwise than ``lower-case``
    (not ASCII), or with more entries than the bound, is not listed: its names are asked of the file
    system, as before."""
    from conformance.cda import fastsch_docs

    plain, odd, big = tmp_path / "plain", tmp_path / "odd", tmp_path / "big"
    for d in (plain, odd, big):
        d.mkdir()
    (plain / "X.rdf").write_text("<a/>", encoding="utf-8")
    (odd / "\u212a.rdf").write_text("<a/>", encoding="utf-8")  # KELVIN SIGN: lower-cases to 'k'
    for i in range(4):
        (big / f"{i}.rdf").write_text("<a/>", encoding="utf-8")
    monkeypatch.setattr(fastsch_docs, "MAX_LISTED_ENTRIES", 3)
    listed = fastsch_docs.listed_entries([plain, odd, big, tmp_path / "missing"])
    key = fastsch_docs.uri_key(plain) + "/"
    assert listed == {key: True, key + "x.rdf": True}


def test_a_value_set_read_by_document_is_answered_from_the_handed_over_map(tmp_path: Path) -> None:
    """The volets and ModelesDeContenusCDA read their value sets by XSLT's ``document($jdv_...)``, which
    parsed each file again in every transformation (strace: 12 opens of each JDV file for 12
    documents). A single string goes through ``sc:document``, answered from the documents handed over
    (proven by changing the file after hand-over); a node (resolved against its own base URI: here
    another file of the same name), two arguments (the same, by the second's base URI) or several
    names reach document() itself, with the official output; and a stylesheet where some element has
    its own ``xml:base`` keeps document() as it is."""
    pytest.importorskip("saxonche")
    from conformance.cda.sch_compile import Compiled, CompileReport, hand_over_docs
    from conformance.cda.sch_saxon import saxon

    for d in ("jdv", "sch", "src/jdv", "src/deep"):
        (tmp_path / d).mkdir(parents=True)
    jdv = tmp_path / "jdv" / "JDV_X.xml"  # ../jdv/JDV_X.xml from the stylesheet
    jdv.write_text('<ValueSet code="before"/>', encoding="utf-8")
    # ../jdv/JDV_X.xml from the source document: another file, never handed over
    (tmp_path / "src" / "jdv" / "JDV_X.xml").write_text('<ValueSet code="node"/>', encoding="utf-8")
    source = tmp_path / "src" / "deep" / "r.xml"
    source.write_text('<r href="../jdv/JDV_X.xml"/>', encoding="utf-8")
    base = (tmp_path / "sch" / "x.sch").resolve().as_uri()

    def stylesheet(inner_base: str = "") -> str:
        return f"""<xsl:stylesheet xmlns:xsl="http://www.w3.org/1999/XSL/Transform" version="2.0"
 xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:sc="urn:segur-conformance:schematron" xml:base="{base}">
<xsl:variable name="jdv_x" select="'../jdv/JDV_X.xml'"/>
<xsl:template match="/"><out{inner_base}><xsl:value-of select="document($jdv_x)/*/@code, document(/r/@href)/*/@code,
 document($jdv_x, /r)/*/@code, count(document(($jdv_x, $jdv_x)))"/></out></xsl:template>
</xsl:stylesheet>"""

    plan = fastsch.plan(stylesheet(), confine_to=(tmp_path,))
    assert plan.xslt.count("sc:document(") == 4 and plan.doc_calls == 4
    assert plan.preload == [jdv.resolve()]
    proc, xslt_proc = saxon()
    src = proc.parse_xml(xml_file_name=str(source))
    official = xslt_proc.compile_stylesheet(stylesheet_text=stylesheet())
    exe = xslt_proc.compile_stylesheet(stylesheet_text=plan.xslt)
    compiled = Compiled(report=CompileReport(schematron="x.sch"), executable=exe, plan=plan)
    hand_over_docs(compiled, plan.eager())
    before = official.transform_to_string(xdm_node=src)
    assert ">before node node 1</out>" in before
    assert exe.transform_to_string(xdm_node=src) == before
    jdv.write_text('<ValueSet code="after"/>', encoding="utf-8")
    assert ">after node node 1</out>" in official.transform_to_string(xdm_node=src)
    assert ">before node node 1</out>" in exe.transform_to_string(xdm_node=src)  # the handed-over copy
    kept = fastsch.plan(stylesheet(' xml:base="file:///elsewhere/"'), confine_to=(tmp_path,))
    assert "sc:document(" not in kept.xslt


def test_a_value_set_read_by_one_pattern_only_is_handed_over_when_that_pattern_runs(tmp_path: Path) -> None:
    """ModelesDeContenusCDA names 38 JDV files, each read by the rules of one or a few of its 141 patterns,
    most of which cannot run on a given document: parsing them all at start-up cost start-up time for
    nothing. A file only patterns' rules read is handed over for a document on which one of them may
    run (its guard holds); a file read elsewhere (here a global variable) at start-up, as before; and
    the output is the official one either way (a file not handed over is read by document())."""
    pytest.importorskip("saxonche")
    from conformance.cda import sch_run
    from conformance.cda.sch_compile import Compiled, CompileReport, hand_over_docs
    from conformance.cda.sch_saxon import saxon

    (tmp_path / "jdv").mkdir()
    for name in ("A", "B", "G"):
        (tmp_path / "jdv" / f"JDV_{name}.xml").write_text(f'<ValueSet code="{name}"/>', encoding="utf-8")
    xslt = _skeleton(["pa", "pb"], f' xml:base="{(tmp_path / "sch" / "x.sch").resolve().as_uri()}"').replace(
        '<xsl:template match="/">',
        """<xsl:variable name="jdv_a" select="'../jdv/JDV_A.xml'"/><xsl:variable name="jdv_b" select="'../jdv/JDV_B.xml'"/>
<xsl:variable name="everywhere" select="document('../jdv/JDV_G.xml')/*/@code"/>
<xsl:template match="/">""") + """<xsl:template match="*[cda:templateId/@root='A']" priority="1000" mode="M1"><svrl:fired-rule context="A"/>
<xsl:if test="document($jdv_a)/*/@code = 'A' and $everywhere = 'G'"><svrl:successful-report test="a"/></xsl:if><xsl:apply-templates select="*" mode="M1"/></xsl:template>
<xsl:template match="*[cda:templateId/@root='B']" priority="1000" mode="M2"><svrl:fired-rule context="B"/>
<xsl:if test="document($jdv_b)/*/@code = 'B'"><svrl:successful-report test="b"/></xsl:if><xsl:apply-templates select="*" mode="M2"/></xsl:template>
<xsl:template match="text()" priority="-1" mode="M1 M2"/>
<xsl:template match="@*|node()" priority="-2" mode="M1 M2"><xsl:apply-templates select="*" mode="#current"/></xsl:template>
</xsl:stylesheet>"""
    plan = fastsch.plan(xslt, confine_to=(tmp_path,))
    jdv = {n: (tmp_path / "jdv" / f"JDV_{n}.xml").resolve() for n in ("A", "B", "G")}
    assert plan.by_pattern == {"M1": [jdv["A"]], "M2": [jdv["B"]]} and plan.eager() == (jdv["G"],)
    proc, xslt_proc = saxon()
    official = xslt_proc.compile_stylesheet(stylesheet_text=xslt)
    for roots, expected in ((["A"], {"G", "A"}), (["B"], {"G", "B"}), ([], {"G"}), (["A", "B"], {"G", "A", "B"})):
        tree = _tiny_doc(roots)
        tokens = fastsch.document_tokens(tree)
        assert {p.stem[4:] for p in plan.docs_for(tokens)} == expected
        assert {p.stem[4:] for p in plan.docs_for(tokens, plan.active(tokens))} == expected
        # the caller's sc:run value is read as given (the runner computes it once per document)
        assert {p.stem[4:] for p in plan.docs_for(tokens, "01")} == {"G", "B"}
        exe = xslt_proc.compile_stylesheet(stylesheet_text=plan.xslt)
        compiled = Compiled(report=CompileReport(schematron="x.sch"), executable=exe, plan=plan)
        hand_over_docs(compiled, plan.eager())
        node = proc.parse_xml(xml_text=etree.tostring(tree, encoding="unicode"))
        out = sch_run.transform(compiled, node, tokens)  # the production path: hand-over, guards, transform
        assert {p.stem[4:] for p in compiled.docs_loaded} == expected
        assert out == official.transform_to_string(xdm_node=node)
        assert out.count("<svrl:successful-report") == 3 * len(roots)  # the three elements of each root


def test_a_stylesheet_with_an_inner_base_keeps_its_doc_calls(tmp_path: Path) -> None:
    """``sc:doc`` resolves a name against the stylesheet root's base URI; a call under an element with
    its own ``xml:base`` resolves against that one: such a stylesheet keeps every doc(), doc-available()
    and document() as it is (independent review: doc-available() answered false for a file there)."""
    pytest.importorskip("saxonche")
    from conformance.cda.sch_saxon import saxon

    (tmp_path / "inner").mkdir()
    (tmp_path / "inner" / "v.xml").write_text("<v/>", encoding="utf-8")
    xslt = f"""<xsl:stylesheet xmlns:xsl="http://www.w3.org/1999/XSL/Transform" version="2.0"
 xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:sc="urn:segur-conformance:schematron"
 exclude-result-prefixes="#all" xml:base="{(tmp_path / 'sch' / 'x.sch').resolve().as_uri()}">
<xsl:template match="/"><out xml:base="{(tmp_path / 'inner').resolve().as_uri()}/"><xsl:value-of select="doc-available('v.xml'),
 doc-available('../inner/v.xml')"/></out></xsl:template>
</xsl:stylesheet>"""
    plan = fastsch.plan(xslt, confine_to=(tmp_path,))
    assert "doc-available('v.xml')" in plan.xslt and "sc:doc-available('" not in plan.xslt
    assert plan.doc_calls == 0 and not plan.preload
    proc, xslt_proc = saxon()
    doc = proc.parse_xml(xml_text="<r/>")
    official = xslt_proc.compile_stylesheet(stylesheet_text=xslt).transform_to_string(xdm_node=doc)
    assert ">true true</out>" in official
    assert xslt_proc.compile_stylesheet(stylesheet_text=plan.xslt).transform_to_string(xdm_node=doc) == official
