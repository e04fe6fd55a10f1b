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
from conformance.report.review import apply_review

EXIT_OK, EXIT_BAD, EXIT_USAGE = 0, 1, 2
EXPORT_FORMATS = tuple(FILES)

__all__ = ["ReportPaths", "cmd_attach", "cmd_diff", "cmd_export", "cmd_merge", "cmd_review", "cmd_verify",
           "write_all"]


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
def _print_signers(result: Any, lang: str, out: TextIO) -> None:
    """Who signed what: the vendor's key over the campaign, the auditor's over the review."""
    review = result.review
    signer = result.signer or t("hdr.signer_unknown", lang)
    print("  " + t("cmd.verify_vendor", lang, who=signer, fp=result.fingerprint, n=result.files_checked), file=out)
    if review is None:
        return
    if review.present and review.signature == "valid":
        print("  " + t("cmd.verify_reviewer", lang, who=review.reviewer or "?", fp=review.fingerprint,
                       files=", ".join(review.rerendered) or "—"), file=out)
    for d in review.decisions:
        print("    " + t("cmd.verify_decision", lang, proof=d["proof"], decision=t("review." + d["decision"], lang)
                         if d["decision"] in ("accepted", "rejected") else d["decision"], who=d["by"] or "?",
                         fp=d["fingerprint"]), file=out)


def cmd_verify(report_dir: Path, public_key: Path | None = None, lang: str | None = None,
               out: TextIO | None = None, reviewer_key: Path | str | None = None) -> int:
    lang = _lang(lang)
    out = out or sys.stdout
    try:
        result = verify(Path(report_dir), public_key, reviewer_key)
    except SigningError as exc:
        _err(t("cmd.bad_key", lang, err=str(exc)))
        return EXIT_USAGE
    if result.intact:
        print(t("cmd.verify_intact", lang, n=result.files_checked, fp=result.fingerprint), file=out)
        _print_signers(result, lang, out)
        if result.key_source == "manifest":
            print(t("cmd.verify_key_from_manifest", lang, fp=result.fingerprint), file=out)
        if result.review is not None and result.review.present and reviewer_key is None:
            print(t("cmd.verify_reviewer_from_bundle", lang, fp=result.review.fingerprint), file=out)
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
    written = write_formats(apply_review(data, out_dir), out_dir, lang, tuple(wanted),
                            public_key_info(key) if key else None)
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


def cmd_attach(report_dir: Path, proof_id: str | None, files: Iterable[Path], note: str = "", by: str = "",
               lang: str | None = None, signing_key: Path | None = None, out: TextIO | None = None,
               attestations: Path | None = None) -> int:
    """Store the vendor's files under manual proofs, record them in results.json, re-render, re-sign.

    One proof (``proof_id`` + ``files``) or many at once (``attestations``: a YAML list of
    ``{proof, files, note, by}``, file paths relative to the YAML file). Everything is checked before
    anything is stored. The bundle is verified first: a bundle altered since it was signed is refused,
    never re-signed. Each file is recorded with who attached it, when, its SHA-256 and the review status
    "pending" (the auditor's decision is separate). 0 attached, 1 refused (altered bundle), 2 usage problem.
    """
    report_dir = Path(report_dir)
    data = _load(report_dir, _lang(lang))
    if data is None:
        return EXIT_USAGE
    lang = _lang(lang or str((data.get("run") or {}).get("lang") or ""))
    if attestations is not None:
        items = _attestations(Path(attestations), lang)
        if items is None:
            return EXIT_USAGE
        if proof_id or list(files):
            _err(t("attach.from_exclusive", lang))
            return EXIT_USAGE
    else:
        items = [{"proof": proof_id or "", "files": [Path(f) for f in files], "note": note, "by": by}]
    return _attach_items(report_dir, data, items, lang, signing_key, out or sys.stdout)


MAX_ATTESTATION_BYTES = 1024 * 1024


def _attestations(path: Path, lang: str) -> list[dict[str, Any]] | None:
    """``[{proof, files: [..], note, by}]`` from a YAML file (a list, or ``{attestations: [..]}``)."""
    import yaml

    try:
        raw = path.read_bytes()[: MAX_ATTESTATION_BYTES + 1]
        if len(raw) > MAX_ATTESTATION_BYTES:
            raise ValueError("file too large")
        doc = yaml.safe_load(raw.decode("utf-8"))
    except (OSError, ValueError, UnicodeDecodeError, yaml.YAMLError) as exc:
        _err(t("attach.bad_yaml", lang, path=str(path), err=str(exc)[:200]))
        return None
    if isinstance(doc, dict):
        doc = doc.get("attestations")
    if not isinstance(doc, list) or not doc:
        _err(t("attach.bad_yaml", lang, path=str(path), err="list of {proof, files, note, by} expected"))
        return None
    items: list[dict[str, Any]] = []
    for n, entry in enumerate(doc, 1):
        files = entry.get("files") if isinstance(entry, dict) else None
        if isinstance(files, str):
            files = [files]
        if not isinstance(entry, dict) or not isinstance(entry.get("proof"), str) or not isinstance(files, list) \
                or not all(isinstance(f, str) for f in files):
            _err(t("attach.bad_yaml", lang, path=str(path), err=f"entry {n}: proof (text) and files (list) expected"))
            return None
        items.append({"proof": entry["proof"], "files": [path.parent / f for f in files],
                      "note": str(entry.get("note") or ""), "by": str(entry.get("by") or "")})
    return items


def _attach_items(report_dir: Path, data: dict[str, Any], items: list[dict[str, Any]], lang: str,
                  signing_key: Path | None, out: TextIO) -> int:
    from datetime import UTC, datetime

    from conformance.evidence import EvidenceStore, atomic_write

    total = sum(len(item["files"]) for item in items)
    if not total or total > MAX_ATTACH_FILES or any(not item["files"] for item in items):
        _err(t("attach.count", lang, max=MAX_ATTACH_FILES))
        return EXIT_USAGE
    resolved = []
    for item in items:
        found = _manual_proof(data, item["proof"])
        if found is None:
            _err(t("attach.unknown_proof", lang, proof=item["proof"]))
            return EXIT_USAGE
        if found[1].get("method") != "manual":
            _err(t("attach.not_manual", lang, proof=item["proof"]))
            return EXIT_USAGE
        for path in item["files"]:
            if not Path(path).is_file():
                _err(t("attach.no_file", lang, path=str(path)))
                return EXIT_USAGE
            if Path(path).stat().st_size > MAX_ATTACH_BYTES:
                _err(t("attach.too_big", lang, path=str(path), max=MAX_ATTACH_BYTES))
                return EXIT_USAGE
        resolved.append((item, found))
    if (report_dir / MANIFEST).exists() and not verify(report_dir).intact:
        _err(t("export.refused", lang, dir=str(report_dir)))
        return EXIT_BAD
    try:
        load_or_create_key(signing_key or signing_key_from_env())
    except SigningError as exc:
        _err(t("cmd.bad_key", lang, err=str(exc)))
        return EXIT_USAGE
    store = EvidenceStore(report_dir)
    now = datetime.now(UTC).astimezone().isoformat(timespec="seconds")
    evidence = data.setdefault("evidence", [])
    for item, (req, proof) in resolved:
        note, proof_id = str(item["note"]), str(item["proof"])
        who = (item["by"] or os.environ.get("SEGUR_SIGNER", "") or os.environ.get("USER", "")).strip()[:200]
        attachments = proof.setdefault("attachments", [])
        for path in map(Path, item["files"]):
            ref = store.add(path.name, path.read_bytes(), kind=ATTACH_KIND, folder=f"manual-{proof_id}",
                            description=(note or path.name)[:1000], test=f"manual:{proof_id}")
            attachments.append({"path": ref.path, "sha256": ref.sha256, "size": ref.size, "name": path.name[:300],
                                "by": who, "at": now, "note": note[:2000], "review": "pending"})
            evidence.append(ref.to_dict())
            print(t("attach.stored", lang, path=ref.path, sha=ref.sha256[:16]), file=out)
        print(t("attach.done", lang, n=len(item["files"]), proof=proof_id, req=req.get("id", "")), file=out)
    atomic_write(report_dir / RESULTS, json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8"))
    had_review = (report_dir / "manifest.review.json").exists()
    write_all(data, report_dir, lang, signing_key or signing_key_from_env())
    if had_review:
        print(t("attach.review_lapsed", lang), file=out)
    return EXIT_OK


# ---------------------------------------------------------------------------------------------
# review: the auditor's decision on a manual proof, counter-signed with the auditor's own key
# ---------------------------------------------------------------------------------------------
def cmd_review(report_dir: Path, proof_id: str, decision: str, note: str, auditor_key: Path, by: str = "",
               lang: str | None = None, out: TextIO | None = None) -> int:
    """Record ``accepted`` or ``rejected`` for a manual proof, re-render the views, counter-sign.

    The vendor's results.json and evidence are not touched (their signature keeps holding); the
    decision is signed on its own in review.json, and the bundle as it now stands is counter-signed in
    manifest.review.json/.sig with the auditor's key (never the vendor's). 0 recorded, 1 refused (altered
    bundle), 2 usage problem.
    """
    from conformance.report.bundle import render_bundle
    from conformance.report.review import (
        REVIEW,
        REVIEW_FORMAT,
        load_review,
        now,
        sign_decision,
        sign_review_layer,
    )

    report_dir = Path(report_dir)
    out = out or sys.stdout
    data = _load(report_dir, _lang(lang))
    if data is None:
        return EXIT_USAGE
    lang = _lang(lang or str((data.get("run") or {}).get("lang") or ""))
    if decision not in ("accepted", "rejected") or not note.strip():
        _err(t("review.usage", lang))
        return EXIT_USAGE
    found = _manual_proof(data, proof_id)
    if found is None:
        _err(t("attach.unknown_proof", lang, proof=proof_id))
        return EXIT_USAGE
    req, proof = found
    if proof.get("method") != "manual":
        _err(t("review.not_manual", lang, proof=proof_id))
        return EXIT_USAGE
    manifest_path = report_dir / MANIFEST
    if not manifest_path.exists():
        _err(t("review.unsigned", lang))
        return EXIT_USAGE
    check = verify(report_dir)
    if not check.intact:
        _err(t("export.refused", lang, dir=str(report_dir)))
        return EXIT_BAD
    try:
        key = load_or_create_key(Path(auditor_key))
    except SigningError as exc:
        _err(t("cmd.bad_key", lang, err=str(exc)))
        return EXIT_USAGE
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    if public_key_info(key)["b64"] == manifest.get("public_key"):
        _err(t("review.same_key", lang))
        return EXIT_USAGE
    who = (by or os.environ.get("USER", "")).strip()[:200]
    entry = sign_decision({
        "proof": proof_id, "requirement": str(req.get("id", ""))[:200],
        "run_id": str((data.get("run") or {}).get("run_id") or ""), "decision": decision, "note": note[:4000],
        "by": who, "at": now(),
        "attachments": [{"path": a.get("path"), "sha256": a.get("sha256")} for a in proof.get("attachments") or []
                        if isinstance(a, dict)],
    }, key)
    review = load_review(report_dir) or {"format": REVIEW_FORMAT, "format_version": "1.0", "decisions": []}
    review["decisions"].append(entry)
    from conformance.evidence import atomic_write

    atomic_write(report_dir / REVIEW, json.dumps(review, ensure_ascii=False, indent=1).encode("utf-8"))
    vendor = {"b64": str(manifest.get("public_key", "")), "fingerprint": str(manifest.get("public_key_fingerprint", ""))}
    if manifest.get("signer"):
        vendor["owner"] = str(manifest["signer"])[:200]
    render_bundle(data, report_dir, lang, vendor)
    fp = sign_review_layer(report_dir, key, who, __version__)
    print(t("review.done", lang, proof=proof_id, decision=t("review." + decision, lang), who=who or "?", fp=fp),
          file=out)
    return EXIT_OK
