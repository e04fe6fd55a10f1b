"""Deliberate corruptions of the official CI-SIS examples, each with the requirement it breaks and the
rule of layer 3 (built-in models) that must catch it. Layer 3 alone runs here (no kit needed); the
layers 1–2 columns of the table in benchmarks/README.md ("CDA mutation table") were measured with
the kit by ``mutation_table()`` below (``python tests/test_cda_mutations.py --kit ../shared/cisis-kit``).
"""

from __future__ import annotations

import copy
import functools
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from lxml import etree

from conformance.cda.validate import validate_document
from conformance.safexml import parse_bytes

SHARED = Path(os.environ.get("SEGUR_SHARED") or Path(__file__).resolve().parents[2] / "shared")
EXAMPLES = {
    "DLU": SHARED / "cisis-kit/ExemplesCDA/DLU-EHPAD-DLU_2022.01.xml",
    "FLUDT": SHARED / "cisis-kit/ExemplesCDA/DLU-EHPAD-FLUDT_2022.01.xml",
    "FLUDR": SHARED / "cisis-kit/ExemplesCDA/DLU-EHPAD-FLUDR_2022.01.xml",
    "VSM": SHARED / "cisis-kit/ExemplesCDA/VSM_1.4_2022.01.xml",
    "IPS": SHARED / "cisis-kit/ExemplesCDA/IPS-FR_2024.01.xml",
    "IPS-DLU": SHARED / "cisis-kit/ExemplesCDA/IPS-FR_2024.01_DLU.xml",
    "N1": SHARED / "cisis-kit/ExemplesCDA/DOC_NON_STRUCTURE_CDA-R2-N1.xml",
    "PPS": SHARED / "examples-extra/PPS-PAERPA_2021.01.xml",
    "TDDUI": SHARED / "examples-extra/CDA_TDDUI_Exemple_v1.0.1.xml",
}
pytestmark = pytest.mark.skipif(not EXAMPLES["DLU"].is_file(),
                                reason=f"official examples absent ({SHARED}); set SEGUR_SHARED")
NS = {"h": "urn:hl7-org:v3", "xsi": "http://www.w3.org/2001/XMLSchema-instance"}
BODY = "h:component/h:structuredBody/h:component/h:section"
Mutator = Callable[[etree._Element], None]


def nodes(root: etree._Element, xpath: str) -> list[etree._Element]:
    found = root.xpath(xpath, namespaces=NS)
    assert found, f"mutation target not found: {xpath}"
    return found


def drop(xpath: str, first_only: bool = False) -> Mutator:
    def run(root: etree._Element) -> None:
        for el in nodes(root, xpath)[: 1 if first_only else None]:
            el.getparent().remove(el)
    return run


def set_attr(xpath: str, name: str, value: str) -> Mutator:
    def run(root: etree._Element) -> None:
        for el in nodes(root, xpath):
            el.set(name, value)
    return run


def del_attr(xpath: str, name: str) -> Mutator:
    def run(root: etree._Element) -> None:
        for el in nodes(root, xpath):
            el.attrib.pop(name, None)
    return run


def set_text(xpath: str, value: str) -> Mutator:
    def run(root: etree._Element) -> None:
        for el in nodes(root, xpath):
            el.text = value
    return run


def duplicate(xpath: str) -> Mutator:
    def run(root: etree._Element) -> None:
        el = nodes(root, xpath)[0]
        el.addnext(copy.deepcopy(el))
    return run


def both(*steps: Mutator) -> Mutator:
    def run(root: etree._Element) -> None:
        for step in steps:
            step(root)
    return run


def add_related(type_code: str) -> Mutator:
    def run(root: etree._Element) -> None:
        anchor = nodes(root, "h:documentationOf")[0]
        rel = etree.Element(f"{{{NS['h']}}}relatedDocument", typeCode=type_code)
        parent = etree.SubElement(rel, f"{{{NS['h']}}}parentDocument")
        etree.SubElement(parent, f"{{{NS['h']}}}id", root="1.2.3.4")
        anchor.addprevious(rel)
    return run


def truncate_body(root: etree._Element) -> None:
    text = nodes(root, "h:component/h:nonXMLBody/h:text")[0]
    raw = "".join((text.text or "").split())
    text.text = raw[: len(raw) // 2 // 4 * 4]


def not_a_pdf(root: etree._Element) -> None:
    nodes(root, "h:component/h:nonXMLBody/h:text")[0].text = "R0lGODlhAQABAAAAACw="  # a GIF header


@dataclass(frozen=True)
class Mutation:
    id: str
    example: str
    what: str
    mutate: Mutator
    requirement: str
    rule: str
    expected_layers: str  # where the official chain should also catch it (L1 XSD, L2 schematrons), then L3


SEC_ID = "h:recordTarget/h:patientRole"
MUTATIONS: list[Mutation] = [
    Mutation("M01", "DLU", "realmCode FR → US", set_attr("h:realmCode", "code", "US"), "DOC/AUTO.03",
             "CDA.HDR.realmCode.value", "L2 L3"),
    Mutation("M02", "DLU", "typeId supprimé", drop("h:typeId"), "DOC/AUTO.03", "CDA.HDR.typeId.count", "L1 L3"),
    Mutation("M03", "DLU", "templateId HL7 France supprimé", drop("h:templateId[@root='2.16.840.1.113883.2.8.2.1']"),
             "DOC/AUTO.03", "CDA.HDR.templateId.hl7france", "L2 L3"),
    Mutation("M04", "DLU", "templateId du volet DLU supprimé", drop("h:templateId[@root='1.2.250.1.213.1.1.1.22']"),
             "DOC/AUTO.03", "CDA.HDR.templateId.volet", "L2 L3"),
    Mutation("M05", "DLU", "id/@root n'est ni OID ni UUID", set_attr("h:id", "root", "1.2.x"), "DOC/AUTO.03",
             "CDA.HDR.id.root", "L2 L3"),
    Mutation("M06", "DLU", "setId supprimé", drop("h:setId"), "DOC/AUTO.03", "CDA.HDR.setId.count", "L2 L3"),
    Mutation("M07", "DLU", "versionNumber « v2 »", set_attr("h:versionNumber", "value", "v2"), "DOC/AUTO.03",
             "CDA.HDR.versionNumber", "L1 L2 L3"),
    Mutation("M08", "DLU", "code du document 74207-2 → 11488-4", set_attr("h:code", "code", "11488-4"),
             "DOC/AUTO.03", "CDA.DLU.code", "L2 L3"),
    Mutation("M09", "DLU", "title supprimé", drop("h:title"), "SC.CDA/META.01", "CDA.HDR.title.count", "L2 L3"),
    # issue 12: a date without UTC offset is accepted by StrucMin (now a warning); an impossible date is not a date
    Mutation("M10", "DLU", "effectiveTime au 27e mois", set_attr("h:effectiveTime", "value", "20202703153500+0100"),
             "DOC/AUTO.03", "CDA.HDR.timestamps", "L3"),
    Mutation("M11", "DLU", "confidentialityCode X", set_attr("h:confidentialityCode", "code", "X"), "DOC/AUTO.03",
             "CDA.HDR.confidentialityCode.value", "L2 L3"),
    Mutation("M12", "DLU", "languageCode « french »", set_attr("h:languageCode", "code", "french"), "DOC/AUTO.03",
             "CDA.HDR.languageCode", "L2 L3"),
    Mutation("M13", "DLU", "INS sans lieu de naissance", drop(f"{SEC_ID}/h:patient/h:birthplace"), "SC.DOC/va1.04",
             "INS.CDA.trait.birthplace", "L2 L3"),
    Mutation("M14", "DLU", "clé du matricule INS corrompue",
             set_attr(f"{SEC_ID}/h:id[@root='1.2.250.1.213.1.4.10']", "extension", "279035121518988"),
             "SC.DOC/va1.04", "INS.MAT.key", "L3"),
    Mutation("M15", "DLU", "INS sans nom de naissance", drop(f"{SEC_ID}/h:patient/h:name/h:family[@qualifier='BR']"),
             "SC.DOC/va1.04", "INS.CDA.trait.birth_name", "L2 L3"),
    Mutation("M16", "DLU", "author supprimé", drop("h:author"), "DOC/AUTO.03", "CDA.HDR.author.count", "L1 L2 L3"),
    Mutation("M17", "DLU", "deux legalAuthenticator", duplicate("h:legalAuthenticator"), "DOC/AUTO.03",
             "CDA.HDR.legalAuthenticator.count", "L1 L2 L3"),
    Mutation("M18", "DLU", "custodian supprimé", drop("h:custodian"), "DOC/AUTO.03", "CDA.HDR.custodian.count",
             "L1 L2 L3"),
    Mutation("M19", "DLU", "performer du serviceEvent supprimé", drop("h:documentationOf/h:serviceEvent/h:performer"),
             "DOC/AUTO.03", "CDA.HDR.serviceEvent.performer", "L2 L3"),
    Mutation("M20", "DLU", "componentOf supprimé", drop("h:componentOf"), "DOC/AUTO.03",
             "CDA.HDR.encompassingEncounter.count", "L2 L3"),
    Mutation("M21", "DLU", "healthCareFacility SA99 (hors J02)",
             set_attr("h:componentOf//h:healthCareFacility/h:code", "code", "SA99"), "DOC/AUTO.03",
             "CDA.HDR.facility.J02", "L2 L3"),
    Mutation("M22", "DLU", "section Traitements supprimée",
             drop("h:component/h:structuredBody/h:component[h:section/h:templateId/@root="
                  "'1.3.6.1.4.1.19376.1.5.3.1.3.19']"), "DOC/AUTO.03",
             "CDA.DLU.section.3.19", "L2 L3"),
    Mutation("M23", "DLU", "section Dispositions en double",
             duplicate("h:component/h:structuredBody/h:component[h:section/h:templateId/@root="
                       "'1.3.6.1.4.1.19376.1.5.3.1.1.13.2.10']"), "DOC/AUTO.03", "CDA.DLU.section.2.10", "L2 L3"),
    Mutation("M24", "DLU", "document de la check-list DLU_999",
             set_attr("//h:observation[h:templateId/@root='1.2.250.1.213.1.1.3.48.18']/h:value", "code", "DLU_999"),
             "DOC/AUTO.03", "CDA.DLU.checklist", "L2 L3"),
    Mutation("M25", "DLU", "nullFlavor sur serviceEvent/effectiveTime/low",
             both(del_attr("h:documentationOf/h:serviceEvent/h:effectiveTime/h:low", "value"),
                  set_attr("h:documentationOf/h:serviceEvent/h:effectiveTime/h:low", "nullFlavor", "UNK")),
             "DOC/AUTO.03", "CDA.DLU.serviceEvent.nullFlavor", "L2 L3"),
    Mutation("M26", "DLU", "médecin traitant (participant PCP) supprimé",
             drop("h:participant[h:functionCode/@code='PCP']"), "DOC/AUTO.03", "CDA.DLU.participant.pcp", "L2 L3"),
    Mutation("M27", "DLU", "section plan de soins : code 00000-0",
             set_attr(f"{BODY}[h:templateId/@root='1.3.6.1.4.1.19376.1.5.3.1.3.36']/h:code", "code", "00000-0"),
             "DOC/AUTO.03", "CDA.CAREPLAN.code", "L2 L3"),
    # issue 12: typeCode XFRM is allowed by the CDA XSD and StrucMin (CDA.HDR.relatedDocument.rplc now warns)
    Mutation("M28", "DLU", "deux relatedDocument RPLC", both(add_related("RPLC"), add_related("RPLC")), "DOC/AUTO.03",
             "CDA.HDR.relatedDocument.count", "L1 L2 L3"),
    Mutation("M29", "FLUDT", "motif du transfert : code 57277-6 → 00000-0",
             set_attr(f"{BODY}[h:templateId/@root='1.3.6.1.4.1.19376.1.7.3.1.1.13.7']/h:entry/h:observation/h:code",
                      "code", "00000-0"), "DOC/AUTO.03", "CDA.FLUDT.events.code", "L2 L3"),
    Mutation("M30", "FLUDT", "état de conscience (DLU_002-004) supprimé",
             set_attr(f"{BODY}[h:templateId/@root='1.3.6.1.4.1.19376.1.5.3.1.3.28']/h:entry/h:observation"
                      "/h:code[@code='DLU_002' or @code='DLU_003' or @code='DLU_004']", "code", "DLU_099"),
             "DOC/AUTO.03", "CDA.FLUDT.consciousness", "L2 L3"),
    Mutation("M31", "FLUDR", "section Documents ajoutés supprimée",
             drop("h:component/h:structuredBody/h:component[h:section/h:templateId/@root='1.2.250.1.213.1.1.2.37']"),
             "DOC/AUTO.03", "CDA.FLUDR.section.2.37", "L2 L3"),
    Mutation("M32", "VSM", "sous-section Facteurs de risque supprimée",
             drop("//h:component[h:section/h:templateId/@root='1.2.250.1.213.1.1.2.31']"), "DOC/AUTO.03",
             "CDA.VSM.section.2.29.parts", "L2 L3"),
    Mutation("M33", "VSM", "code SYNTH → SYNTHESE", set_attr("h:code", "code", "SYNTHESE"), "DOC/AUTO.03",
             "CDA.VSM.code", "L2 L3"),
    Mutation("M34", "VSM", "section Traitement au long cours supprimée",
             drop("h:component/h:structuredBody/h:component[h:section/h:templateId/@root='1.2.250.1.213.1.1.2.32']"),
             "DOC/AUTO.03", "CDA.VSM.section.2.32", "L2 L3"),
    Mutation("M35", "IPS", "section Antécédents chirurgicaux supprimée",
             drop("h:component/h:structuredBody/h:component[h:section/h:templateId/@root="
                  "'1.3.6.1.4.1.19376.1.5.3.1.3.11']"), "DOC/AUTO.03", "CDA.IPS.section.3.11", "L2 L3"),
    Mutation("M36", "IPS-DLU", "participants INF sans médecin traitant ni établissement de préférence",
             set_attr("h:participant[@typeCode='INF']/h:functionCode", "code", "ES-REF"), "DOC/AUTO.03",
             "CDA.IPS.participant.inf", "L2 L3"),
    Mutation("M37", "IPS-DLU", "section statut fonctionnel : code 47420-5 → 00000-0",
             set_attr(f"{BODY}[h:templateId/@root='1.2.250.1.213.1.1.2.246']/h:code", "code", "00000-0"),
             "DOC/AUTO.03", "CDA.EVAL.section.code", "L2 L3"),
    Mutation("M38", "N1", "PDF tronqué", truncate_body, "SC.DOC/va1.04", "CDA.N1.pdf.eof", "L3"),
    Mutation("M39", "N1", "contenu GIF déclaré application/pdf", not_a_pdf, "SC.DOC/va1.04",
             "CDA.N1.body.mediaType", "L3"),
    Mutation("M40", "N1", "representation TXT au lieu de B64",
             set_attr("h:component/h:nonXMLBody/h:text", "representation", "TXT"), "SC.DOC/va1.04",
             "CDA.N1.representation", "L3"),
    Mutation("M41", "N1", "templateId XDS-SD supprimé", drop("h:templateId[@root='1.3.6.1.4.1.19376.1.2.20']"),
             "SC.DOC/va1.04", "CDA.HDR.templateId.n1.xdssd", "L2 L3"),
    Mutation("M42", "PPS", "section Dispositions médico-sociales supprimée",
             drop("h:component/h:structuredBody/h:component[h:section/h:templateId/@root='1.2.250.1.213.1.1.2.44']"),
             "DOC/AUTO.03", "CDA.PPS.section.2.44", "L3 (L2: Kit-241 only)"),
    Mutation("M43", "TDDUI", "GIR hors JDV_GIR (MED-999)",
             set_attr("//h:organizer[h:code/@code='MED-1292']/h:component/h:observation/h:value", "code", "MED-999"),
             "DOC/AUTO.03", "CDA.EVAL.aggir.gir", "L3"),
    Mutation("M44", "TDDUI", "item AGGIR avec 3 réponses au lieu de 4",
             drop("(//h:observation[h:templateId/@root='1.2.250.1.213.1.1.3.214'])[1]/h:entryRelationship[1]"),
             "DOC/AUTO.03", "CDA.EVAL.aggir.component.n2", "L3"),
    Mutation("M45", "TDDUI", "évaluation SSIAD avec une valeur au lieu de nullFlavor NA",
             both(del_attr("//h:organizer[h:code/@code='MED-1290']/h:component/h:observation/h:value", "nullFlavor"),
                  set_attr("//h:organizer[h:code/@code='MED-1290']/h:component/h:observation/h:value", "code",
                           "MED-340")), "DOC/AUTO.03", "CDA.EVAL.situation.value", "L3"),
]


@functools.cache
def example(name: str) -> bytes:
    return EXAMPLES[name].read_bytes()


def mutated(m: Mutation) -> bytes:
    root = parse_bytes(example(m.example)).getroot()
    m.mutate(root)
    return etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8")


def test_at_least_thirty_distinct_mutations() -> None:
    assert len(MUTATIONS) >= 30
    assert len({m.id for m in MUTATIONS}) == len(MUTATIONS)
    assert len({(m.example, m.what) for m in MUTATIONS}) == len(MUTATIONS)


@pytest.mark.parametrize("m", MUTATIONS, ids=[m.id for m in MUTATIONS])
def test_layer_3_catches_each_mutation(m: Mutation) -> None:
    result = validate_document(mutated(m), f"{m.id}-{m.example}.xml", layers=("models",))
    errors = [f for f in result.errors if f.rule == m.rule]
    assert errors, f"{m.id} ({m.what}) not caught by {m.rule}; errors: {[f.rule for f in result.errors]}"
    assert all(f.xpath and f.message and f.message_en for f in errors)
    assert any(m.requirement in f.requirements for f in errors), [f.requirements for f in errors]


# -- the table of benchmarks/README.md -------------------------------------------------------------------
def mutation_table(kit_path: str | None = None) -> str:
    """Markdown table: each mutation, its requirement, and the layers that caught it (measured: new
    ERROR findings of layers 1 and 2 compared with the unmutated example)."""
    kit = runner = None
    if kit_path:
        from conformance.cda.validate import open_kit, schematron_runner

        kit = open_kit(kit_path)
        runner = schematron_runner(kit)
    lines = ["| id | example | corruption | requirement | expected | L1 XSD | L2 schematrons | L3 rule |",
             "|---|---|---|---|---|---|---|---|"]
    baseline: dict[str, tuple[int, int]] = {}

    def kit_errors(data: bytes, name: str) -> tuple[int, int]:
        r1 = validate_document(data, name, kit, layers=("xsd",))
        r2 = validate_document(data, name, kit, runner, layers=("schematron",))
        return len(r1.errors), len(r2.errors)

    for m in MUTATIONS:
        data = mutated(m)
        l1 = l2 = "–"
        if kit is not None:
            if m.example not in baseline:
                baseline[m.example] = kit_errors(example(m.example), m.example)
            e1, e2 = kit_errors(data, m.id)
            b1, b2 = baseline[m.example]
            l1, l2 = f"+{e1 - b1}" if e1 != b1 else "0", f"+{e2 - b2}" if e2 != b2 else "0"
        r3 = validate_document(data, m.id, layers=("models",))
        caught = "✔ " if any(f.rule == m.rule for f in r3.errors) else "✘ "
        lines.append(f"| {m.id} | {m.example} | {m.what} | {m.requirement} | {m.expected_layers} | {l1} | {l2} | "
                     f"{caught}`{m.rule}` |")
    return "\n".join(lines)


if __name__ == "__main__":  # python tests/test_cda_mutations.py [--kit PATH]
    kit_arg = sys.argv[sys.argv.index("--kit") + 1] if "--kit" in sys.argv else None
    print(mutation_table(kit_arg))
