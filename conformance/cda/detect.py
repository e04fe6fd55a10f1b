"""Which kind of document a CDA is, from its templateIds and its code.

Why both: the volet templateId names the content model (DLU-EHPAD, VSM, IPS-FR…), but the DLU family
shares one code (74207-2, cda.md §9.2) and an N1 document has no volet at all, only the XDS-SD
templateId, so its kind can only come from ``ClinicalDocument/code`` through the document-type table
(profiles/corridors/_document_types.yaml). The volet table itself is data: each model file's
``detect`` block (profiles/documents/*.yaml).

Detection never raises and never decides conformance: a conflict (volet says DLU, code says
something else) is recorded in ``notes`` and the model rules report it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from lxml import etree

from conformance.ihe.cda_header import (
    CISIS_TEMPLATE,
    HL7,
    HL7_FRANCE_TEMPLATE,
    N1_FORMAT_CODES,
    UNREFERENCED_FORMAT_CODE,
    XDS_SD_TEMPLATE,
    CdaHeader,
)
from conformance.profiles import document_types

UNKNOWN = "INCONNU"
N1_GENERIC = "N1"


@dataclass(frozen=True)
class Detection:
    """The detected kind: ``doc_type`` is a document-type code (PPA, DLU, VSM…), ``N1`` for an
    unlisted non-structured document, or ``INCONNU``."""

    doc_type: str
    structured: bool
    code: str = ""
    code_system: str = ""
    volet_template: str = ""
    volet_extension: str = ""
    model: str = ""
    format_code: str | None = None
    notes: tuple[str, ...] = field(default=())
    model_versions: tuple[str, ...] = ()  # the volet versions the built-in model implements

    @property
    def version_unsupported(self) -> bool:
        """The document declares a volet version the built-in model does not implement."""
        return bool(self.model_versions and self.volet_extension
                    and self.volet_extension not in self.model_versions)

    @property
    def known(self) -> bool:
        return self.doc_type not in (UNKNOWN, N1_GENERIC)


@dataclass(frozen=True)
class _VoletSpec:
    model: str
    doc_type: str
    template: str
    codes: tuple[str, ...]
    format_code: str
    versions: tuple[str, ...] = ()


@functools.cache
def _volets() -> tuple[_VoletSpec, ...]:
    from conformance.cda.models import ModelLibrary

    out = []
    for m in ModelLibrary.default().models:
        for template in m.detect_templates:
            doc_type = m.doc_types[0] if m.doc_types and m.doc_types[0] != "*" else m.id
            out.append(_VoletSpec(m.id, doc_type, template, m.detect_codes, m.format_code, m.versions))
    return tuple(out)


@functools.cache
def _type_codes() -> tuple[tuple[str, str, bool], ...]:
    """(typeCode, document-type code, is the preferred code) from the corridors' document table."""
    out: list[tuple[str, str, bool]] = []
    for dt in document_types().values():
        out.append((dt.type_code, dt.code, True))
        out.extend((alt, dt.code, False) for alt in dt.alt_type_codes)
    return tuple(out)


def doc_type_for_code(code: str) -> str | None:
    """The document type whose preferred typeCode is ``code`` (else whose alternative code is)."""
    table = _type_codes()
    for type_code, doc_type, preferred in table:
        if preferred and type_code == code:
            return doc_type
    for type_code, doc_type, _ in table:
        if type_code == code:
            return doc_type
    return None


def format_code_for_templates(template_roots: tuple[str, ...] | list[str]) -> str | None:
    """XDS formatCode for a structured document (ASS_A11, as the model files record it)."""
    for spec in _volets():
        if spec.template in template_roots and spec.format_code:
            return spec.format_code
    return UNREFERENCED_FORMAT_CODE if template_roots else None


def header_format_code(header: CdaHeader) -> str | None:
    """XDS formatCode derived from a CDA header (ASS_A11 / ASS_A12); None when unknown."""
    if not header.structured:
        return N1_FORMAT_CODES.get(header.media_type or "")
    return format_code_for_templates(header.volet_template_ids)


def detect(tree: etree._ElementTree | etree._Element) -> Detection:
    root = tree.getroot() if isinstance(tree, etree._ElementTree) else tree
    if not isinstance(root.tag, str) or root.tag != f"{{{HL7}}}ClinicalDocument":
        return Detection(UNKNOWN, True, notes=("racine ClinicalDocument HL7 v3 absente",))
    templates = [(t.get("root") or "", t.get("extension") or "") for t in root.findall(f"{{{HL7}}}templateId")]
    code_el = root.find(f"{{{HL7}}}code")
    code = (code_el.get("code") or "") if code_el is not None else ""
    system = (code_el.get("codeSystem") or "") if code_el is not None else ""
    body_text = root.find(f"{{{HL7}}}component/{{{HL7}}}nonXMLBody/{{{HL7}}}text")
    n1 = root.find(f"{{{HL7}}}component/{{{HL7}}}nonXMLBody") is not None or any(
        r == XDS_SD_TEMPLATE for r, _ in templates)
    notes: list[str] = []
    if n1:
        media = body_text.get("mediaType") if body_text is not None else None
        doc_type = doc_type_for_code(code) or N1_GENERIC
        if doc_type == N1_GENERIC:
            notes.append(f"document non structuré de code {code or '(absent)'} hors de la table des types")
        return Detection(doc_type, False, code, system, XDS_SD_TEMPLATE, "", "N1",
                         N1_FORMAT_CODES.get(media or ""), tuple(notes))
    volet_roots = [(r, e) for r, e in templates if r not in (HL7_FRANCE_TEMPLATE, CISIS_TEMPLATE)]
    candidates = [(spec, ext) for r, ext in volet_roots for spec in _volets() if spec.template == r]
    if not candidates:
        by_code = doc_type_for_code(code)
        notes.append("aucun templateId de volet connu" + (f" ; le code {code} suggère {by_code}" if by_code else ""))
        return Detection(UNKNOWN, True, code, system, volet_roots[0][0] if volet_roots else "",
                         volet_roots[0][1] if volet_roots else "", "", format_code_for_templates(
                             [r for r, _ in volet_roots]), tuple(notes))
    # several models may share a template (EXPORT-DUI vs a structured evaluation grid): the code decides
    matching = [(s, e) for s, e in candidates if code in s.codes]
    spec, ext = (matching or candidates)[0]
    if not matching:
        notes.append(f"code {code or '(absent)'} inattendu pour le volet {spec.model} "
                     f"(attendu : {' | '.join(spec.codes)})")
    return Detection(spec.doc_type, True, code, system, spec.template, ext, spec.model,
                     spec.format_code or None, tuple(notes), spec.versions)
