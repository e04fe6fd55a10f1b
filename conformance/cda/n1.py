"""The body of a non-structured CDA (N1, XDS-SD): does it decode, and is it what it says it is?

Why: a PPA, an evaluation grid or a plan sent without a CI-SIS volet travels as a base64 blob in
``nonXMLBody/text`` (cda.md §6). The XSD and the official schematrons only see a string there, so
a truncated or mislabelled PDF passes them and fails in the reader's viewer. We decode it (strict
base64, bounded size), compare the magic bytes with ``@mediaType``, and for a PDF check that it is
complete (header, ``startxref``, ``%%EOF``) and, when pypdf is installed, that it really opens and
has at least one page. PDF/A-1 and the INS DataMatrix (SC.DOC/va1.04) are only *looked for*:
their absence is a warning, their full verification a manual proof.
"""

from __future__ import annotations

import base64
import binascii
import io
import logging
import re
from collections.abc import Sequence

from lxml import etree
from pypdf import PdfReader
from pypdf.errors import PdfReadError

from conformance.cda.models import EvalContext, Rule, readable_path, register_check
from conformance.findings import Finding, error, info, warning

HL7 = "urn:hl7-org:v3"
MAX_DECODED_BYTES = 40 * 1024 * 1024
MAX_PDF_PAGES = 2000
_WS = re.compile(rb"\s+")
_PDF_HEADER = re.compile(rb"%PDF-(1\.[0-7]|2\.0)")

MAGIC: dict[str, tuple[bytes, ...]] = {
    "application/pdf": (b"%PDF-",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/tiff": (b"II*\x00", b"MM\x00*"),
    "text/rtf": (b"{\\rtf",),
}
ALLOWED_MEDIA_TYPES = ("application/pdf", "text/plain", "text/rtf", "image/jpeg", "image/tiff")


def decode_base64(text: str | bytes) -> bytes:
    """Strict base64 (whitespace allowed, nothing else); raises ValueError with a short reason."""
    raw = text.encode("ascii", "replace") if isinstance(text, str) else text
    compact = _WS.sub(b"", raw)
    if len(compact) * 3 // 4 > MAX_DECODED_BYTES:
        raise ValueError(f"contenu trop volumineux (> {MAX_DECODED_BYTES} octets)")
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"base64 invalide ({exc})") from None


def sniff_media_type(data: bytes) -> str | None:
    for media, magics in MAGIC.items():
        if any(data.startswith(m) for m in magics):
            return media
    return None


def check_pdf(data: bytes, *, artefact: str = "", xpath: str = "", line: int | None = None,
              requirements: Sequence[str] = ()) -> list[Finding]:
    """Every problem of one embedded PDF; an INFO when it opens."""
    where = {"artefact": artefact, "xpath": xpath, "line": line, "requirements": tuple(requirements)}
    out: list[Finding] = []
    if not _PDF_HEADER.match(data[:16]):
        return [error("le contenu n'est pas un PDF (en-tête %PDF-x.y absent)",
                      "the content is not a PDF (no %PDF-x.y header)", rule="CDA.N1.pdf.header",
                      expected="%PDF-1.x", found=repr(data[:8])[2:-1], **where)]
    tail = data[-2048:]
    if b"%%EOF" not in tail:
        out.append(error("PDF tronqué : marqueur de fin %%EOF absent", "truncated PDF: no %%EOF end marker",
                         rule="CDA.N1.pdf.eof", expected="%%EOF en fin de fichier", found="absent", **where))
    if b"startxref" not in tail:
        out.append(error("PDF incomplet : startxref absent en fin de fichier",
                         "incomplete PDF: no startxref at the end", rule="CDA.N1.pdf.xref",
                         expected="startxref", found="absent", **where))
    if not out:  # a truncated file was already reported; do not ask a parser to guess
        out.extend(_open_with_pypdf(data, where))
    part, conformance = pdfa_identification(data)
    if part == "1":
        out.append(info(f"PDF/A-1{conformance.lower()} déclaré (identification XMP pdfaid lue par pypdf) ; la conformité "
                        "elle-même est à prouver par un validateur PDF/A (preuve manuelle SC.DOC/va1.04.01.02)",
                        f"PDF/A-1{conformance.lower()} declared (XMP pdfaid identification read with pypdf); conformance "
                        "itself is proved with a PDF/A validator (manual proof SC.DOC/va1.04.01.02)",
                        rule="CDA.N1.pdf.pdfa", expected="pdfaid:part=1", found=f"1{conformance}", **where))
    elif part:
        out.append(warning(f"le PDF déclare PDF/A-{part} ; PDF/A-1 attendu (SC.DOC/va1.04)",
                           f"the PDF declares PDF/A-{part}; PDF/A-1 expected (SC.DOC/va1.04)",
                           rule="CDA.N1.pdf.pdfa", expected="pdfaid:part=1", found=f"{part}{conformance}", **where))
    else:
        out.append(warning("le PDF ne déclare pas de conformité PDF/A (métadonnées XMP pdfaid absentes) ; "
                           "PDF/A-1 attendu (SC.DOC/va1.04, à prouver par un rapport de validation PDF/A)",
                           "the PDF declares no PDF/A conformance (no XMP pdfaid metadata); PDF/A-1 expected "
                           "(SC.DOC/va1.04, to prove with a PDF/A validation report)",
                           rule="CDA.N1.pdf.pdfa", expected="pdfaid:part=1", found="absent", **where))
    if not any(f.is_error for f in out):
        out.append(info("PDF embarqué lisible", "embedded PDF readable", rule="CDA.N1.pdf.ok",
                        found=f"{len(data)} octets", **where))
    return out


def pdfa_identification(data: bytes) -> tuple[str, str]:
    """(pdfaid:part, pdfaid:conformance) from the PDF's XMP metadata, read with pypdf ("" when absent)."""
    pypdf_log = logging.getLogger("pypdf")
    level = pypdf_log.level
    pypdf_log.setLevel(logging.CRITICAL)
    try:
        xmp = PdfReader(io.BytesIO(data), strict=False).xmp_metadata
        if xmp is None:
            return "", ""
        return str(xmp.pdfaid_part or "").strip(), str(xmp.pdfaid_conformance or "").strip()
    except Exception:  # noqa: BLE001 - a PDF that does not open is reported by _open_with_pypdf
        return "", ""
    finally:
        pypdf_log.setLevel(level)


def _open_with_pypdf(data: bytes, where: dict) -> list[Finding]:
    pypdf_log = logging.getLogger("pypdf")
    level = pypdf_log.level
    pypdf_log.setLevel(logging.CRITICAL)  # its repair messages would go to the user's terminal
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            return [warning("PDF chiffré : illisible sans mot de passe par le destinataire",
                            "encrypted PDF: unreadable by the recipient without a password",
                            rule="CDA.N1.pdf.encrypted", expected="non chiffré", found="chiffré", **where)]
        pages = len(reader.pages)
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError,
            OSError) as exc:
        return [error(f"le PDF ne s'ouvre pas ({exc.__class__.__name__})",
                      f"the PDF does not open ({exc.__class__.__name__}: {str(exc)[:120]})",
                      rule="CDA.N1.pdf.open", expected="PDF lisible", found=exc.__class__.__name__, **where)]
    finally:
        pypdf_log.setLevel(level)
    if pages < 1 or pages > MAX_PDF_PAGES:
        return [error("le PDF n'a aucune page" if pages < 1 else "PDF au nombre de pages déraisonnable",
                      "the PDF has no page" if pages < 1 else "unreasonable page count", rule="CDA.N1.pdf.pages",
                      expected=f"1..{MAX_PDF_PAGES}", found=str(pages), **where)]
    return []


def check_n1_body(root: etree._Element, artefact: str = "", requirements: Sequence[str] = ()) -> list[Finding]:
    """Decode ``nonXMLBody/text`` and check it against its ``@mediaType``."""
    req = tuple(requirements)
    text_el = root.find(f"{{{HL7}}}component/{{{HL7}}}nonXMLBody/{{{HL7}}}text")
    if text_el is None:
        return []
    where = {"artefact": artefact, "xpath": readable_path(text_el), "line": text_el.sourceline, "requirements": req}
    media = text_el.get("mediaType") or ""
    if text_el.get("representation") != "B64":
        return []  # the model's representation rule reports it; decoding would be guesswork
    if len(text_el) and any(isinstance(c.tag, str) for c in text_el):
        return [error("nonXMLBody/text contient des éléments au lieu d'un contenu base64",
                      "nonXMLBody/text holds elements instead of base64 content", rule="CDA.N1.body.content",
                      expected="texte base64", found="éléments XML", **where)]
    raw = (text_el.text or "").strip()
    if not raw:
        return [error("nonXMLBody/text est vide : aucun document embarqué", "nonXMLBody/text is empty: no embedded "
                      "document", rule="CDA.N1.body.empty", expected="contenu base64", found="(vide)", **where)]
    try:
        data = decode_base64(raw)
    except ValueError as exc:
        return [error(f"le contenu de nonXMLBody/text ne se décode pas : {exc}",
                      f"nonXMLBody/text does not decode: {exc}", rule="CDA.N1.body.base64",
                      expected="base64 valide", found=raw[:40], **where)]
    if not data:
        return [error("le contenu décodé est vide", "the decoded content is empty", rule="CDA.N1.body.empty",
                      expected="contenu non vide", found="0 octet", **where)]
    sniffed = sniff_media_type(data)
    out: list[Finding] = []
    if media in MAGIC and sniffed != media:
        out.append(error(f"le contenu décodé n'est pas du type déclaré {media}",
                         f"the decoded content is not of the declared type {media}", rule="CDA.N1.body.mediaType",
                         expected=media, found=sniffed or repr(data[:8])[2:-1], **where))
        return out
    if media == "text/plain":
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            out.append(warning("texte embarqué non décodable en UTF-8", "embedded text is not valid UTF-8",
                               rule="CDA.N1.body.text", expected="UTF-8", found="octets invalides", **where))
        if sniffed is not None:
            out.append(error(f"contenu déclaré text/plain mais de type {sniffed}",
                             f"content declared text/plain but is {sniffed}", rule="CDA.N1.body.mediaType",
                             expected="text/plain", found=sniffed, **where))
    if media == "application/pdf":
        out.extend(check_pdf(data, **where))
    return out


@register_check("n1_body")
def _n1_body_check(root: etree._Element, ctx: EvalContext, rule: Rule, requirements: tuple[str, ...]) -> list[Finding]:
    return check_n1_body(root, ctx.artefact, requirements)
