"""Layer 2 (schematrons) on a small synthetic kit: every mechanism, no /work/shared needed.

The synthetic kit reproduces, in miniature, each behaviour the official kit relies on or each defect it
has: includes with a wrong letter case (D1), a missing include (D3), the missing ART-DECOR vocabulary
file (D4), a dead rule (D7), abstract patterns, phases, global and local lets, value sets read with
document() relative to the schematron, and oxygen processing instructions.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from lxml import etree

from conformance.cda import schematron as sch_mod
from conformance.cda.kit import Kit
from conformance.cda.schematron import (
    DEAD_RULE_PREFIX,
    KIT_FIX,
    NO_VOLET,
    NOT_EVALUATED,
    PI_IGNORED,
    SchematronRunner,
)
from conformance.cda.svrl import parse_svrl, severity_of
from conformance.findings import Severity
from conformance.safexml import parse_bytes

SCH = 'xmlns="http://purl.oclc.org/dsdl/schematron"'

VOLET = f"""<?xml version="1.0" encoding="UTF-8"?>
<schema {SCH} queryBinding="xslt2" defaultPhase="TEST" schemaVersion="CI-SIS_TEST_2024.01.sch">
  <title>Volet de test</title>
  <ns prefix="cda" uri="urn:hl7-org:v3"/>
  <ns prefix="svs" uri="urn:ihe:iti:svs:2008"/>
  <include href="abstract/dansJDV.sch"/>
  <include href="include/specificationsVolets/TEST_2024.01/entete_test.sch"/>
  <phase id="TEST">
    <active pattern="Entete_TEST"/>
    <active pattern="variables"/>
    <active pattern="JDV_code"/>
  </phase>
  <pattern id="variables">
    <let name="jdv" value="'../jeuxDeValeurs/JDV_Test_CISIS.xml'"/>
    <rule context="cda:ClinicalDocument">
      <let name="nb" value="count(cda:component/cda:structuredBody/cda:component)"/>
      <assert test="$nb &gt;= 1">[TEST] Au moins une section ; trouvé <value-of select="$nb"/>.</assert>
      <assert test="cda:title" role="warning">[TEST] Un titre est recommandé.</assert>
      <report test="cda:confidentialityCode/@code = 'V'">[TEST] Confidentialité V interdite.</report>
    </rule>
    <rule context="cda:ClinicalDocument">
      <assert test="cda:participant[@typeCode='INF']">[TEST] Règle morte : participant INF.</assert>
    </rule>
  </pattern>
  <pattern id="JDV_code" is-a="dansJDV">
    <param name="xpath_elt" value="cda:ClinicalDocument/cda:code"/>
    <param name="path_jdv" value="$jdv"/>
  </pattern>
  <pattern id="inactive">
    <rule context="cda:ClinicalDocument">
      <assert test="false()">[TEST] hors phase : ne doit jamais apparaître</assert>
    </rule>
  </pattern>
</schema>
"""

ENTETE = f"""<pattern {SCH} id="Entete_TEST">
  <rule context="cda:ClinicalDocument">
    <assert test="cda:templateId[@root='1.2.250.1.213.1.1.1.99' and @extension='2024.01']">[Entete_TEST] templateId du volet absent.</assert>
  </rule>
</pattern>
"""

ABSTRACT = f"""<pattern {SCH} id="dansJDV" abstract="true">
  <rule context="$xpath_elt">
    <let name="c" value="@code"/>
    <assert test="document($path_jdv)//svs:Concept[@code = $c]">[dansJDV] code <value-of select="$c"/> hors du jeu de valeurs.</assert>
  </rule>
</pattern>
"""

BROKEN = f"""<schema {SCH} queryBinding="xslt2">
  <ns prefix="cda" uri="urn:hl7-org:v3"/>
  <include href="include/absent.sch"/>
  <pattern id="p"><rule context="cda:ClinicalDocument"><assert test="true()">x</assert></rule></pattern>
</schema>
"""

RUNTIME = f"""<schema {SCH} queryBinding="xslt2">
  <ns prefix="cda" uri="urn:hl7-org:v3"/>
  <pattern id="p"><rule context="cda:ClinicalDocument">
    <assert test="document('../jeuxDeValeurs/absent.xml')//*">jeu de valeurs absent</assert>
  </rule></pattern>
</schema>
"""

PROFILE = f"""<schema {SCH} queryBinding="xslt2">
  <ns prefix="cda" uri="urn:hl7-org:v3"/>
  <pattern id="realm">
    <rule context="cda:ClinicalDocument">
      <assert id="realm-fr" test="cda:realmCode/@code = 'FR'">realmCode doit valoir FR</assert>
      <assert id="type-code" test="cda:code/@code = doc('include/voc-1.2.3.4.5-DYNAMIC.xml')/*/valueSet/conceptList/concept/@code">code hors J07</assert>
    </rule>
  </pattern>
</schema>
"""

JDV = """<?xml version="1.0" encoding="UTF-8"?>
<RetrieveValueSetResponse xmlns="urn:ihe:iti:svs:2008">
  <ValueSet id="1.2.3.4.5" displayName="JDV_Test_CISIS">
    <ConceptList>
      <Concept code="A" codeSystem="1.2.3" displayName="Alpha"/>
      <Concept code="B" codeSystem="1.2.3" displayName="Beta"/>
    </ConceptList>
  </ValueSet>
</RetrieveValueSetResponse>
"""

XSD = """<?xml version="1.0"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:hl7-org:v3"
  xmlns="urn:hl7-org:v3" elementFormDefault="qualified">
  <xs:element name="ClinicalDocument"><xs:complexType><xs:sequence>
    <xs:any processContents="lax" minOccurs="0" maxOccurs="unbounded"/>
  </xs:sequence></xs:complexType></xs:element>
</xs:schema>
"""


def make_kit(root: Path) -> Path:
    files = {
        "SOURCE.md": "Copied at commit 0123456789abcdef0123456789abcdef01234567.\n",
        "infrastructure/cda/CDA_extended.xsd": XSD,
        "jeuxDeValeurs/JDV_Test_CISIS.xml": JDV,
        "schematrons/CI-SIS_TEST_2024.01.sch": VOLET,
        "schematrons/abstract/dansJDV.sch": ABSTRACT,
        "schematrons/include/specificationsVolets/TEST_2024.01/Entete_TEST.sch": ENTETE,
        "schematrons/CI-SIS_BROKEN_2024.01.sch": BROKEN,
        "schematrons/CI-SIS_RUNTIME_2024.01.sch": RUNTIME,
        "schematrons/profils/P1.sch": PROFILE,
        "schematrons/profils/include/README.txt": "voc-*.xml absents (comme D4)\n",
    }
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
    return root


def cda(
    *,
    template: str = '<templateId root="1.2.250.1.213.1.1.1.99" extension="2024.01"/>',
    code: str = "A",
    sections: int = 1,
    conf: str = "N",
    title: bool = True,
    pis: str = "",
) -> etree._ElementTree:
    body = "".join("<component><section/></component>" for _ in range(sections))
    text = f"""<?xml version="1.0" encoding="UTF-8"?>
{pis}<ClinicalDocument xmlns="urn:hl7-org:v3">
  <realmCode code="FR"/>
  {template}
  <code code="{code}" codeSystem="1.2.3"/>
  {"<title>T</title>" if title else ""}
  <confidentialityCode code="{conf}"/>
  <component><structuredBody>{body}</structuredBody></component>
</ClinicalDocument>
"""
    return parse_bytes(text.encode())


@pytest.fixture(scope="module")
def fake(tmp_path_factory: pytest.TempPathFactory) -> tuple[Kit, Path]:
    base = tmp_path_factory.mktemp("fakekit")
    mp = pytest.MonkeyPatch()
    mp.setenv("SEGUR_CONFORMANCE_CACHE", str(base / "home-cache"))
    kit = Kit.open(make_kit(base / "kit"))
    yield kit, base / "cache"
    mp.undo()


@pytest.fixture()
def runner(fake: tuple[Kit, Path]) -> SchematronRunner:
    kit, cache = fake
    return SchematronRunner(kit, cache)


def volet(kit: Kit) -> Path:
    return kit.schematron_dir / "CI-SIS_TEST_2024.01.sch"


def errors(findings):
    return [f for f in findings if f.severity is Severity.ERROR]


def test_good_document_passes_the_volet(runner: SchematronRunner) -> None:
    out = runner.validate_with(cda(), "good.xml", [volet(runner.kit)])
    assert errors(out) == []
    evaluated = [f for f in out if f.rule.startswith("CDA.SCH.EVALUATED")]
    assert len(evaluated) == 1 and evaluated[0].severity is Severity.INFO


def test_wrong_template_fires_the_included_header_rule(runner: SchematronRunner) -> None:
    out = runner.validate_with(cda(template=""), "bad.xml", [volet(runner.kit)])
    errs = errors(out)
    assert [f.rule for f in errs] == ["CI-SIS_TEST_2024.01.sch#Entete_TEST"]
    f = errs[0]
    assert "templateId du volet absent" in f.message
    assert f.xpath == "/cda:ClinicalDocument[1]" and f.line == 2
    assert f.artefact == "bad.xml" and "templateId" in f.expected and f.message_en


def test_abstract_pattern_value_set_and_value_of(runner: SchematronRunner) -> None:
    out = runner.validate_with(cda(code="Z", sections=0), "z.xml", [volet(runner.kit)])
    msgs = sorted(f.message for f in errors(out))
    assert any("code Z hors du jeu de valeurs" in m for m in msgs), msgs
    assert any("trouvé 0" in m for m in msgs), msgs  # rule-level let + value-of
    assert not any("hors phase" in m for m in msgs)  # pattern outside the default phase


def test_roles_reports_and_dead_rule(runner: SchematronRunner) -> None:
    out = runner.validate_with(cda(title=False, conf="V"), "r.xml", [volet(runner.kit)])
    by_msg = {f.message.split(" : ", 1)[-1]: f for f in out}
    warn = next(f for m, f in by_msg.items() if "titre est recommandé" in m)
    assert warn.severity is Severity.WARNING
    report = next(f for m, f in by_msg.items() if "Confidentialité V" in m)
    assert report.severity is Severity.ERROR and report.found == "true"
    dead = [f for f in out if f.rule.startswith(DEAD_RULE_PREFIX)]
    assert len(dead) == 1 and dead[0].severity is Severity.WARNING
    assert "participant INF" in dead[0].message and dead[0].line == 2


def test_case_insensitive_include_is_said_once(runner: SchematronRunner) -> None:
    first = runner.validate_with(cda(), "a.xml", [volet(runner.kit)])
    second = runner.validate_with(cda(), "b.xml", [volet(runner.kit)])
    fixes = [f for f in first if f.rule == KIT_FIX]
    assert len(fixes) == 1 and fixes[0].severity is Severity.WARNING
    assert "entete_test.sch" in fixes[0].message
    assert not [f for f in second if f.rule == KIT_FIX]
    assert runner.compile(volet(runner.kit)).case_fixes


def test_missing_include_is_not_evaluated_and_next_schematron_still_runs(runner: SchematronRunner) -> None:
    kit = runner.kit
    out = runner.validate_with(
        cda(), "doc.xml", [kit.schematron_dir / "CI-SIS_BROKEN_2024.01.sch", volet(kit)]
    )
    ne = [f for f in out if f.rule == NOT_EVALUATED]
    assert len(ne) == 1 and ne[0].severity is Severity.ERROR
    assert "non évalué" in ne[0].message and "include/absent.sch" in ne[0].message
    assert any(f.rule == "CDA.SCH.EVALUATED:CI-SIS_TEST_2024.01.sch" for f in out)


def test_runtime_error_is_not_evaluated(runner: SchematronRunner) -> None:
    out = runner.validate_with(cda(), "doc.xml", [runner.kit.schematron_dir / "CI-SIS_RUNTIME_2024.01.sch"])
    assert [f.rule for f in errors(out)] == [NOT_EVALUATED]
    assert "erreur d'exécution" in errors(out)[0].message


def test_dynamic_vocabulary_is_synthesized_in_the_cache(runner: SchematronRunner) -> None:
    kit = runner.kit
    prof = kit.schematron_dir / "profils" / "P1.sch"
    good = runner.validate_with(cda(code="B"), "b.xml", [prof])
    assert errors(good) == []
    assert any(f.rule == KIT_FIX and "synthétisé" in f.message for f in good)
    bad = runner.validate_with(cda(code="Q"), "q.xml", [prof])
    assert [f.rule for f in errors(bad)] == ["P1.sch#type-code"]
    made = runner.cache_dir / "voc" / "voc-1.2.3.4.5-DYNAMIC.xml"
    assert made.is_file()
    assert not (kit.schematron_dir / "profils" / "include" / "voc-1.2.3.4.5-DYNAMIC.xml").exists()


def test_selection_from_templates_and_pis(runner: SchematronRunner) -> None:
    kit = runner.kit
    assert runner.schematrons_for(cda()) == [volet(kit)]
    sel = runner.select(cda(template=""))
    assert sel.volets == [] and [n.rule for n in sel.notes] == [NO_VOLET]
    pis = (
        '<?oxygen SCHSchema="../schematrons/profils/P1.sch"?>\n'
        '<?oxygen SCHSchema="../Schematrons/CI-SIS_TEST_2024.01.sch"?>\n'
        '<?oxygen SCHSchema="../../../../../etc/passwd.sch"?>\n'
    )
    sel = runner.select(cda(template="", pis=pis))
    assert sel.volets == [volet(kit)]
    assert sel.profiles == [kit.schematron_dir / "profils" / "P1.sch"]
    assert [n.rule for n in sel.notes] == [PI_IGNORED]


def test_non_cda_input_gives_findings_not_a_traceback(runner: SchematronRunner) -> None:
    out = runner.validate(parse_bytes(b"<foo/>"), "foo.xml")
    assert any(f.rule == NO_VOLET for f in out)


def test_generated_xslt_is_cached_on_disk_for_the_next_process(runner: SchematronRunner) -> None:
    runner.compile(volet(runner.kit))
    script = textwrap.dedent(
        f"""
        import json, os
        from pathlib import Path
        os.environ["SEGUR_CONFORMANCE_CACHE"] = {str(runner.cache_dir.parent / "home")!r}
        from conformance.cda.kit import Kit
        from conformance.cda.schematron import SchematronRunner
        kit = Kit.open({str(runner.kit.path)!r})
        r = SchematronRunner(kit, Path({str(runner.cache_dir.parent)!r}))
        rep = r.compile(kit.schematron_dir / "CI-SIS_TEST_2024.01.sch")
        print(json.dumps({{"from_disk": rep.from_disk, "usable": rep.usable, "dead": rep.dead_rules}}))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"from_disk": True, "usable": True, "dead": 1}


def test_compiled_stylesheet_resolves_value_sets_against_the_kit(runner: SchematronRunner) -> None:
    runner.compile(volet(runner.kit))
    xsl = next(runner.cache_dir.glob("xsl/CI-SIS_TEST_2024.01.*.xsl"))
    root = etree.parse(str(xsl)).getroot()
    assert root.get("{http://www.w3.org/XML/1998/namespace}base") == volet(runner.kit).resolve().as_uri()
    assert root.get("{urn:segur-conformance:schematron}active-patterns") == "3"


def test_svrl_reader_and_severity_words() -> None:
    svrl = b"""<svrl:schematron-output xmlns:svrl="http://purl.oclc.org/dsdl/svrl" title="t">
      <svrl:active-pattern id="p1"/>
      <svrl:fired-rule context="x"/>
      <svrl:failed-assert test="a" location="/a[1]" role="fatal"><svrl:text> un   texte </svrl:text></svrl:failed-assert>
      <svrl:successful-report test="b" location="/a[1]" id="r1"><svrl:text>rep</svrl:text></svrl:successful-report>
    </svrl:schematron-output>"""
    rep = parse_svrl(svrl)
    assert rep.fired_rules == 1 and rep.active_patterns == 1
    assert [r.text for r in rep.failed_asserts] == ["un texte"]
    assert rep.successful_reports[0].id == "r1" and rep.successful_reports[0].pattern == "p1"
    assert severity_of("fatal") is Severity.ERROR
    assert severity_of("Warning") is Severity.WARNING
    assert severity_of("info") is Severity.INFO
    assert severity_of("") is Severity.ERROR


def test_module_cache_is_shared_between_runners(fake: tuple[Kit, Path]) -> None:
    kit, cache = fake
    a = SchematronRunner(kit, cache)
    b = SchematronRunner(kit, cache)
    assert a._get(volet(kit)) is b._get(volet(kit))
    assert sch_mod.compiler_digest() == a._digest
