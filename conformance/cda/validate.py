"""All CDA layers on one document: safe load → XSD → official schematrons → built-in models.

Why one orchestrator: ``segur-conformance validate``, the CDA suite and the benchmarks must run the
layers the same way (same order, same handling of a layer that cannot run). Layers 1 and 2 need
the ANS kit and run only when one is given; layer 3 always runs. A layer that was asked for but
could not run gives an ERROR "non évalué" finding (never a silent pass), and the other layers still
run: one broken layer must not hide what the others see.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from lxml import etree

from conformance.cda.detect import N1_GENERIC, UNKNOWN, Detection, detect
from conformance.cda.models import ModelLibrary, run_models
from conformance.findings import Finding, NotEvaluated, Severity, error, info, warning
from conformance.safexml import XmlRejected, parse_bytes

HL7 = "urn:hl7-org:v3"
MAX_FILE_BYTES = 50 * 1024 * 1024
LAYERS = ("xsd", "schematron", "models")
NOT_EVALUATED = "CDA.LAYER.NOT_EVALUATED"


@dataclass
class ValidationResult:
    """What one document got: its detected type, every finding, and which layers really ran."""

    artefact: str
    doc_type: str
    findings: list[Finding]
    layers_run: list[str]
    detection: Detection | None = None
    models: list[str] = field(default_factory=list)
    tree: etree._ElementTree | None = field(default=None, repr=False)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.WARNING]

    @property
    def ok(self) -> bool:
        return not self.errors


# ---------------------------------------------------------------------------------------------
# kit-backed layers (written in conformance.cda.{kit,xsd,schematron}; optional at import time)
# ---------------------------------------------------------------------------------------------
_lock = threading.Lock()
_xsd_cache: dict[str, Any] = {}
_runner_cache: dict[str, Any] = {}


def open_kit(kit: Any) -> Any:
    """A ``Kit`` from a Kit, a path or None (raises KitError / NotEvaluated when unusable)."""
    if kit is None or not isinstance(kit, str | os.PathLike):
        return kit
    from conformance.cda.kit import Kit

    return Kit.open(kit)


def _kit_key(kit: Any) -> str:
    return str(getattr(kit, "path", kit))


def xsd_validator(kit: Any) -> Any:
    with _lock:
        key = _kit_key(kit)
        if key not in _xsd_cache:
            from conformance.cda.xsd import XsdValidator

            _xsd_cache[key] = XsdValidator(kit)
        return _xsd_cache[key]


def schematron_runner(kit: Any) -> Any:
    """The process's runner of the kit's schematrons: in-process, or through the warm worker when
    ``SEGUR_CDA_WARM=1`` (``validate --warm``; a campaign may set it too): a local process keeps the
    compiled stylesheets between commands, and the runner falls back to in-process when it cannot start
    or answer (``conformance/cda/sch_worker.py``)."""
    warm = os.environ.get("SEGUR_CDA_WARM") == "1"
    with _lock:
        key = _kit_key(kit) + ("\0warm" if warm else "")
        if key not in _runner_cache:
            if warm:
                from conformance.cda.sch_worker import WarmRunner

                _runner_cache[key] = WarmRunner(kit)
            else:
                from conformance.cda.schematron import SchematronRunner

                _runner_cache[key] = SchematronRunner(kit)
        return _runner_cache[key]


def _not_evaluated(layer: str, exc: BaseException, artefact: str) -> Finding:
    reason = getattr(exc, "reason", None) or str(exc)
    reason_en = getattr(exc, "reason_en", None) or reason
    return error(f"couche {layer} non évaluée : {reason}", f"layer {layer} not evaluated: {reason_en}",
                 rule=f"{NOT_EVALUATED}.{layer}", artefact=artefact, requirements=_LAYER_REQ[layer])


_LAYER_REQ = {"xsd": ("DOC/AUTO.01",), "schematron": ("DOC/AUTO.02",), "models": ("DOC/AUTO.03",)}


# ---------------------------------------------------------------------------------------------
# one document
# ---------------------------------------------------------------------------------------------
def load(data: bytes, artefact: str) -> tuple[etree._ElementTree | None, list[Finding]]:
    """Parse safely; a hostile or malformed file gives one finding and no tree."""
    try:
        tree = parse_bytes(data)
    except XmlRejected as exc:
        return None, [error(f"document XML refusé : {exc.reason}", f"XML document refused: {exc.reason_en}",
                            rule="CDA.XML", artefact=artefact, line=exc.line, requirements=("DOC/AUTO.03",))]
    root = tree.getroot()
    if root.tag != f"{{{HL7}}}ClinicalDocument":
        return None, [error("ce n'est pas un document CDA R2 : racine {urn:hl7-org:v3}ClinicalDocument attendue",
                            "not a CDA R2 document: {urn:hl7-org:v3}ClinicalDocument root expected",
                            rule="CDA.ROOT", artefact=artefact, line=root.sourceline,
                            expected="{urn:hl7-org:v3}ClinicalDocument", found=str(root.tag)[:120],
                            requirements=("DOC/AUTO.03",))]
    return tree, []


def validate_document(data: bytes, artefact: str, kit: Any = None, runner: Any = None, *,
                      layers: Sequence[str] = LAYERS, expected_type: str | None = None, dui: bool = False,
                      resident: Mapping[str, Any] | None = None, library: ModelLibrary | None = None,
                      test_environment: bool = False, tree: etree._ElementTree | None = None,
                      corridor: str | None = None) -> ValidationResult:
    """Run the asked layers on one document.

    ``kit`` (a Kit or its path) enables layers 1 and 2; ``runner`` is a shared SchematronRunner (one
    per run, so schematrons compile once). ``expected_type`` is the type the candidate was asked for
    (sandbox mode): a different detected type is an error, and the expected type's model runs when
    the document itself cannot be recognised. ``dui`` says the document comes from a DUI (rules with a
    ``dui_severity`` apply it); ``resident`` (contract v1 JSON) enables the Règle 28 comparison.
    ``corridor`` (a corridor id) picks the N1-form judgement of a type that has a structured model.
    """
    # the bytes the tree was parsed from, when we parsed them (Saxon reads them instead of a new serialisation)
    source = data if tree is None else None
    if tree is None:
        tree, findings = load(data, artefact)
        if tree is None:
            return ValidationResult(artefact, UNKNOWN, findings, ["xml"])
    findings = []
    run: list[str] = ["xml"]
    kit_obj = None
    if kit is not None and any(layer in layers for layer in ("xsd", "schematron")):
        try:
            kit_obj = open_kit(kit)
        except Exception as exc:  # KitError or NotEvaluated: both are "could not run"
            for layer in ("xsd", "schematron"):
                if layer in layers:
                    findings.append(_not_evaluated(layer, exc, artefact))
    if kit_obj is not None and "xsd" in layers:
        try:
            findings.extend(xsd_validator(kit_obj).validate(tree, artefact))
            run.append("xsd")
        except Exception as exc:  # a crashed validator is "not evaluated", never a pass
            findings.append(_not_evaluated("xsd", exc, artefact))
    if kit_obj is not None and "schematron" in layers:
        try:
            findings.extend((runner or schematron_runner(kit_obj)).validate(tree, artefact, source))
            run.append("schematron")
        except Exception as exc:
            findings.append(_not_evaluated("schematron", exc, artefact))
    detection = detect(tree)
    doc_type = detection.doc_type
    models: list[str] = []
    if "models" in layers:
        lib = library or ModelLibrary.default()
        if kit_obj is not None:
            lib = lib.with_kit(getattr(kit_obj, "valueset_dir", None))
        findings.extend(_detection_findings(detection, expected_type, artefact))
        model_type = doc_type
        if expected_type and detection.doc_type in (UNKNOWN, N1_GENERIC):
            model_type = expected_type
        findings.extend(_version_findings(detection, lib, artefact))
        if not detection.structured:
            findings.extend(n1_form_findings(model_type, corridor, lib, artefact))
        skip = (detection.model,) if detection.version_unsupported else ()
        try:
            found, models = run_models(tree, artefact, model_type, detection.structured, library=lib, dui=dui,
                                       resident=resident, test_environment=test_environment, skip=skip)
            findings.extend(found)
            run.append("models")
        except Exception as exc:  # a model bug must not crash the run
            findings.append(_not_evaluated("models", exc, artefact))
    return ValidationResult(artefact, doc_type, findings, run, detection, models, tree)


VERSION_UNSUPPORTED = "CDA.MODEL.VOLET_VERSION"
N1_FORM = "CDA.N1.form"


def _version_findings(detection: Detection, lib: ModelLibrary, artefact: str) -> list[Finding]:
    """One finding when the document's volet version is not one the built-in model implements (issue 12):
    its code and section rules are not applied, rather than judging it by another version's rules."""
    if not detection.version_unsupported:
        return []
    try:
        title = lib.model(detection.model).title
    except KeyError:
        title = detection.model
    versions = ", ".join(detection.model_versions)
    return [Finding(
        f"modèle intégré non évalué : volet {detection.model} version {detection.volet_extension} non implémentée "
        f"(« {title} » implémente {versions}) ; seul l'en-tête commun est vérifié",
        f"built-in model not evaluated: volet {detection.model} version {detection.volet_extension} not implemented "
        f"(\"{title}\" implements {versions}); only the common header is checked",
        severity=Severity.WARNING, rule=VERSION_UNSUPPORTED, artefact=artefact, xpath="/ClinicalDocument/templateId",
        expected=versions, found=detection.volet_extension, requirements=("DOC/AUTO.03",))]


def n1_form_findings(doc_type: str, corridor: str | None, lib: ModelLibrary, artefact: str) -> list[Finding]:
    """A non-structured document of a type that has a structured model: is N1 acceptable in this corridor?

    The judgement is data (``n1_form`` of the model file, per corridor or ``default``): acceptable gives an
    INFO naming its source; not acceptable an ERROR, or a WARNING when the judgement is only inferred."""
    models = [m for m in lib.models if m.form == "structured" and doc_type in m.doc_types and m.n1_form]
    if not models:
        return []
    model = models[0]
    form = model.n1_form_for(corridor)
    if form is None:
        return []
    where = f" (couloir {corridor})" if corridor else ""
    where_en = f" (corridor {corridor})" if corridor else ""
    base: dict[str, Any] = {"rule": N1_FORM, "artefact": artefact, "xpath": "/ClinicalDocument/component/nonXMLBody",
            "expected": f"{'N1 ou ' if form.acceptable else ''}{model.title}", "found": "N1 (nonXMLBody)",
            "requirements": ("DOC/AUTO.03",)}
    if form.acceptable:
        return [info(f"{doc_type} produit en N1 : forme admise{where} ({form.source}) ; modèle structuré "
                     f"« {model.title} » non appliqué", f"{doc_type} produced as N1: form accepted{where_en} "
                     f"({form.source}); structured model \"{model.title}\" not applied", **base)]
    severity = Severity.WARNING if form.verified in ("I", "?") else Severity.ERROR
    note = " (jugement déduit, non confirmé)" if severity is Severity.WARNING else ""
    note_en = " (inferred judgement, not confirmed)" if severity is Severity.WARNING else ""
    return [Finding(f"{doc_type} produit en N1 alors qu'un modèle structuré est attendu{where} : {form.reason} "
                    f"({form.source}){note}",
                    f"{doc_type} produced as N1 although a structured model is expected{where_en}: "
                    f"{form.reason} ({form.source}){note_en}", severity=severity, **base)]


def _detection_findings(detection: Detection, expected_type: str | None, artefact: str) -> list[Finding]:
    req = ("DOC/AUTO.04",)
    out: list[Finding] = []
    if expected_type and detection.doc_type != expected_type:
        out.append(error(
            f"document demandé de type {expected_type}, reconnu comme {detection.doc_type}",
            f"document asked as {expected_type}, recognised as {detection.doc_type}", rule="CDA.DETECT.type",
            artefact=artefact, xpath="/ClinicalDocument/code", expected=expected_type,
            found=f"{detection.doc_type} (code {detection.code or '-'}, volet {detection.volet_template or '-'})",
            requirements=req))
    if detection.doc_type == UNKNOWN:
        out.append(warning(
            "modèle de contenu non reconnu (templateId de volet inconnu) : seules les règles communes sont vérifiées",
            "content model not recognised (unknown volet templateId): only the common rules are checked",
            rule="CDA.DETECT.unknown", artefact=artefact, xpath="/ClinicalDocument/templateId",
            found=detection.volet_template or "aucun", requirements=req))
    elif detection.doc_type == N1_GENERIC:
        out.append(info("document non structuré d'un type hors de la table des documents DUI : règles N1 seules",
                        "non-structured document of a type outside the DUI document table: N1 rules only",
                        rule="CDA.DETECT.n1", artefact=artefact, found=detection.code, requirements=req))
    for note in detection.notes:
        if detection.doc_type not in (UNKNOWN, N1_GENERIC):
            out.append(warning(f"détection du type : {note}", f"type detection: {note}", rule="CDA.DETECT.note",
                               artefact=artefact, requirements=req))
    out.append(info(f"type de document : {detection.doc_type} ({'structuré' if detection.structured else 'N1'})",
                    f"document type: {detection.doc_type} ({'structured' if detection.structured else 'N1'})",
                    rule="CDA.DETECT", artefact=artefact, found=detection.doc_type, requirements=req))
    return out


# ---------------------------------------------------------------------------------------------
# files (segur-conformance validate)
# ---------------------------------------------------------------------------------------------
_LABELS = {
    "fr": {"xml": "xml", "xsd": "xsd", "schematron": "schématrons", "models": "modèles", "error": "ERREUR", "warning": "AVERTISSEMENT", "line": "ligne", "expected": "attendu", "found": "trouvé",
           "layers": "couches", "errors": "erreur(s)", "warnings": "avertissement(s)", "type": "type",
           "ok": "conforme", "ko": "non conforme", "total": "documents", "ok_n": "conforme(s)", "ko_n": "non conforme(s)"},
    "en": {"xml": "xml", "xsd": "xsd", "schematron": "schematrons", "models": "models", "error": "ERROR", "warning": "WARNING", "line": "line", "expected": "expected", "found": "found",
           "layers": "layers", "errors": "error(s)", "warnings": "warning(s)", "type": "type",
           "ok": "conforms", "ko": "does not conform", "total": "documents", "ok_n": "conform", "ko_n": "do not conform"},
}


def _read(path: Path) -> tuple[bytes | None, Finding | None]:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return None, error(f"fichier trop volumineux ({size} octets)", f"file too large ({size} bytes)",
                               rule="CDA.FILE", artefact=str(path))
        return path.read_bytes(), None
    except OSError as exc:
        return None, error(f"fichier illisible : {exc.strerror}", f"unreadable file: {exc.strerror}",
                           rule="CDA.FILE", artefact=str(path))


def format_result(result: ValidationResult, lang: str = "fr") -> list[str]:
    t = _LABELS["en" if lang == "en" else "fr"]
    status = t["ok"] if result.ok else t["ko"]
    lines = [f"{result.artefact}: {status} — {t['type']} {result.doc_type}, {len(result.errors)} {t['errors']}, "
             f"{len(result.warnings)} {t['warnings']} ({t['layers']}: {', '.join(t.get(x, x) for x in result.layers_run)})"]
    for f in result.findings:
        if f.severity is Severity.INFO:
            continue
        where = f.xpath + (f" ({t['line']} {f.line})" if f.line else "")
        detail = []
        if f.expected:
            detail.append(f"{t['expected']}: {f.expected}")
        if f.found:
            detail.append(f"{t['found']}: {f.found}")
        lines.append(f"  {t[f.severity.value]} [{f.rule}] {where}: {f.text(lang)}"
                     + (f" ({'; '.join(detail)})" if detail else ""))
    return lines


def validate_files(paths: Iterable[Path | str], kit_path: Path | str | None, lang: str, out: TextIO,
                   other: Callable[[Path, bytes], ValidationResult | None] | None = None) -> int:
    """``segur-conformance validate``: 0 when every file conforms, 1 when one does not, 2 for a bad kit.

    ``other`` lets the caller take files that are not CDA documents (messages, captured submissions):
    it returns their result, or None to leave the file to the CDA layers."""
    kit = None
    if kit_path is not None:
        try:
            kit = open_kit(kit_path)
        except Exception as exc:
            reason = getattr(exc, "reason_en" if lang == "en" else "reason", None) or str(exc)
            out.write(f"--cisis-kit: {reason}\n")
            return 2
    runner = None
    failed = 0
    count = 0
    for raw in paths:
        path = Path(raw)
        count += 1
        data, problem = _read(path)
        if data is None:
            result = ValidationResult(str(path), UNKNOWN, [problem] if problem else [], [])
        else:
            handled = other(path, data) if other is not None else None
            if handled is None and kit is not None and runner is None:
                try:
                    runner = schematron_runner(kit)
                except NotEvaluated:
                    runner = None
            result = handled if handled is not None else validate_document(data, str(path), kit, runner)
        failed += 0 if result.ok else 1
        out.write("\n".join(format_result(result, lang)) + "\n")
    t = _LABELS["en" if lang == "en" else "fr"]
    out.write(f"{count} {t['total']}: {count - failed} {t['ok_n']}, {failed} {t['ko_n']}\n")
    return 1 if failed else 0


# ---------------------------------------------------------------------------------------------
# replacement ("annule et remplace")
# ---------------------------------------------------------------------------------------------
def check_replacement(new_tree: etree._ElementTree, old_tree: etree._ElementTree, artefact: str,
                      requirements: Sequence[str] = ("DOC/AUTO.06",)) -> list[Finding]:
    """A replacement version points to the replaced one (relatedDocument RPLC → its id), keeps its
    setId, gets a new id and a higher versionNumber (HL7 CDA R2; cda.md §1.1; the kit's examples
    describe setId as "common to all successive versions")."""
    from conformance.ihe.cda_header import read_header

    new, old = read_header(new_tree), read_header(old_tree)
    req = tuple(requirements)
    base = {"artefact": artefact, "requirements": req}
    out: list[Finding] = []
    if new.related_document is None:
        out.append(error("version de remplacement sans relatedDocument : le document remplacé n'est pas désigné",
                         "replacement version without relatedDocument: the replaced document is not named",
                         rule="CDA.RPLC.missing", xpath="/ClinicalDocument/relatedDocument",
                         expected=f"RPLC → {old.unique_id}", found="absent", **base))
    else:
        if new.related_document_type != "RPLC":
            out.append(error("relatedDocument doit avoir typeCode RPLC", "relatedDocument must have typeCode RPLC",
                             rule="CDA.RPLC.type", xpath="/ClinicalDocument/relatedDocument/@typeCode",
                             expected="RPLC", found=new.related_document_type or "(absent)", **base))
        if new.related_document != old.unique_id:
            out.append(error("relatedDocument/parentDocument/id ne désigne pas le document remplacé",
                             "relatedDocument/parentDocument/id does not name the replaced document",
                             rule="CDA.RPLC.target", xpath="/ClinicalDocument/relatedDocument/parentDocument/id",
                             expected=old.unique_id, found=new.related_document, **base))
    if new.unique_id == old.unique_id:
        out.append(error("la nouvelle version réutilise l'id du document remplacé",
                         "the new version reuses the replaced document's id", rule="CDA.RPLC.id",
                         xpath="/ClinicalDocument/id", expected=f"≠ {old.unique_id}", found=new.unique_id, **base))
    if new.set_id != old.set_id:
        out.append(error("la nouvelle version doit garder le setId du document remplacé",
                         "the new version must keep the replaced document's setId", rule="CDA.RPLC.setId",
                         xpath="/ClinicalDocument/setId", expected=old.set_id, found=new.set_id, **base))
    try:
        higher = int(new.version) > int(old.version)
    except ValueError:
        higher = False
    if not higher:
        out.append(error("versionNumber de la nouvelle version doit être supérieur à celui du document remplacé",
                         "the new version's versionNumber must be higher than the replaced document's",
                         rule="CDA.RPLC.version", xpath="/ClinicalDocument/versionNumber",
                         expected=f"> {old.version}", found=new.version, **base))
    if not out:
        out.append(info("version de remplacement correctement liée (RPLC, setId, versionNumber)",
                        "replacement version correctly linked (RPLC, setId, versionNumber)", rule="CDA.RPLC.ok",
                        found=new.unique_id, **base))
    return out
