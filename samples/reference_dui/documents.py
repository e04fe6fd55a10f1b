"""The reference DUI's documents: every in-scope type rendered from its own Jinja2 template.

Why templates and not copies of the official examples: the sandbox must show what a DUI *produces*
for *its* resident (identity, INS only when qualified, its facility), and the harness's own tests
must prove that each defect switch below is caught, which needs documents we control line by line.
Structured types follow their CI-SIS volet (templates/*.xml.j2, cda.md); the others are CDA R2 N1
documents embedding a small PDF this module writes itself.

Entry point (docs/architecture.md): ``render(doc_type, resident, defects, *, replaces=None) -> bytes``.
"""

from __future__ import annotations

import base64
import functools
import os
import uuid
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import yaml
from segur_reference_dui.xmlsafe import parse

LOINC = "2.16.840.1.113883.6.1"
TRE_A05 = "1.2.250.1.213.1.1.4.12"
TEMPLATES = Path(__file__).with_name("templates")
HL7 = "{urn:hl7-org:v3}"
ENV_CORRIDORS = "SEGUR_CORRIDORS_DIR"

DEFECTS: dict[str, str] = {
    "missing_section": "Omet une section obligatoire du volet (DLU : Traitements ; VSM : Traitement au long cours…)",
    "wrong_code": "ClinicalDocument/code erroné (11488-4 au lieu du code du type demandé)",
    "ins_without_traits": "INS transmis sans les traits d'identité obligatoires (nom de naissance, lieu de naissance)",
    "ins_for_unqualified": "INS transmis dans le recordTarget pour une identité non qualifiée (Règle 28)",
    "author_time_day_first": "Horodatage de l'auteur (author/time) écrit jour-mois-année (JJMMAAAAhhmmss) : date impossible",
    "wrong_facility_type": "Type d'établissement sanitaire (SA01) au lieu d'un code médico-social",
    "bad_n1_pdf": "PDF embarqué tronqué dans les documents non structurés (N1)",
    "n1_wrong_media_type": "Type MIME déclaré image/jpeg pour un PDF embarqué (N1)",
    "two_legal_authenticators": "Deux legalAuthenticator au lieu d'un seul",
    "gir_out_of_valueset": "Grille d'évaluation : GIR hors du JDV_GIR_CISIS",
    "replacement_without_link": "Document de remplacement sans relatedDocument RPLC vers la version remplacée",
    "xsd_invalid_element": "Élément hors schéma CDA (segurNote) dans le texte de la première section (documents structurés)",
    "schematron_violation": "Deux prénoms (given) dans le nom du legalAuthenticator : StrucMin en admet au plus un",
    "missing_document_type": "Le PPA n'est ni déclaré (capabilities) ni produit",
    "generic_title": "Titre du document réduit au libellé générique du type (ex. « Dossier de liaison d'urgence »)",
}

# The reference EHPAD and its people: invented identifiers (no real FINESS or RPPS).
FINESS = "990000018"
ORGANIZATION = {
    "finess": FINESS,
    "id": "1" + FINESS,
    "name": "EHPAD DE REFERENCE SEGUR-CONFORMANCE",
    "phone": "0100000000",
    "facility_code": "SA17",
    "facility_label": "Etablissement pour personnes âgées",
    "patient_id_root": "2.25.245627315640233457823004119640722148411",
    "eval_id_root": "2.25.245627315640233457823004119640722148412",
    "hospital_id": "1990000026",
    "hospital_name": "CENTRE HOSPITALIER DE REFERENCE",
}
# A personal item of JDV_ProtheseObjetPersonnel (EMDN code for glasses).
PROSTHESIS = {"code": "Q021003", "system": "1.2.250.1.213.2.68", "label": "Lunettes prêtes à porter (ou lunettes montées)"}
AUTHOR = {"rpps": "810100000001", "prefix": "MME", "given": "Claire", "family": "COORDINATRICE",
          "specialty": ("G15_10/SM26", "1.2.250.1.213.1.1.4.5", "Médecin - Qualifié en Médecine Générale (SM)")}
ATTENDING_PHYSICIAN = {"rpps": "810100000002", "prefix": "M", "given": "Jean", "family": "TRAITANT"}
SEX_LABELS = {"F": "Féminin", "M": "Masculin", "U": "Inconnu"}


@dataclass(frozen=True)
class DocSpec:
    """A structured document type: its template, volet templateId, service event and the section the
    ``missing_section`` defect removes."""

    template: str
    template_ids: tuple[tuple[str, str], ...]
    code: tuple[str, str, str]
    service_event: tuple[str, str, str] | None
    attending_physician: bool
    omittable: str


STRUCTURED: dict[str, DocSpec] = {
    "DLU": DocSpec("dlu.xml.j2", (("1.2.250.1.213.1.1.1.22", "2022.01"),),
                   ("74207-2", LOINC, "Dossier de liaison d'urgence"), ("34117-2", LOINC, "Historique et clinique"),
                   True, "1.3.6.1.4.1.19376.1.5.3.1.3.19"),
    "FLUDT": DocSpec("fludt.xml.j2", (("1.2.250.1.213.1.1.1.23", "2022.01"),),
                     ("74207-2", LOINC, "Dossier de liaison d'urgence"),
                     ("28651-8", LOINC, "Transfert du patient"), True, "1.3.6.1.4.1.19376.1.5.3.1.3.19"),
    "FLUDR": DocSpec("fludr.xml.j2", (("1.2.250.1.213.1.1.1.24", "2022.01"),),
                     ("74207-2", LOINC, "Dossier de liaison d'urgence"),
                     ("28651-8", LOINC, "Transfert du patient"), True, "1.3.6.1.4.1.19376.1.5.3.1.3.22"),
    "VSM": DocSpec("vsm.xml.j2", (("1.2.250.1.213.1.1.1.13", "201310"),), ("SYNTH", TRE_A05, "Synthèse"),
                   ("34117-2", LOINC, "Historique et clinique"), True, "1.2.250.1.213.1.1.2.32"),
    "IPS-FR": DocSpec("ips-fr.xml.j2", (("2.16.840.1.113883.10.22.1.1", ""), ("1.2.250.1.213.1.1.1.51", "2024.01")),
                      ("60591-5", LOINC, "Synthèse médicale"), None, True, "1.3.6.1.4.1.19376.1.5.3.1.3.19"),
    "PPS": DocSpec("pps.xml.j2", (("1.2.250.1.213.1.1.1.20", "2021.01"),),
                   ("18776-5", LOINC, "Plan personnalisé de soins"), ("18776-5", LOINC, "Plan personnalisé de soins"),
                   True, "1.2.250.1.213.1.1.2.35"),
    "GRILLE-EVAL": DocSpec("grille-eval.xml.j2", (("1.2.250.1.213.1.1.1.58", "1.0.1"),),
                           ("34842-5", LOINC, "Grille d'évaluation médico-social"), None, False,
                           "1.2.250.1.213.1.1.2.246"),
}
# Sent as CDA R2 N1 with a PDF: the PPA (no CI-SIS volet, cda.md §6) and the corridors' other documents.
N1_TYPES: tuple[str, ...] = ("PPA", "BILAN-ENFANT", "CR-EXAMEN-ENFANT", "AUTORIS-SOINS", "PAI", "DOC-MS",
                             "ATTESTATION", "DOC-ADMIN", "BIL-AUTO", "PPP", "LETTRE-LIAISON")
SUPPORTED_TYPES: tuple[str, ...] = ("PPA", *STRUCTURED, *N1_TYPES[1:])


def declared_types(defects: Iterable[str] = ()) -> tuple[str, ...]:
    """The types the sandbox declares and produces (``missing_document_type`` drops the PPA)."""
    if "missing_document_type" in set(defects):
        return tuple(t for t in SUPPORTED_TYPES if t != "PPA")
    return SUPPORTED_TYPES

WRONG_CODE = ("11488-4", LOINC, "CR ou fiche de consultation ou de visite")
AGGIR_ANSWERS = (("MED-1307", "fait spontanément"), ("MED-1308", "fait totalement"),
                 ("MED-1309", "fait correctement"), ("MED-1310", "fait habituellement"))


class UnsupportedDocumentType(ValueError):
    pass


# ---------------------------------------------------------------------------------------------
# rendering
# ---------------------------------------------------------------------------------------------
@functools.cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    env.globals["uid"] = lambda: str(uuid.uuid4()).upper()
    return env


def _published(*parts: str) -> Path:
    """A file of the published corridor and value-set data (package ``segur_profiles``), read as data: the
    document kinds a corridor asks for and their XDS typeCode are the ANS's tables, not the harness's code.
    ``SEGUR_CORRIDORS_DIR`` points at another corridor folder, as for the harness."""
    if parts[0] == "corridors" and os.environ.get(ENV_CORRIDORS):
        return Path(os.environ[ENV_CORRIDORS]).joinpath(*parts[1:])
    return Path(str(resources.files("segur_profiles").joinpath(*parts)))


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@functools.cache
def _valueset(vs_id: str) -> dict[str, str]:
    """code → label of a published value set (first label of each code, in the file's order)."""
    for path in sorted(_published("valuesets").glob("*.yaml")):
        data = _yaml(path)
        if isinstance(data, dict) and data.get("id") == vs_id:
            labels: dict[str, str] = {}
            for item in data.get("concepts") or []:
                labels.setdefault(str(item.get("code")), str(item.get("label") or ""))
            return labels
    raise LookupError(f"value set {vs_id} not found")


@functools.cache
def _type_table() -> dict[str, tuple[str, str, str]]:
    """doc type → (typeCode, code system, display) from the corridors' document table and J07 labels."""
    labels = _valueset("J07")
    out = {}
    for item in _yaml(_published("corridors", "_document_types.yaml"))["document_types"]:
        type_code = str(item["type_code"])
        out[str(item["code"])] = (type_code, str(item["code_system"]), labels.get(type_code) or str(item["label"]))
    return out


def _get(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _now() -> datetime:
    try:
        from zoneinfo import ZoneInfo

        return datetime.now(ZoneInfo("Europe/Paris")).replace(microsecond=0)
    except Exception:  # no tz database on this machine: UTC still carries an explicit offset
        return datetime.now(UTC).replace(microsecond=0)


def _ts(moment: datetime, with_zone: bool = True) -> str:
    return moment.strftime("%Y%m%d%H%M%S%z" if with_zone else "%Y%m%d%H%M%S")


def _patient(resident: Any, defects: frozenset[str]) -> dict[str, Any]:
    traits = _get(resident, "traits") or {}
    given = _get(traits, "given_names") or []
    given_text = " ".join(given) if isinstance(given, list | tuple) else str(given)
    sex = str(_get(traits, "sex") or "U")
    status = str(_get(resident, "status") or "PROV")
    ins = _get(resident, "ins")
    # ins_shared_unqualified is the INS room's switch for the same fault on every channel (insi_client.py)
    share = bool(ins) and (status == "QUAL" or bool(defects & {"ins_for_unqualified", "ins_shared_unqualified"}))
    patient = {
        "ipp": str(_get(resident, "id") or "R0"),
        "ins": {"oid": ins["oid"], "matricule": ins["matricule"]} if share else None,
        "birth_name": str(_get(traits, "birth_name") or ""),
        "given_names": given_text,
        "first_given_name": str(_get(traits, "first_given_name") or (given_text.split(" ")[0] if given_text else "")),
        "used_name": str(_get(resident, "used_name") or ""),
        "used_given_name": str(_get(resident, "used_given_name") or ""),
        "sex": sex,
        "sex_label": SEX_LABELS.get(sex, "Inconnu"),
        "birth_time": str(_get(traits, "birth_date") or "").replace("-", ""),
        "birthplace_code": str(_get(traits, "birthplace_code") or ""),
    }
    if share and "ins_without_traits" in defects:
        patient["birth_name"] = ""
        patient["birthplace_code"] = ""
    return patient


def _previous(replaces: Any) -> dict[str, Any] | None:
    """setId, version and id of the document being replaced (read from its own CDA)."""
    if replaces is None:
        return None
    root = parse(bytes(_get(replaces, "cda"))).getroot()
    doc_id = root.find(f"{HL7}id")
    set_id = root.find(f"{HL7}setId")
    version_el = root.find(f"{HL7}versionNumber")
    id_root = doc_id.get("root", "") if doc_id is not None else ""
    try:
        version = int(version_el.get("value") or "1") if version_el is not None else 1
    except ValueError:
        version = 1
    return {"id_root": id_root, "id_extension": doc_id.get("extension", "") if doc_id is not None else "",
            "set_id_root": (set_id.get("root", "") if set_id is not None else "") or id_root, "version": version}


def render(doc_type: str, resident: Any, defects: Iterable[str] = (), *, replaces: Any = None) -> bytes:
    """The CDA R2 document of ``doc_type`` for ``resident``, with the given defects injected."""
    active = frozenset(defects)
    if doc_type not in declared_types(active):
        raise UnsupportedDocumentType(f"type de document non produit : {doc_type}")
    now = _now()
    previous = _previous(replaces)
    org = dict(ORGANIZATION)
    if "wrong_facility_type" in active:
        org.update(facility_code="SA01", facility_label="Etablissement public de santé")
    patient = _patient(resident, active)
    structured = STRUCTURED.get(doc_type)
    if structured is not None:
        code = structured.code
        template = structured.template
        spec = {"template_ids": structured.template_ids, "service_event": structured.service_event,
                "attending_physician": structured.attending_physician}
    else:
        code = _type_table()[doc_type]
        template = "n1.xml.j2"
        spec = {"template_ids": (("1.3.6.1.4.1.19376.1.2.20", ""),), "service_event": None,
                "attending_physician": False}
    if "wrong_code" in active:
        code = WRONG_CODE
    title = code[2] if "generic_title" in active else _title(doc_type, code[2], patient)
    doc = {
        "id_root": str(uuid.uuid4()).upper(),
        "set_id_root": previous["set_id_root"] if previous else str(uuid.uuid4()).upper(),
        "version": previous["version"] + 1 if previous else 1,
        "code": code[0], "code_system": code[1], "code_display": code[2],
        "title": title,
        "effective_time": _ts(now),
        "stay_start": (now - timedelta(days=90)).strftime("%Y%m%d"),
        "treatment_end": (now + timedelta(days=30)).strftime("%Y%m%d"),
    }
    related = None
    if previous and "replacement_without_link" not in active:
        related = {"root": previous["id_root"], "extension": previous["id_extension"]}
    context = {
        "spec": spec, "doc": doc, "patient": patient, "org": org, "author": AUTHOR, "gp": ATTENDING_PHYSICIAN,
        "related": related, "legal_authenticators": 2 if "two_legal_authenticators" in active else 1,
        "omit": {structured.omittable} if structured and "missing_section" in active else set(),
        "grid": _grid(now, active) if doc_type == "GRILLE-EVAL" else None,
        "prosthesis": PROSTHESIS,
        "attachment_b64": _attachment() if structured else "",
        "body": _n1_body(title, patient, org, now, active) if structured is None else None,
    }
    data = _environment().get_template(template).render(**context).encode("utf-8")
    if active & {"xsd_invalid_element", "schematron_violation", "author_time_day_first"}:
        data = _inject(data, active, now)
    return data


def _inject(data: bytes, active: frozenset[str], now: datetime) -> bytes:
    """Faults only the official layers see: one outside the CDA schema, one only a schematron forbids."""
    from lxml import etree

    ns = "{urn:hl7-org:v3}"
    root = etree.fromstring(data)
    if "xsd_invalid_element" in active:
        text = root.find(f"{ns}component/{ns}structuredBody/{ns}component/{ns}section/{ns}text")
        if text is not None:
            etree.SubElement(text, f"{ns}segurNote").text = "hors schéma"
    if "author_time_day_first" in active:
        for time in root.findall(f"{ns}author/{ns}time"):
            time.set("value", now.strftime("%d%m%Y%H%M%S%z"))
    if "schematron_violation" in active:
        for given in root.findall(f"{ns}legalAuthenticator/{ns}assignedEntity/{ns}assignedPerson/{ns}name/{ns}given"):
            twin = etree.Element(f"{ns}given")
            twin.text = "Marie"
            given.addnext(twin)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


@functools.cache
def _attachment() -> str:
    """The document attached in the "Documents ajoutés" sections (a one-page PDF, base64)."""
    return base64.b64encode(make_pdf(["Grille AGGIR (la plus récente)", "", "Document de démonstration, données fictives."])
                            ).decode("ascii")


def _title(doc_type: str, label: str, patient: Mapping[str, Any]) -> str:
    name = patient.get("used_name") or patient.get("birth_name") or ""
    return f"{label} — {name}".strip(" —") if name else label


def _grid(now: datetime, defects: frozenset[str]) -> dict[str, Any]:
    items = _valueset("AGGIR_PA")
    gir = ("MED-999", "GIR-9") if "gir_out_of_valueset" in defects else ("MED-341", "GIR-3")
    return {
        "date": now.strftime("%Y%m%d"),
        "number": now.strftime("%Y%m%d%H%M%S"),
        "type_code": "MED-1293", "type_label": "Evaluation AGGIR PA SSIAD",
        "gir_code": gir[0], "gir_label": gir[1],
        "components": [{"code": code, "label": label.strip(), "value": "qf0" if i % 3 else "qf2",
                   "value_label": "", "done": bool(i % 3)} for i, (code, label) in enumerate(items.items())],
        "answers": AGGIR_ANSWERS,
    }


def _n1_body(title: str, patient: Mapping[str, Any], org: Mapping[str, Any], now: datetime,
             defects: frozenset[str]) -> dict[str, str]:
    names = " ".join(p for p in (patient.get("birth_name"), patient.get("given_names")) if p)
    birth = str(patient.get("birth_time") or "")
    pdf = make_pdf([
        title,
        "",
        f"Usager : {names or 'non renseigné'}",
        f"Né(e) le : {birth[6:8]}/{birth[4:6]}/{birth[0:4]}" if len(birth) == 8 else "Né(e) le : non renseigné",
        f"Etablissement : {org.get('name')}",
        f"Document produit le {now.strftime('%d/%m/%Y à %H:%M')}",
        "",
        "Document de démonstration du DUI de référence segur-conformance.",
        "Toutes les données sont fictives.",
    ])
    if "bad_n1_pdf" in defects:
        pdf = pdf[: len(pdf) * 3 // 5]
    media = "image/jpeg" if "n1_wrong_media_type" in defects else "application/pdf"
    return {"media_type": media, "b64": base64.b64encode(pdf).decode("ascii")}


# ---------------------------------------------------------------------------------------------
# a small valid PDF (one page of text, Helvetica, WinAnsi), written by hand: no PDF library needed
# ---------------------------------------------------------------------------------------------
def _pdf_text(text: str) -> bytes:
    raw = text.encode("cp1252", "replace")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def make_pdf(lines: list[str]) -> bytes:
    """A one-page PDF 1.4 with the given lines; offsets and xref computed, so readers open it."""
    stream = b"BT /F1 12 Tf 56 780 Td 16 TL\n" + b"".join(b"(" + _pdf_text(line) + b") Tj T*\n" for line in lines)
    stream += b"ET\n"
    content = zlib.compress(stream)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> "
        b"/Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Length " + str(len(content)).encode() + b" /Filter /FlateDecode >>\nstream\n" + content
        + b"\nendstream",
        b"<< /Producer (segur-conformance reference DUI) /Title (" + _pdf_text(lines[0] if lines else "") + b") >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n".encode() + b"0000000000 65535 f \n"
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += (f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info {len(objects)} 0 R >>\n"
            f"startxref\n{xref}\n%%EOF\n").encode()
    return bytes(out)
