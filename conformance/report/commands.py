"""The report commands behind ``segur-conformance verify | diff | merge | export``.

Each returns the process exit code and prints one clear message per problem, never a traceback:
0 good (intact, no regression, merged bundle conformant), 1 the answer is bad (tampered bundle,
regressions, mandatory requirement failed or not evaluated), 2 the input is unusable (missing or
unreadable results file, bad key, non-empty output folder).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO

from conformance import __version__
from conformance.report.bundle import FILES, RESULTS, ReportPaths, write_all, write_formats
from conformance.report.diff import Change, diff
from conformance.report.evidence import safe_relpath, sha256_file
from conformance.report.i18n import norm_lang, t
from conformance.report.manifest import (
    MANIFEST,
    SigningError,
    load_or_create_key,
    public_key_info,
    sign_bundle,
    verify,
)
from conformance.report.merge import merge_results
from conformance.report.render import signing_key_from_env

EXIT_OK, EXIT_BAD, EXIT_USAGE = 0, 1, 2
EXPORT_FORMATS = tuple(FILES)

__all__ = ["ReportPaths", "cmd_attach", "cmd_diff", "cmd_export", "cmd_merge", "cmd_verify", "write_all"]


def _lang(lang: str | None) -> str:
    return norm_lang(lang or os.environ.get("SEGUR_LANG"))


def _err(message: str, err: TextIO | None = None) -> None:
    print(f"segur-conformance: {message}", file=err or sys.stderr)


def _load(path: Path, lang: str) -> dict[str, Any] | None:
    from conformance.results import ResultsFileError, load_results

    path = Path(path)
    if path.is_dir():
        path = path / RESULTS
    try:
        return load_results(path)
    except ResultsFileError as exc:
        _err(t("cmd.bad_results", lang, err=str(exc)))
        return None


# ---------------------------------------------------------------------------------------------
# verify
# ---------------------------------------------------------------------------------------------
def cmd_verify(report_dir: Path, public_key: Path | None = None, lang: str | None = None,
               out: TextIO | None = None) -> int:
    lang = _lang(lang)
    out = out or sys.stdout
    try:
        result = verify(Path(report_dir), public_key)
    except SigningError as exc:
        _err(t("cmd.bad_key", lang, err=str(exc)))
        return EXIT_USAGE
    if result.intact:
        print(t("cmd.verify_intact", lang, n=result.files_checked, fp=result.fingerprint), file=out)
        if result.key_source == "manifest":
            print(t("cmd.verify_key_from_manifest", lang, fp=result.fingerprint), file=out)
        return EXIT_OK
    print(t("cmd.verify_broken", lang), file=out)
    for path in result.changed:
        print("  " + t("cmd.verify_changed", lang, path=path), file=out)
    for path in result.added:
        print("  " + t("cmd.verify_added", lang, path=path), file=out)
    for path in result.removed:
        print("  " + t("cmd.verify_removed", lang, path=path), file=out)
    for fr, en in result.problems:
        print("  " + (en if lang == "en" else fr), file=out)
    return EXIT_BAD


# ---------------------------------------------------------------------------------------------
# diff
# ---------------------------------------------------------------------------------------------
def _change_line(change: Change, lang: str) -> str:
    flag = t("req.must", lang) if change.mandatory else t("req.may", lang)
    old = t("verdict." + change.old, lang) if change.old else "—"
    new = t("verdict." + change.new, lang) if change.new else "—"
    return f"  {change.id:<24} {flag:<5} {old} → {new}  {change.title[:80]}"


def cmd_diff(old: Path, new: Path, lang: str | None = None, out: TextIO | None = None) -> int:
    lang = _lang(lang)
    out = out or sys.stdout
    before, after = _load(old, lang), _load(new, lang)
    if before is None or after is None:
        return EXIT_USAGE
    result = diff(before, after)
    print(t("diff.title", lang, old=str(old), new=str(new)), file=out)
    for key in ("regressed", "fixed", "changed", "added", "removed"):
        items: list[Change] = getattr(result, key)
        print(f"{t('diff.' + key, lang)} ({len(items)})" + ("" if items else f" : {t('diff.none', lang)}"),
              file=out)
        for change in items:
            print(_change_line(change, lang), file=out)
    print(t("diff.unchanged", lang, n=len(result.unchanged)), file=out)
    for change in result.unchanged:
        if change.new_findings or change.gone_findings:
            print("  " + t("diff.findings_delta", lang, id=change.id, verdict=t("verdict." + str(change.new), lang),
                           new=change.new_findings, gone=change.gone_findings), file=out)
    return EXIT_BAD if result.regressed else EXIT_OK


# ---------------------------------------------------------------------------------------------
# merge
# ---------------------------------------------------------------------------------------------
def _verdict_exit(results: dict[str, Any]) -> int:
    summary = results.get("summary") or {}
    return EXIT_BAD if summary.get("mandatory_failed") or summary.get("mandatory_error") else EXIT_OK


def cmd_merge(inputs: Iterable[Path], out_dir: Path, lang: str | None = None,
              signing_key: Path | None = None, out: TextIO | None = None) -> int:
    """Merge results files (or report folders) into a new signed bundle in ``out_dir``."""
    lang = _lang(lang)
    out = out or sys.stdout
    paths = [Path(p) / RESULTS if Path(p).is_dir() else Path(p) for p in inputs]
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        _err(f"{out_dir} : le dossier de sortie n'est pas vide / output folder is not empty")
        return EXIT_USAGE
    loaded = []
    for path in paths:
        data = _load(path, lang)
        if data is None:
            return EXIT_USAGE
        loaded.append(data)
    if not loaded:
        _err("aucun fichier de résultats / no results file")
        return EXIT_USAGE
    for path in paths:  # say so when an input bundle was altered; do not refuse (the report shows digests)
        if (path.parent / MANIFEST).exists():
            check = verify(path.parent)
            if not check.intact:
                _err(f"{path.parent} : " + t("cmd.verify_broken", lang) + " "
                     + ", ".join(check.changed + check.added + check.removed))
    outcome = merge_results(loaded)
    out_dir.mkdir(parents=True, exist_ok=True)
    for copy in outcome.copies:
        source = paths[copy.run].parent.joinpath(*copy.source.split("/"))
        if safe_relpath(copy.source) is None or not source.is_file() or source.is_symlink():
            _err(t("merge.evidence_missing", lang, path=f"{paths[copy.run].parent}/{copy.source}"))
            continue
        if sha256_file(source) != copy.sha256:
            _err(t("merge.evidence_mismatch", lang, path=f"{paths[copy.run].parent}/{copy.source}"))
        target = out_dir.joinpath(*copy.target.split("/"))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    for fr, en in outcome.warnings:
        _err(en if lang == "en" else fr)
    from conformance.results import write_results

    write_results(out_dir / RESULTS, outcome.results)
    try:
        write_all(outcome.results, out_dir, lang, signing_key or signing_key_from_env())
    except SigningError as exc:
        _err(t("cmd.bad_key", lang, err=str(exc)))
        return EXIT_USAGE
    print(t("merge.done", lang, n=len(loaded), reqs=len(outcome.results["requirements"]), out=str(out_dir)),
          file=out)
    return _verdict_exit(outcome.results)


# ---------------------------------------------------------------------------------------------
# export
# ---------------------------------------------------------------------------------------------
def cmd_export(results: Path | dict[str, Any], out_dir: Path, formats: Iterable[str] = ("all",),
               lang: str | None = None, signing_key: Path | None = None, out: TextIO | None = None) -> int:
    """Write some formats (html, junit, csv, xlsx, or all) of a results file into ``out_dir``.

    When ``out_dir`` is a signed bundle, it is verified first (an altered bundle is refused rather than
    re-signed) and signed again afterwards, so ``verify`` keeps passing.
    """
    lang = _lang(lang)
    out = out or sys.stdout
    wanted: list[str] = []
    for fmt in formats:
        for part in str(fmt).split(","):
            part = part.strip().lower()
            if not part:
                continue
            if part == "all":
                wanted.extend(EXPORT_FORMATS)
            elif part in EXPORT_FORMATS:
                wanted.append(part)
            else:
                _err(t("export.unknown_format", lang, fmt=part, choices=", ".join(EXPORT_FORMATS + ("all",))))
                return EXIT_USAGE
    wanted = list(dict.fromkeys(wanted)) or list(EXPORT_FORMATS)
    data = results if isinstance(results, dict) else _load(Path(results), lang)
    if data is None:
        return EXIT_USAGE
    out_dir = Path(out_dir)
    signed_bundle = (out_dir / MANIFEST).exists()
    if signed_bundle:
        check = verify(out_dir)
        if not check.intact:
            _err(t("export.refused", lang, dir=str(out_dir)))
            return EXIT_BAD
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        key = load_or_create_key(signing_key or signing_key_from_env()) if ("html" in wanted or signed_bundle) else None
    except SigningError as exc:
        _err(t("cmd.bad_key", lang, err=str(exc)))
        return EXIT_USAGE
    written = write_formats(data, out_dir, lang, tuple(wanted), public_key_info(key) if key else None)
    if signed_bundle and key is not None:
        sign_bundle(out_dir, key, __version__)
        print(t("export.resigned", lang), file=out)
    print(t("export.done", lang, files=", ".join(str(p) for p in written)), file=out)
    return EXIT_OK


# ---------------------------------------------------------------------------------------------
# attach: the vendor's files for a manual proof, added to the signed bundle
# ---------------------------------------------------------------------------------------------
MAX_ATTACH_FILES = 50
MAX_ATTACH_BYTES = 500 * 1024 * 1024  # a demonstration video fits; a disk image does not
ATTACH_KIND = "Preuve manuelle"


def _manual_proof(results: dict[str, Any], proof_id: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    for req in results.get("requirements") or []:
        for scenario in req.get("scenarios") or [] if isinstance(req, dict) else []:
            for proof in scenario.get("proofs") or [] if isinstance(scenario, dict) else []:
                if isinstance(proof, dict) and proof.get("id") == proof_id:
                    return req, proof
    return None


def cmd_attach(report_dir: Path, proof_id: str, files: Iterable[Path], note: str = "", by: str = "",
               lang: str | None = None, signing_key: Path | None = None, out: TextIO | None = None) -> int:
    """Store the vendor's files under a manual proof, record them in results.json, re-render, re-sign.

    The bundle is verified first: a bundle altered since it was signed is refused, never re-signed.
    Each file is recorded with who attached it, when, its SHA-256 and the review status "pending"
    (the auditor's decision is separate). 0 attached, 1 refused (altered bundle), 2 usage problem.
    """
    from datetime import UTC, datetime

    from conformance.evidence import EvidenceStore, atomic_write

    report_dir = Path(report_dir)
    out = out or sys.stdout
    data = _load(report_dir, _lang(lang))
    if data is None:
        return EXIT_USAGE
    lang = _lang(lang or str((data.get("run") or {}).get("lang") or ""))
    files = [Path(f) for f in files]
    if not files or len(files) > MAX_ATTACH_FILES:
        _err(t("attach.count", lang, max=MAX_ATTACH_FILES))
        return EXIT_USAGE
    found = _manual_proof(data, proof_id)
    if found is None:
        _err(t("attach.unknown_proof", lang, proof=proof_id))
        return EXIT_USAGE
    req, proof = found
    if proof.get("method") != "manual":
        _err(t("attach.not_manual", lang, proof=proof_id))
        return EXIT_USAGE
    for path in files:
        if not path.is_file():
            _err(t("attach.no_file", lang, path=str(path)))
            return EXIT_USAGE
        if path.stat().st_size > MAX_ATTACH_BYTES:
            _err(t("attach.too_big", lang, path=str(path), max=MAX_ATTACH_BYTES))
            return EXIT_USAGE
    if (report_dir / MANIFEST).exists() and not verify(report_dir).intact:
        _err(t("export.refused", lang, dir=str(report_dir)))
        return EXIT_BAD
    try:
        key = load_or_create_key(signing_key or signing_key_from_env())
    except SigningError as exc:
        _err(t("cmd.bad_key", lang, err=str(exc)))
        return EXIT_USAGE
    store = EvidenceStore(report_dir)
    now = datetime.now(UTC).astimezone().isoformat(timespec="seconds")
    who = (by or os.environ.get("SEGUR_SIGNER", "") or os.environ.get("USER", "")).strip()[:200]
    attachments = proof.setdefault("attachments", [])
    evidence = data.setdefault("evidence", [])
    for path in files:
        ref = store.add(path.name, path.read_bytes(), kind=ATTACH_KIND, folder=f"manual-{proof_id}",
                        description=(note or path.name)[:1000], test=f"manual:{proof_id}")
        attachments.append({"path": ref.path, "sha256": ref.sha256, "size": ref.size, "name": path.name[:300],
                            "by": who, "at": now, "note": note[:2000], "review": "pending"})
        evidence.append(ref.to_dict())
        print(t("attach.stored", lang, path=ref.path, sha=ref.sha256[:16]), file=out)
    atomic_write(report_dir / RESULTS, json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8"))
    write_all(data, report_dir, lang, signing_key or signing_key_from_env())
    print(t("attach.done", lang, n=len(files), proof=proof_id, req=req.get("id", "")), file=out)
    return EXIT_OK
