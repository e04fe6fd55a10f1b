"""Tamper evidence for a report bundle: a SHA-256 manifest of every file, signed with Ed25519.

``manifest.json`` lists every file of the report folder (report, results, exports, evidence) with its
SHA-256 and size, plus the public key. ``manifest.sig`` holds the detached Ed25519 signature of the
exact bytes of ``manifest.json``, the SHA-256 of those bytes and a short self-check. The self-check is
not security (the signature is); it lets ``verify`` say *which* of the two files was touched, so that a
single changed byte anywhere in the bundle is reported against the right file name.

The signing key is created on first use in ``~/.config/segur-conformance/signing-key.pem`` (0600) or at
a path given. Authenticity needs the verifier to know the public key from elsewhere (``--public-key``);
with the key read from the manifest itself, ``verify`` proves integrity only and says so.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from conformance.evidence import atomic_write

MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
# the auditor's counter-signature (review.py) is a layer over the manifest, never an entry of it
REVIEW_LAYER = ("manifest.review.json", "manifest.review.sig")
MANIFEST_FORMAT = "segur-conformance-manifest"
SIGNATURE_FORMAT = "segur-conformance-signature"
FORMAT_VERSION = "1.0"
MAX_FILES = 200_000
MAX_MANIFEST_BYTES = 64 * 1024 * 1024
MAX_KEY_BYTES = 64 * 1024
_CHUNK = 1024 * 1024


class SigningError(RuntimeError):
    """The signing key cannot be created or read (bad file, wrong key type)."""


# ---------------------------------------------------------------------------------------------
# keys
# ---------------------------------------------------------------------------------------------
def default_key_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "segur-conformance" / "signing-key.pem"


def load_or_create_key(path: Path | None = None) -> Ed25519PrivateKey:
    """Read the Ed25519 private key at ``path`` (default location when None), creating it if absent."""
    path = Path(path).expanduser() if path is not None else default_key_path()
    if not path.exists():
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return _read_private_key(path)  # another process created it first
        except OSError as exc:
            raise SigningError(f"cannot create signing key {path}: {exc.strerror}") from None
        with os.fdopen(fd, "wb") as fh:
            fh.write(pem)
        return key
    return _read_private_key(path)


def _read_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        data = path.read_bytes()[: MAX_KEY_BYTES + 1]
    except OSError as exc:
        raise SigningError(f"cannot read signing key {path}: {exc.strerror}") from None
    if len(data) > MAX_KEY_BYTES:
        raise SigningError(f"{path}: not a signing key (file too large)")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise SigningError(f"{path}: not an unencrypted PEM private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningError(f"{path}: the signing key must be Ed25519, not {type(key).__name__}")
    return key


def raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def fingerprint(raw: bytes) -> str:
    """OpenSSH-style fingerprint of a raw public key: ``SHA256:<base64 without padding>``."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(raw).digest()).decode("ascii").rstrip("=")


def public_key_info(key: Ed25519PrivateKey | Ed25519PublicKey) -> dict[str, str]:
    """What the report prints: base64 of the raw key, its fingerprint and a PEM form."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = raw_public(public)
    pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return {"b64": base64.b64encode(raw).decode("ascii"), "fingerprint": fingerprint(raw),
            "pem": pem.decode("ascii")}


def load_public_key(source: Path | str | bytes | Ed25519PublicKey) -> Ed25519PublicKey:
    """A public key from a PEM file (public or private), PEM text, or base64 of the 32 raw bytes."""
    if isinstance(source, Ed25519PublicKey):
        return source
    data: bytes
    if isinstance(source, Path) or (isinstance(source, str) and "\n" not in source and Path(source).is_file()):
        path = Path(source)
        try:
            data = path.read_bytes()[: MAX_KEY_BYTES + 1]
        except OSError as exc:
            raise SigningError(f"cannot read {path}: {exc.strerror}") from None
        if len(data) > MAX_KEY_BYTES:
            raise SigningError(f"{path}: not a key file (too large)")
    else:
        data = source.encode("utf-8") if isinstance(source, str) else bytes(source)
    text = data.strip()
    try:
        if b"PRIVATE KEY" in text:
            private = serialization.load_pem_private_key(text, password=None)
            if not isinstance(private, Ed25519PrivateKey):
                raise SigningError("not an Ed25519 key")
            return private.public_key()
        if text.startswith(b"-----BEGIN"):
            public = serialization.load_pem_public_key(text)
            if not isinstance(public, Ed25519PublicKey):
                raise SigningError("not an Ed25519 key")
            return public
        raw = base64.b64decode(text, validate=True)
        if len(raw) != 32:
            raise SigningError("a raw Ed25519 public key is 32 bytes")
        return Ed25519PublicKey.from_public_bytes(raw)
    except (ValueError, TypeError) as exc:
        raise SigningError(f"not a public key ({exc})") from None


# ---------------------------------------------------------------------------------------------
# manifest
# ---------------------------------------------------------------------------------------------
def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def bundle_files(report_dir: Path) -> dict[str, os.stat_result]:
    """Every entry of the bundle (regular files and symlinks, not followed), manifest files excluded."""
    found: dict[str, os.stat_result] = {}
    for root, dirs, files in os.walk(report_dir, followlinks=False):
        dirs.sort()
        rel_root = Path(root).relative_to(report_dir)
        for name in sorted(files) + [d for d in dirs if (Path(root) / d).is_symlink()]:
            rel = (rel_root / name).as_posix()
            if rel in (MANIFEST, SIGNATURE) or rel in REVIEW_LAYER:
                continue
            st = os.lstat(Path(root) / name)
            if stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode):
                found[rel] = st
                if len(found) > MAX_FILES:
                    raise SigningError(f"{report_dir}: more than {MAX_FILES} files, refusing to sign")
    return found


def _entry(report_dir: Path, rel: str, st: os.stat_result) -> dict[str, Any]:
    path = report_dir.joinpath(*rel.split("/"))
    if stat.S_ISLNK(st.st_mode):
        return {"path": rel, "symlink": os.readlink(path)}
    return {"path": rel, "sha256": _sha256_file(path), "size": st.st_size}


def build_manifest(report_dir: Path, public: dict[str, str], harness_version: str = "") -> dict[str, Any]:
    files = [_entry(report_dir, rel, st) for rel, st in sorted(bundle_files(report_dir).items())]
    return {
        "format": MANIFEST_FORMAT, "format_version": FORMAT_VERSION,
        "created_at": datetime.now(UTC).astimezone().isoformat(timespec="seconds"),
        "harness_version": harness_version, "algorithm": "Ed25519", "digest": "sha256",
        "public_key": public["b64"], "public_key_fingerprint": public["fingerprint"],
        **({"signer": public["owner"]} if public.get("owner") else {}),
        "files": files,
    }


def _canonical(data: dict[str, Any]) -> bytes:
    return (json.dumps(data, ensure_ascii=True, indent=1, sort_keys=True) + "\n").encode("ascii")


def _check(fields: dict[str, Any]) -> str:
    """Self-check of the signature file: any edit of any field (or of the layout) shows."""
    return hashlib.sha256(_canonical({k: v for k, v in fields.items() if k != "check"})).hexdigest()[:16]


@dataclass(frozen=True)
class SignedManifest:
    manifest: Path
    signature: Path
    fingerprint: str
    files: int


def sign_bundle(report_dir: Path, key: Ed25519PrivateKey, harness_version: str = "", signer: str = ""
                ) -> SignedManifest:
    """Write ``manifest.json`` for the folder as it is now, then ``manifest.sig``.

    An auditor's counter-signature (``manifest.review.*``) signed the previous manifest: it lapses and is
    removed (the decisions in review.json keep their own signatures; a new review re-counter-signs).
    """
    for name in REVIEW_LAYER:
        (report_dir / name).unlink(missing_ok=True)
    public = public_key_info(key) | ({"owner": signer[:200]} if signer else {})
    manifest = build_manifest(report_dir, public, harness_version)
    data = (json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True) + "\n").encode("utf-8")
    manifest_path = report_dir / MANIFEST
    atomic_write(manifest_path, data)
    digest = hashlib.sha256(data).hexdigest()
    signature = base64.b64encode(key.sign(data)).decode("ascii")
    sig: dict[str, Any] = {"format": SIGNATURE_FORMAT, "format_version": FORMAT_VERSION, "algorithm": "Ed25519",
                           "public_key": public["b64"], "manifest_sha256": digest, "signature": signature}
    sig["check"] = _check(sig)
    sig_path = report_dir / SIGNATURE
    atomic_write(sig_path, _canonical(sig))
    return SignedManifest(manifest_path, sig_path, public["fingerprint"], len(manifest["files"]))


# ---------------------------------------------------------------------------------------------
# verification
# ---------------------------------------------------------------------------------------------
@dataclass
class VerifyResult:
    """What ``verify`` found. ``intact`` only when the signature holds and no file differs."""

    signature: str = "missing"  # valid | invalid | missing
    key_source: str = ""  # given | manifest
    fingerprint: str = ""
    files_checked: int = 0
    changed: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (French, English)
    signer: str = ""  # the vendor key's holder, as recorded in the manifest
    review: Any = None  # review.ReviewLayer: the auditor's counter-signature and decisions

    @property
    def intact(self) -> bool:
        return (self.signature == "valid" and not self.changed and not self.added and not self.removed
                and not self.problems)

    @property
    def status(self) -> str:
        return "intact" if self.intact else "altered"

    def problem(self, fr: str, en: str) -> None:
        self.problems.append((fr, en))

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "signature": self.signature, "key_source": self.key_source,
                "fingerprint": self.fingerprint, "files_checked": self.files_checked,
                "changed": self.changed, "added": self.added, "removed": self.removed,
                "problems": [{"fr": fr, "en": en} for fr, en in self.problems], "signer": self.signer,
                "review": self.review.to_dict() if self.review is not None else None}


def _safe_manifest_path(path: Any) -> str | None:
    if not isinstance(path, str) or not path or len(path) > 4096 or "\\" in path or "\x00" in path:
        return None
    pure = PurePosixPath(path)
    if pure.is_absolute() or any(p in ("", ".", "..") for p in pure.parts):
        return None
    return pure.as_posix()


def _read_bounded(path: Path, limit: int) -> bytes | None:
    try:
        with path.open("rb") as fh:
            data = fh.read(limit + 1)
    except OSError:
        return None
    return data if len(data) <= limit else None


def _check_signature_file(result: VerifyResult, sig_bytes: bytes, manifest_bytes: bytes
                          ) -> dict[str, Any] | None:
    """Decide whether manifest.sig itself was altered, then whether manifest.json was."""
    try:
        sig = json.loads(sig_bytes.decode("ascii"))
        fields = [sig["algorithm"], sig["public_key"], sig["manifest_sha256"], sig["signature"]]
        if not all(isinstance(f, str) for f in fields) or sig.get("format") != SIGNATURE_FORMAT:
            raise ValueError("bad fields")
        if sig.get("check") != _check(sig) or _canonical(sig) != sig_bytes:
            raise ValueError("self-check")
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, AttributeError, RecursionError):
        result.changed.append(SIGNATURE)
        result.signature = "invalid"
        return None
    if hashlib.sha256(manifest_bytes).hexdigest() != sig["manifest_sha256"]:
        result.changed.append(MANIFEST)
        result.signature = "invalid"
        return None
    return dict(sig)


def verify(report_dir: Path, public_key: Path | str | bytes | Ed25519PublicKey | None = None,
           reviewer_key: Path | str | bytes | Ed25519PublicKey | None = None) -> VerifyResult:
    """Check the bundle against its signed manifest: which files changed, appeared or vanished.

    ``public_key`` (a PEM file or text, or base64 of the raw key) is the key the verifier trusts; without
    it, the key recorded in the bundle is used and only integrity is proven. A bad key argument raises
    ``SigningError`` (a usage problem, not a verdict on the bundle). When an auditor counter-signed the
    bundle (``segur-conformance review``), that layer is checked too (``reviewer_key``: the auditor's
    public key, when known) and ``result.review`` names who signed what.
    """
    report_dir = Path(report_dir)
    result = VerifyResult()
    trusted = load_public_key(public_key) if public_key is not None else None
    manifest_bytes = _read_bounded(report_dir / MANIFEST, MAX_MANIFEST_BYTES)
    sig_bytes = _read_bounded(report_dir / SIGNATURE, 64 * 1024)
    if manifest_bytes is None:
        result.removed.append(MANIFEST)
        result.problem("manifest.json absent ou illisible : dossier non vérifiable",
                       "manifest.json missing or unreadable: bundle cannot be verified")
        result.signature = "missing" if sig_bytes is None else "invalid"
        if sig_bytes is None:
            result.removed.append(SIGNATURE)
        return result
    sig: dict[str, Any] | None = None
    if sig_bytes is None:
        result.removed.append(SIGNATURE)
        result.signature = "missing"
    else:
        sig = _check_signature_file(result, sig_bytes, manifest_bytes)
    try:
        manifest = json.loads(manifest_bytes.decode("utf-8"))
        if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
            raise ValueError("not a manifest")
        entries = manifest.get("files")
        if not isinstance(entries, list):
            raise ValueError("no file list")
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: "[[[[…" nested too deep
        if MANIFEST not in result.changed:
            result.changed.append(MANIFEST)
        result.problem("manifest.json n'est pas un manifeste lisible", "manifest.json is not a readable manifest")
        return result
    if sig is not None:
        _verify_signature(result, sig, manifest, manifest_bytes, trusted)
    result.signer = str(manifest.get("signer", ""))[:200]
    _compare_files(result, report_dir, entries)
    from conformance.report.review import check_review_layer

    trusted_reviewer = load_public_key(reviewer_key) if reviewer_key is not None else None
    result.review = check_review_layer(report_dir, result, manifest_bytes, trusted_reviewer)
    return result


def _verify_signature(result: VerifyResult, sig: dict[str, Any], manifest: dict[str, Any],
                      manifest_bytes: bytes, trusted: Ed25519PublicKey | None) -> None:
    recorded = sig["public_key"]
    if manifest.get("public_key") != recorded:
        result.signature = "invalid"
        result.problem("la clé publique du manifeste et celle de la signature diffèrent",
                       "the manifest's public key and the signature's differ")
        return
    try:
        recorded_key = load_public_key(recorded)
    except SigningError:
        result.signature = "invalid"
        result.problem("clé publique du manifeste illisible", "unreadable public key in the manifest")
        return
    key = trusted if trusted is not None else recorded_key
    result.key_source = "given" if trusted is not None else "manifest"
    result.fingerprint = fingerprint(raw_public(key))
    if trusted is not None and raw_public(trusted) != raw_public(recorded_key):
        result.signature = "invalid"
        result.problem(f"signé par une autre clé ({fingerprint(raw_public(recorded_key))}) que la clé fournie "
                       f"({result.fingerprint})",
                       f"signed by another key ({fingerprint(raw_public(recorded_key))}) than the one given "
                       f"({result.fingerprint})")
        return
    try:
        key.verify(base64.b64decode(sig["signature"], validate=True), manifest_bytes)
    except (InvalidSignature, ValueError):
        result.signature = "invalid"
        result.problem("signature Ed25519 invalide : manifest.json ou manifest.sig a été réécrit",
                       "invalid Ed25519 signature: manifest.json or manifest.sig was rewritten")
        return
    result.signature = "valid"


def compare_files(report_dir: Path, entries: list[Any], result: VerifyResult
                  ) -> tuple[list[str], list[str], list[str], set[str]]:
    """(changed, added, removed, listed) of the folder against manifest ``entries``; bad entries are problems."""
    changed: list[str] = []
    removed: list[str] = []
    expected: dict[str, dict[str, Any]] = {}
    for entry in entries:
        rel = _safe_manifest_path(entry.get("path")) if isinstance(entry, dict) else None
        if rel is None:
            result.problem("entrée de manifeste refusée (chemin invalide)", "manifest entry refused (invalid path)")
            continue
        expected[rel] = entry
    try:
        present = bundle_files(report_dir)
    except SigningError as exc:
        result.problem(str(exc), str(exc))
        return changed, [], removed, set(expected)
    for rel, entry in sorted(expected.items()):
        st = present.get(rel)
        if st is None:
            removed.append(rel)
            continue
        path = report_dir.joinpath(*rel.split("/"))
        if "symlink" in entry:
            same = stat.S_ISLNK(st.st_mode) and os.readlink(path) == entry["symlink"]
        else:
            same = (stat.S_ISREG(st.st_mode) and st.st_size == entry.get("size")
                    and _sha256_file(path) == entry.get("sha256"))
        if not same:
            changed.append(rel)
    return changed, sorted(set(present) - set(expected)), removed, set(expected)


def _compare_files(result: VerifyResult, report_dir: Path, entries: list[Any]) -> None:
    changed, added, removed, listed = compare_files(report_dir, entries, result)
    result.files_checked += len(listed) - len(removed)
    result.changed.extend(changed)
    result.added.extend(added)
    result.removed.extend(removed)
