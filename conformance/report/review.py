"""The auditor's review of the manual proofs, signed with the auditor's own key (issue 13 item 6).

The vendor's bundle is signed by the vendor (``manifest.json`` + ``manifest.sig``). The auditor cannot
re-sign it (the key is the vendor's) and must not alter what the vendor signed, so a review adds a
second, layered signature:

``review.json``
    the decisions, one entry per ``segur-conformance review`` call: proof, accepted or rejected, note,
    who, when, the attached files the decision covers (path and SHA-256), and the decision's own Ed25519
    signature by the auditor's key. The latest valid decision of a proof wins; a file attached after
    the decision is not covered by it and stays "to be reviewed".
``manifest.review.json`` + ``manifest.review.sig``
    the auditor's manifest: the SHA-256 of the vendor's ``manifest.json`` it counter-signs, and every
    file of the bundle as it is after the review, signed with the auditor's key.

The vendor's facts (``results.json``, every evidence and attached file) are never rewritten by a
review: ``verify`` still checks them against the vendor's signature. Only the derived views
(``RERENDERED``: report, PDF, JUnit, Convergence) are re-rendered to show the decisions; those are
then covered by the auditor's signature alone, and ``verify`` says so, naming who signed what.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from conformance.evidence import atomic_write

REVIEW = "review.json"
REVIEW_MANIFEST = "manifest.review.json"
REVIEW_SIGNATURE = "manifest.review.sig"
REVIEW_FORMAT = "segur-conformance-review"
REVIEW_MANIFEST_FORMAT = "segur-conformance-review-manifest"
DECISIONS = ("accepted", "rejected")
#: files a review re-renders from results.json + review.json (the vendor's facts stay untouched)
RERENDERED = ("report.html", "report.pdf", "junit-requirements.xml", "convergence.csv", "convergence.xlsx")
MAX_DECISIONS = 10_000
MAX_REVIEW_BYTES = 16 * 1024 * 1024


def canonical(data: dict[str, Any]) -> bytes:
    return (json.dumps(data, ensure_ascii=True, indent=1, sort_keys=True) + "\n").encode("ascii")


def _signed_part(decision: dict[str, Any]) -> bytes:
    return canonical({k: v for k, v in decision.items() if k != "signature"})


def sign_decision(decision: dict[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    from conformance.report.manifest import public_key_info

    public = public_key_info(key)
    out = dict(decision) | {"public_key": public["b64"], "fingerprint": public["fingerprint"]}
    out["signature"] = base64.b64encode(key.sign(_signed_part(out))).decode("ascii")
    return out


def decision_valid(decision: Any) -> bool:
    """The decision's own signature holds (with the key it names) and its fields make sense."""
    from conformance.report.manifest import SigningError, fingerprint, load_public_key, raw_public

    if not isinstance(decision, dict) or decision.get("decision") not in DECISIONS:
        return False
    if not isinstance(decision.get("proof"), str) or not isinstance(decision.get("signature"), str):
        return False
    try:
        key = load_public_key(str(decision.get("public_key", "")))
        key.verify(base64.b64decode(decision["signature"], validate=True), _signed_part(decision))
    except (SigningError, InvalidSignature, ValueError, TypeError, RecursionError):
        return False
    return fingerprint(raw_public(key)) == decision.get("fingerprint")


def load_review(report_dir: Path) -> dict[str, Any] | None:
    path = Path(report_dir) / REVIEW
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_REVIEW_BYTES + 1)
    except OSError:
        return None
    if len(raw) > MAX_REVIEW_BYTES:
        return None
    try:
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(data, dict) or data.get("format") != REVIEW_FORMAT or not isinstance(data.get("decisions"), list):
        return None
    return data


def latest_decisions(report_dir: Path) -> dict[str, dict[str, Any]]:
    """Proof id → its latest decision whose signature holds (an invalid one is ignored, never shown)."""
    data = load_review(report_dir)
    out: dict[str, dict[str, Any]] = {}
    for decision in (data or {}).get("decisions", [])[:MAX_DECISIONS]:
        if decision_valid(decision):
            out[decision["proof"]] = decision
    return out


def apply_review(results: dict[str, Any], report_dir: Path | None) -> dict[str, Any]:
    """A copy of ``results`` with each manual proof's signed decision (``proof.review``) and each covered
    attachment's review status; the vendor's results.json on disk is not touched."""
    if report_dir is None:
        return results
    decisions = latest_decisions(report_dir)
    if not decisions:
        return results
    out = copy.deepcopy(results)
    for req in out.get("requirements") or []:
        for scenario in (req.get("scenarios") or []) if isinstance(req, dict) else []:
            for proof in (scenario.get("proofs") or []) if isinstance(scenario, dict) else []:
                if not isinstance(proof, dict) or proof.get("method") != "manual":
                    continue
                decision = decisions.get(str(proof.get("id")))
                if decision is None:
                    continue
                covered = {(a.get("path"), a.get("sha256")) for a in decision.get("attachments") or []
                           if isinstance(a, dict)}
                proof["review"] = {k: decision.get(k) for k in ("decision", "note", "by", "at", "fingerprint")}
                for att in proof.get("attachments") or []:
                    if isinstance(att, dict):
                        att["review"] = (decision["decision"] if (att.get("path"), att.get("sha256")) in covered
                                         else "pending")
    return out


# ---------------------------------------------------------------------------------------------
# the auditor's manifest: a second signature over the bundle
# ---------------------------------------------------------------------------------------------
def sign_review_layer(report_dir: Path, key: Ed25519PrivateKey, reviewer: str, harness_version: str = "") -> str:
    """Write manifest.review.json (the vendor manifest's digest + every file now) and its signature."""
    from conformance.report.manifest import MANIFEST, build_manifest, public_key_info

    public = public_key_info(key)
    base = hashlib.sha256((report_dir / MANIFEST).read_bytes()).hexdigest()
    listing = build_manifest(report_dir, public, harness_version)
    manifest = {"format": REVIEW_MANIFEST_FORMAT, "format_version": "1.0", "base_manifest_sha256": base,
                "reviewer": reviewer[:200], "public_key": public["b64"],
                "public_key_fingerprint": public["fingerprint"], "created_at": listing["created_at"],
                "algorithm": "Ed25519", "digest": "sha256", "files": listing["files"]}
    data = (json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True) + "\n").encode("utf-8")
    atomic_write(report_dir / REVIEW_MANIFEST, data)
    sig = {"format": REVIEW_MANIFEST_FORMAT + "-signature", "format_version": "1.0", "algorithm": "Ed25519",
           "public_key": public["b64"], "manifest_sha256": hashlib.sha256(data).hexdigest(),
           "signature": base64.b64encode(key.sign(data)).decode("ascii")}
    atomic_write(report_dir / REVIEW_SIGNATURE, canonical(sig))
    return public["fingerprint"]


@dataclass
class ReviewLayer:
    """What verify found about the auditor's layer."""

    present: bool = False
    signature: str = "missing"  # valid | invalid | missing
    reviewer: str = ""
    fingerprint: str = ""
    rerendered: list[str] = field(default_factory=list)  # changed since the vendor signed, signed by the auditor
    decisions: list[dict[str, Any]] = field(default_factory=list)  # proof, decision, by, fingerprint, valid

    def to_dict(self) -> dict[str, Any]:
        return {"present": self.present, "signature": self.signature, "reviewer": self.reviewer,
                "fingerprint": self.fingerprint, "rerendered": self.rerendered, "decisions": self.decisions}


def _read(path: Path, limit: int) -> bytes | None:
    try:
        with path.open("rb") as fh:
            data = fh.read(limit + 1)
    except OSError:
        return None
    return data if len(data) <= limit else None


def check_review_layer(report_dir: Path, result: Any, vendor_manifest_bytes: bytes,
                       trusted: Ed25519PublicKey | None) -> ReviewLayer:
    """Check the auditor's layer and reconcile it with the vendor's comparison held in ``result``.

    Files that differ from the vendor's manifest are accepted only when they are derived views
    (``RERENDERED``) or review.json, and match the auditor's signed manifest; anything else stays a
    tampering. Every file must also match the auditor's manifest.
    """
    from conformance.report.manifest import (
        MAX_MANIFEST_BYTES,
        SigningError,
        compare_files,
        fingerprint,
        load_public_key,
        raw_public,
    )

    layer = ReviewLayer()
    review = load_review(report_dir)
    if review is not None:
        for d in review["decisions"][:MAX_DECISIONS]:
            ok = decision_valid(d)
            entry = d if isinstance(d, dict) else {}
            layer.decisions.append({"proof": str(entry.get("proof", "?"))[:200],
                                    "decision": str(entry.get("decision", "?"))[:20],
                                    "by": str(entry.get("by", ""))[:200],
                                    "fingerprint": str(entry.get("fingerprint", ""))[:80], "valid": ok})
            if not ok:
                result.problem(f"décision de revue sur {entry.get('proof', '?')} : signature invalide",
                               f"review decision on {entry.get('proof', '?')}: invalid signature")
    elif (report_dir / REVIEW).exists():
        result.problem("review.json illisible", "review.json is unreadable")
    manifest_bytes = _read(report_dir / REVIEW_MANIFEST, MAX_MANIFEST_BYTES)
    sig_bytes = _read(report_dir / REVIEW_SIGNATURE, 64 * 1024)
    if manifest_bytes is None and sig_bytes is None:
        return layer
    layer.present = True
    if manifest_bytes is None or sig_bytes is None:
        layer.signature = "invalid"
        result.problem("signature de revue incomplète (manifest.review.json ou .sig absent)",
                       "incomplete review signature (manifest.review.json or .sig missing)")
        return layer
    try:
        manifest = json.loads(manifest_bytes.decode("utf-8"))
        sig = json.loads(sig_bytes.decode("ascii"))
        if manifest.get("format") != REVIEW_MANIFEST_FORMAT or not isinstance(manifest.get("files"), list):
            raise ValueError("not a review manifest")
        if sig.get("manifest_sha256") != hashlib.sha256(manifest_bytes).hexdigest():
            raise ValueError("digest")
        key = load_public_key(str(sig.get("public_key", "")))
        if sig.get("public_key") != manifest.get("public_key"):
            raise ValueError("key")
        key.verify(base64.b64decode(str(sig.get("signature", "")), validate=True), manifest_bytes)
    except (ValueError, TypeError, AttributeError, UnicodeDecodeError, RecursionError, SigningError,
            InvalidSignature):
        layer.signature = "invalid"
        result.problem("signature de revue (manifest.review.sig) invalide", "invalid review signature")
        return layer
    layer.reviewer = str(manifest.get("reviewer", ""))[:200]
    layer.fingerprint = fingerprint(raw_public(key))
    if trusted is not None and raw_public(trusted) != raw_public(key):
        layer.signature = "invalid"
        result.problem(f"revue signée par une autre clé ({layer.fingerprint}) que celle fournie",
                       f"review signed by another key ({layer.fingerprint}) than the one given")
        return layer
    if manifest.get("base_manifest_sha256") != hashlib.sha256(vendor_manifest_bytes).hexdigest():
        layer.signature = "invalid"
        result.problem("la revue contresigne un autre manifeste de l'éditeur que celui du dossier",
                       "the review counter-signs another vendor manifest than the bundle's")
        return layer
    layer.signature = "valid"
    changed, added, removed, checked = compare_files(report_dir, manifest["files"], result)
    allowed = set(RERENDERED) | {REVIEW}
    for rel in list(result.changed):
        if rel in RERENDERED and rel not in changed:
            result.changed.remove(rel)
            layer.rerendered.append(rel)
    for rel in list(result.added):
        if rel in allowed and rel not in changed:
            result.added.remove(rel)
            layer.rerendered.append(rel)
    for rel in list(result.removed):
        if rel in RERENDERED and rel not in removed and rel not in checked:
            result.removed.remove(rel)  # e.g. a report.pdf the review could not re-print: signed as absent
            layer.rerendered.append(rel)
    for bucket, extra in ((result.changed, changed), (result.added, added), (result.removed, removed)):
        bucket.extend(r for r in extra if r not in bucket)
    layer.rerendered.sort()
    return layer


def now() -> str:
    return datetime.now(UTC).astimezone().isoformat(timespec="seconds")
