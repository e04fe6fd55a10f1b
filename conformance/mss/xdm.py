"""IHE XDM ("ZIP over e-mail", ITI-32) packages: safe opening, layout and metadata checks.

Why so careful: the ZIP comes from the candidate, so it may be a zip bomb, hold ``../`` or absolute
paths, lie about its sizes or be corrupt. Nothing is ever extracted to disk; entries are read into
memory under hard bounds, and each hostile trait becomes a Finding (rule ``MSS.XDM.ZIP``) instead of
an exception. Layout (INDEX.HTM, README.TXT, IHE_XDM/SUBSET01/METADATA.XML) and the URI / hash / size
agreement of each DocumentEntry follow protocols.md §2.2 (IHE ITI-32, Gazelle ITI32-003).
"""

from __future__ import annotations

import hashlib
import io
import posixpath
import re
import zipfile
import zlib
from dataclasses import dataclass, field

from lxml import etree

from conformance.findings import Finding, error, info, warning
from conformance.ihe.cda_header import read_header
from conformance.ihe.metadata_vs_cda import compare_metadata_with_cda
from conformance.ihe.xds import DocumentEntry, Submission, parse_submit_objects
from conformance.safexml import Limits, XmlRejected, parse_bytes

REQ = ("MSS/XDM.01",)
HL7 = "urn:hl7-org:v3"
REQUIRED_ROOT_FILES = ("INDEX.HTM", "README.TXT")
FIRST_METADATA = "IHE_XDM/SUBSET01/METADATA.XML"
ASSOC_HAS_MEMBER = "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember"
_ISO9660 = re.compile(r"[A-Z0-9_\-]{1,8}(?:\.[A-Z0-9_\-]{1,3})?")
_SUBSET_META = re.compile(r"IHE_XDM/([^/]+)/METADATA\.XML", re.IGNORECASE)


@dataclass(frozen=True)
class ZipLimits:
    max_zip_bytes: int = 20 * 1024 * 1024
    max_entries: int = 500
    max_entry_bytes: int = 20 * 1024 * 1024
    max_total_bytes: int = 60 * 1024 * 1024
    max_ratio: int = 100          # uncompressed / compressed, for entries above ratio_floor
    ratio_floor: int = 1024 * 1024


@dataclass
class XdmDocument:
    """A document file referenced by a DocumentEntry (its bytes, and its parsed tree when it is XML)."""

    path: str
    data: bytes
    entry: DocumentEntry
    subset: str
    tree: etree._ElementTree | None = None
    problem: str = ""

    @property
    def is_cda(self) -> bool:
        if self.tree is None:
            return False
        root = self.tree.getroot()
        return etree.QName(root).localname == "ClinicalDocument" and etree.QName(root).namespace == HL7


@dataclass
class XdmPackage:
    artefact: str
    files: dict[str, bytes] = field(default_factory=dict)
    metadata: dict[str, Submission] = field(default_factory=dict)  # subset → parsed metadata
    documents: list[XdmDocument] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def readable(self) -> bool:
        return bool(self.files)

    @property
    def cda_documents(self) -> list[XdmDocument]:
        return [d for d in self.documents if d.is_cda]


def _f(kind: str, fr: str, en: str, pkg: XdmPackage, rule: str, **kw: object) -> None:
    maker = {"error": error, "warning": warning, "info": info}[kind]
    kw.setdefault("requirements", REQ)
    pkg.findings.append(maker(fr, en, rule=rule, artefact=pkg.artefact, **kw))


def _unsafe_name(name: str) -> str:
    """Why an entry name is hostile, or '' when it is safe to use as an in-memory key."""
    if not name or "\x00" in name:
        return "nom vide ou avec NUL"
    if "\\" in name:
        return "séparateur '\\' (chemin Windows)"
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return "chemin absolu"
    if any(seg == ".." for seg in name.split("/")):
        return "remontée de répertoire '..' (zip slip)"
    return ""


def open_xdm(data: bytes, artefact: str = "IHE_XDM.ZIP", limits: ZipLimits = ZipLimits()) -> XdmPackage:
    """Open an XDM ZIP without trusting it; never raises. Findings say what was wrong."""
    pkg = XdmPackage(artefact=artefact)
    if len(data) > limits.max_zip_bytes:
        _f("error", f"archive trop volumineuse ({len(data)} octets)", f"archive too large ({len(data)} bytes)",
           pkg, "MSS.XDM.ZIP", expected=f"<= {limits.max_zip_bytes}", found=str(len(data)))
        return pkg
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
        _f("error", f"archive ZIP illisible ({exc.__class__.__name__})", f"unreadable ZIP archive ({exc})",
           pkg, "MSS.XDM.ZIP", expected="ZIP valide", found=str(exc)[:120])
        return pkg
    if len(infos) > limits.max_entries:
        _f("error", f"trop d'entrées dans l'archive ({len(infos)})", f"too many archive entries ({len(infos)})",
           pkg, "MSS.XDM.ZIP", expected=f"<= {limits.max_entries}", found=str(len(infos)))
        return pkg
    declared_total = 0
    actual_total = 0
    for zinfo in infos:
        name = zinfo.filename
        why = _unsafe_name(name)
        if why:
            _f("error", f"entrée d'archive dangereuse refusée : {why}", f"hostile archive entry refused: {why}",
               pkg, "MSS.XDM.ZIP", xpath=name[:200], expected="chemin relatif sans '..'", found=name[:200])
            continue
        if zinfo.is_dir():
            continue
        if name in pkg.files:
            _f("error", "entrée en double dans l'archive", "duplicate archive entry", pkg, "MSS.XDM.ZIP",
               xpath=name, found=name)
            continue
        if zinfo.flag_bits & 0x1:
            _f("error", "entrée chiffrée : illisible par le destinataire", "encrypted entry: unreadable by the receiver",
               pkg, "MSS.XDM.ZIP", xpath=name, found=name)
            continue
        ratio = zinfo.file_size / max(zinfo.compress_size, 1)
        if zinfo.file_size > limits.max_entry_bytes or (
                zinfo.file_size > limits.ratio_floor and ratio > limits.max_ratio):
            _f("error", f"bombe de décompression probable ({zinfo.file_size} octets, ratio {ratio:.0f})",
               f"likely decompression bomb ({zinfo.file_size} bytes, ratio {ratio:.0f})", pkg, "MSS.XDM.ZIP",
               xpath=name, expected=f"<= {limits.max_entry_bytes} octets, ratio <= {limits.max_ratio}",
               found=f"{zinfo.file_size} octets, ratio {ratio:.0f}")
            continue
        declared_total += zinfo.file_size
        if declared_total > limits.max_total_bytes:
            _f("error", "taille décompressée totale excessive : lecture arrêtée",
               "total uncompressed size too large: reading stopped", pkg, "MSS.XDM.ZIP",
               expected=f"<= {limits.max_total_bytes}", found=str(declared_total))
            break
        try:
            with zf.open(zinfo) as fh:
                content = fh.read(limits.max_entry_bytes + 1)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, RuntimeError,
                zlib.error) as exc:
            _f("error", f"entrée illisible ({exc.__class__.__name__})", f"unreadable entry ({exc})", pkg,
               "MSS.XDM.ZIP", xpath=name, found=str(exc)[:120])
            continue
        if len(content) > limits.max_entry_bytes:
            _f("error", "entrée plus grande que déclaré : bombe de décompression", "entry larger than declared: zip bomb",
               pkg, "MSS.XDM.ZIP", xpath=name, expected=f"<= {limits.max_entry_bytes}", found=f"> {len(content) - 1}")
            continue
        actual_total += len(content)
        pkg.files[name] = content
    if not pkg.files and not pkg.findings:
        _f("error", "archive vide", "empty archive", pkg, "MSS.XDM.ZIP", expected="INDEX.HTM, README.TXT, IHE_XDM/",
           found="aucun fichier")
    if pkg.files:
        _layout(pkg)
        _metadata(pkg)
    return pkg


def _find(pkg: XdmPackage, wanted: str) -> str | None:
    """The archive name matching ``wanted`` exactly, else case-insensitively (with a warning)."""
    if wanted in pkg.files:
        return wanted
    for name in pkg.files:
        if name.upper() == wanted.upper():
            _f("warning", f"{name} : casse différente du nom attendu {wanted} (noms ISO 9660 en majuscules)",
               f"{name}: case differs from the expected name {wanted} (upper-case ISO 9660 names)", pkg,
               "MSS.XDM.NAMES", xpath=name, expected=wanted, found=name)
            return name
    return None


def _layout(pkg: XdmPackage) -> None:
    for wanted in REQUIRED_ROOT_FILES:
        name = _find(pkg, wanted)
        if name is None:
            _f("error", f"{wanted} absent de l'archive XDM (exigé par IHE ITI-32)",
               f"{wanted} missing from the XDM archive (required by IHE ITI-32)", pkg, "MSS.XDM.LAYOUT",
               xpath=wanted, expected=wanted, found="absent")
        elif not pkg.files[name].strip():
            _f("error", f"{wanted} est vide", f"{wanted} is empty", pkg, "MSS.XDM.LAYOUT", xpath=name,
               expected="contenu", found="0 octet utile")
    if _find(pkg, FIRST_METADATA) is None:
        _f("error", f"{FIRST_METADATA} absent", f"{FIRST_METADATA} missing", pkg, "MSS.XDM.LAYOUT",
           xpath=FIRST_METADATA, expected=FIRST_METADATA, found="absent")
    bad = [n for n in pkg.files if not all(_ISO9660.fullmatch(seg) for seg in n.split("/"))]
    if bad:
        _f("warning", f"noms hors format ISO 9660 8.3 majuscules : {', '.join(bad[:5])}",
           f"names outside the upper-case ISO 9660 8.3 form: {', '.join(bad[:5])}", pkg, "MSS.XDM.NAMES",
           expected="NOM8.EXT en majuscules", found=bad[0][:120])


def _metadata(pkg: XdmPackage) -> None:
    subsets = sorted({m.group(1): name for name in pkg.files if (m := _SUBSET_META.fullmatch(name))}.items())
    referenced: set[str] = set()
    for subset, meta_name in subsets:
        try:
            tree = parse_bytes(pkg.files[meta_name], Limits(max_bytes=10 * 1024 * 1024, max_depth=64))
        except XmlRejected as exc:
            _f("error", f"METADATA.XML illisible : {exc.reason}", f"unreadable METADATA.XML: {exc.reason_en}", pkg,
               "MSS.XDM.METADATA", xpath=meta_name, line=exc.line)
            continue
        root = tree.getroot()
        if etree.QName(root).localname != "SubmitObjectsRequest":
            _f("error", "METADATA.XML doit avoir pour racine lcm:SubmitObjectsRequest",
               "METADATA.XML root must be lcm:SubmitObjectsRequest", pkg, "MSS.XDM.METADATA", xpath=meta_name,
               expected="lcm:SubmitObjectsRequest", found=etree.QName(root).localname)
            continue
        objects = parse_submit_objects(root)
        pkg.metadata[subset] = objects
        where = f"{meta_name}"
        for _rule, fr, en in objects.problems:
            _f("error", f"METADATA.XML : {fr}", f"METADATA.XML: {en}", pkg, "MSS.XDM.METADATA", xpath=where)
        if len(objects.submission_sets) != 1:
            _f("error", "METADATA.XML doit décrire exactement un lot de soumission (SubmissionSet)",
               "METADATA.XML must describe exactly one SubmissionSet", pkg, "MSS.XDM.METADATA", xpath=where,
               expected="1", found=str(len(objects.submission_sets)))
        if not objects.entries:
            _f("error", "METADATA.XML ne décrit aucun document (ExtrinsicObject)",
               "METADATA.XML describes no document (ExtrinsicObject)", pkg, "MSS.XDM.METADATA", xpath=where,
               expected=">= 1 DocumentEntry", found="0")
        members = {(a.source, a.target) for a in objects.associations if a.type == ASSOC_HAS_MEMBER}
        for ss in objects.submission_sets[:1]:
            for de in objects.entries:
                if (ss.id, de.id) not in members:
                    _f("error", f"pas d'association HasMember entre le lot et le document {de.id}",
                       f"no HasMember association between the submission set and document {de.id}", pkg,
                       "MSS.XDM.METADATA", xpath=where, line=de.line, expected="Association HasMember",
                       found="absente")
        for de in objects.entries:
            path = _entry_document(pkg, subset, de, meta_name)
            if path:
                referenced.add(path)
    for name in pkg.files:
        if name.upper().startswith("IHE_XDM/") and not name.upper().endswith("/METADATA.XML") and name not in referenced:
            _f("warning", f"fichier {name} non décrit par METADATA.XML", f"file {name} not described by METADATA.XML",
               pkg, "MSS.XDM.URI", xpath=name, found=name)


def _entry_document(pkg: XdmPackage, subset: str, de: DocumentEntry, meta_name: str) -> str | None:
    element_path = de.element.getroottree().getpath(de.element) if de.element is not None else ""
    base = {"xpath": f"{meta_name} {element_path}".strip(), "line": de.line}
    uri = de.slot("URI")
    if not uri:
        _f("error", f"document {de.id} sans slot URI", f"document {de.id} without URI slot", pkg, "MSS.XDM.URI",
           expected="nom du fichier dans SUBSET", found="absent", **base)
        return None
    rel = posixpath.normpath(posixpath.join(posixpath.dirname(meta_name), uri))
    if _unsafe_name(uri) or not rel.startswith(posixpath.dirname(meta_name) + "/"):
        _f("error", "URI de document hors du répertoire du lot", "document URI outside the subset folder", pkg,
           "MSS.XDM.URI", expected="chemin relatif dans le SUBSET", found=uri[:200], **base)
        return None
    path = _find(pkg, rel)
    if path is None:
        _f("error", f"le fichier désigné par l'URI {uri} est absent de l'archive",
           f"the file named by URI {uri} is missing from the archive", pkg, "MSS.XDM.URI", expected=rel,
           found="absent", **base)
        return None
    data = pkg.files[path]
    sha1 = hashlib.sha1(data).hexdigest()  # noqa: S324 - SHA-1 is what XDS metadata mandates
    declared_hash = (de.slot("hash") or "").strip()
    if not declared_hash:
        _f("error", "slot hash absent (obligatoire en XDM)", "hash slot missing (mandatory in XDM)", pkg,
           "MSS.XDM.HASH", expected=sha1, found="absent", **base)
    elif declared_hash.lower() != sha1:
        _f("error", f"hash SHA-1 déclaré différent du fichier {path}", f"declared SHA-1 hash differs from file {path}",
           pkg, "MSS.XDM.HASH", expected=sha1, found=declared_hash[:80], **base)
    declared_size = (de.slot("size") or "").strip()
    if not declared_size:
        _f("error", "slot size absent (obligatoire en XDM)", "size slot missing (mandatory in XDM)", pkg,
           "MSS.XDM.SIZE", expected=str(len(data)), found="absent", **base)
    elif declared_size != str(len(data)):
        _f("error", f"taille déclarée différente du fichier {path}", f"declared size differs from file {path}", pkg,
           "MSS.XDM.SIZE", expected=str(len(data)), found=declared_size[:40], **base)
    doc = XdmDocument(path=path, data=data, entry=de, subset=subset)
    if de.mime_type.endswith("xml") or data.lstrip()[:1] == b"<":
        try:
            doc.tree = parse_bytes(data)
        except XmlRejected as exc:
            doc.problem = exc.reason
            _f("error", f"document {path} illisible : {exc.reason}", f"unreadable document {path}: {exc.reason_en}",
               pkg, "MSS.XDM.CDA", xpath=path, line=exc.line)
    pkg.documents.append(doc)
    return path


def cda_code(doc: XdmDocument) -> str | None:
    """``ClinicalDocument/code/@code`` of a CDA in the package (None when absent)."""
    if doc.tree is None:
        return None
    el = doc.tree.getroot().find(f"{{{HL7}}}code")
    return el.get("code") if el is not None else None


def compare_entries_with_cda(pkg: XdmPackage) -> list[Finding]:
    """Each DocumentEntry against its CDA header, with the comparison shared with the DMP room
    (``conformance.ihe.metadata_vs_cda``)."""
    out: list[Finding] = []
    for doc in pkg.cda_documents:
        assert doc.tree is not None
        header = read_header(doc.tree)
        for finding in compare_metadata_with_cda(doc.entry.metadata(), header, artefact=pkg.artefact,
                                                 requirements=REQ, where=f"{doc.path} DocumentEntry"):
            out.append(finding)
    return out
