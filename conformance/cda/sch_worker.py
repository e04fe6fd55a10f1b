"""A warm schematron worker: one local process keeps the compiled stylesheets between commands (issue 16).

Compiling the kit's schematrons in SaxonC takes most of a ``validate`` start-up (StrucMin alone: 5–12 s
on this machine), and SaxonC-HE cannot export a compiled stylesheet (SEF export is a Saxon-EE feature:
``compile_stylesheet(save=True)`` answers "Exporting a stylesheet requires Saxon-EE"). So a worker
process compiles once and serves later commands over a Unix-domain socket:

* the socket lives in ``<cache>/worker/`` (mode 0700, owned by the user; the client refuses any other
  folder), its name carries the kit hash, the engine and a digest of this package's schematron code,
  so a worker never answers for another kit or another version of the code;
* the worker accepts only connections from its own user (``SO_PEERCRED``), bounds each request (size,
  read time) and stops by itself after ``idle`` seconds without a request;
* one worker per socket (an exclusive ``flock`` on ``<socket>.lock``); a stale socket is replaced;
* the client (:class:`WarmRunner`, a drop-in for ``SchematronRunner.validate``) starts the worker on
  demand and falls back to the in-process runner whenever the worker cannot start or answer: the
  worker changes where the verdict is computed, never the verdict.

The worker runs the same :class:`~conformance.cda.schematron.SchematronRunner` on the document's
serialised bytes (the in-process path serialises the tree for SaxonC too); lines are resolved again on
the client's own tree, so findings are those of the in-process runner.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import socket
import stat
import struct
import subprocess
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from lxml import etree

from conformance.cda import sch_factor
from conformance.cda import svrl as svrl_mod
from conformance.cda.kit import Kit, default_cache_root
from conformance.findings import Finding
from conformance.safexml import Limits, XmlRejected, parse_bytes

log = logging.getLogger(__name__)

ENV_WARM = "SEGUR_CDA_WARM"  # "1": validate through the warm worker (``validate --warm``)
ENV_IDLE = "SEGUR_CDA_WORKER_IDLE"  # seconds without a request before the worker stops (default 900)
ENV_SHARDS = "SEGUR_CDA_WORKER_SHARDS"  # "2": two workers, the volets in one, the 5 profiles in the other
PARTS = ("volets", "profiles")  # the shards, in the order their findings are merged
DEFAULT_IDLE = 900.0
START_TIMEOUT = 600.0  # a cold worker compiles every profile first (≈ 10–60 s here, more under load)
REPLY_TIMEOUT = 300.0  # one document, worst case on a loaded machine
READ_TIMEOUT = 30.0  # the worker's bound on reading one request
MAX_DOC = 50 * 1024 * 1024  # the CDA layer's own file bound (validate.MAX_FILE_BYTES)
MAX_HEADER = 64 * 1024
MAX_REPLY = 256 * 1024 * 1024
_MAX_SESSIONS = 32
_FRAME = struct.Struct(">II")
_LIMITS = Limits(max_bytes=MAX_DOC)
# every module of the CDA package: a worker started by other code never serves us (independent review:
# a hand-kept list missed sch_variant.py and the fastsch_*.py split)
_CODE_FILES = tuple(sorted(p.name for p in Path(__file__).parent.glob("*.py")))


def code_digest() -> str:
    """This package's schematron code and XSLT: a worker started by other code never serves us."""
    here = Path(__file__).parent
    h = hashlib.sha256()
    for name in _CODE_FILES:
        with contextlib.suppress(OSError):
            h.update(name.encode() + b"\0" + (here / name).read_bytes())
    for p in sorted((here / "_schematron_xsl").glob("*.xsl")):
        h.update(p.name.encode() + b"\0" + p.read_bytes())
    h.update(sys.version.encode())
    return h.hexdigest()[:12]


def worker_dir(cache_root: Path | None = None) -> Path | None:
    """``<cache>/worker`` (the runner's cache folder, default the user cache), created 0700; None when it
    is not a private folder of this user."""
    d = (Path(cache_root) if cache_root is not None else default_cache_root()) / "worker"
    try:
        d.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = d.lstat()
    except OSError:
        return None
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        log.warning("warm worker disabled: %s is not a private folder of this user (0700)", d)
        return None
    return d


def socket_path(kit: Kit, engine: str, cache_root: Path | None = None, part: str | None = None) -> Path | None:
    d = worker_dir(cache_root)
    if d is None:
        return None
    tail = f"-{part}" if part else ""
    if not sch_factor.enabled():  # another stylesheet set (SEGUR_CDA_FACTOR=0): another worker
        tail += "-nofactor"
    path = d / f"cda-{kit.sha256[:16]}-{engine}-{code_digest()}{tail}.sock"
    return path if len(os.fsencode(path)) < 100 else None  # sun_path is 108 bytes


# ---------------------------------------------------------------------------------------------
# framing: two big-endian lengths, then a JSON header and the document bytes
# ---------------------------------------------------------------------------------------------


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(min(n - len(buf), 1 << 20))
        if not chunk:
            raise ConnectionError("connection closed")
        buf += chunk
    return bytes(buf)


def _send(sock: socket.socket, header: dict[str, Any], body: bytes = b"") -> None:
    head = json.dumps(header, ensure_ascii=False).encode("utf-8")
    sock.sendall(_FRAME.pack(len(head), len(body)) + head + body)


def _recv(sock: socket.socket, max_header: int, max_body: int) -> tuple[dict[str, Any], bytes]:
    n_head, n_body = _FRAME.unpack(_recv_exact(sock, _FRAME.size))
    if n_head > max_header or n_body > max_body:
        raise ValueError(f"frame too large ({n_head} + {n_body} bytes)")
    header = json.loads(_recv_exact(sock, n_head))
    if not isinstance(header, dict):
        raise ValueError("header is not an object")
    return header, _recv_exact(sock, n_body)


# ---------------------------------------------------------------------------------------------
# the worker
# ---------------------------------------------------------------------------------------------


def serve(kit_path: Path, sock_path: Path, cache_dir: Path | None, engine: str, idle: float,
          part: str | None = None) -> int:
    """Compile, listen, answer until ``idle`` seconds pass without a request. Returns an exit code.

    ``part`` ("volets" or "profiles"): this worker is one shard and runs only those schematrons of
    each document (the "volets" shard also returns the selection notes), so no process holds them all.
    """
    from conformance.cda.schematron import STANDARD_PROFILES, SchematronRunner

    lock_fd = os.open(f"{sock_path}.lock", os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(lock_fd)
        return 0  # another worker holds this socket
    kit = Kit.open(kit_path)
    runner = SchematronRunner(kit, cache_dir, engine=engine)
    if part != "volets":  # warm before listening: a client waits for the socket to appear
        for rel in STANDARD_PROFILES:
            runner.compile(kit.schematron_dir / rel)
    with contextlib.suppress(FileNotFoundError):
        sock_path.unlink()  # stale: its worker no longer holds the lock
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        server.bind(str(sock_path))
    finally:
        os.umask(old)
    server.listen(8)
    server.settimeout(idle)
    ident = os.stat(sock_path).st_ino
    log.info("warm schematron worker ready on %s (idle timeout %.0f s)", sock_path, idle)
    sessions: OrderedDict[str, Any] = OrderedDict()

    def session(token: str) -> Any:
        """One runner per client session: like the in-process runner of one command, it says each kit
        fix once (the compiled stylesheets are shared by every runner of the process)."""
        if token not in sessions:
            sessions[token] = SchematronRunner(kit, cache_dir, engine=engine)
            while len(sessions) > _MAX_SESSIONS:
                sessions.popitem(last=False)
        sessions.move_to_end(token)
        return sessions[token]

    try:
        while True:
            try:
                conn, _addr = server.accept()
            except TimeoutError:
                return 0
            with conn:
                try:
                    _answer(conn, session, part)
                except _Stop:
                    return 0
    finally:
        server.close()
        with contextlib.suppress(OSError):
            if os.stat(sock_path).st_ino == ident:
                sock_path.unlink()
        os.close(lock_fd)


class _Stop(BaseException):  # not caught by the per-request handlers
    """A ``stop`` request from the worker's own user."""


def _validate_part(runner: Any, tree: etree._ElementTree, artefact: str, part: str | None,
                   source: bytes | None = None) -> list[Finding]:
    """What one worker answers: everything, or its shard (the two shards' answers, volets first, are
    exactly ``runner.validate``: selection notes, then each schematron's findings in selection order)."""
    if part is None:
        return list(runner.validate(tree, artefact, source))
    sel = runner.select(tree)
    if part == "volets":
        out = [f.with_artefact(artefact) for f in sel.notes]
        return out + list(runner.validate_with(tree, artefact, sel.volets, source))
    return list(runner.validate_with(tree, artefact, sel.profiles, source))


def _answer(conn: socket.socket, session: Callable[[str], Any], part: str | None = None) -> None:
    try:
        pid, uid, _gid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
        if uid != os.getuid():
            log.warning("warm worker: refused a connection from uid %s (pid %s)", uid, pid)
            return
        conn.settimeout(READ_TIMEOUT)
        header, body = _recv(conn, MAX_HEADER, MAX_DOC)
        conn.settimeout(None)
        if header.get("op") == "ping":
            _send(conn, {"ok": True, "pid": os.getpid()})
            return
        if header.get("op") == "stop":
            _send(conn, {"ok": True, "pid": os.getpid()})
            raise _Stop
        artefact = str(header.get("artefact", ""))[:4096]
        tree = parse_bytes(body, _LIMITS)
        findings = _validate_part(session(str(header.get("session", ""))[:64]), tree, artefact, part, body)
        _send(conn, {"ok": True, "findings": [f.to_dict() for f in findings]})
    except (OSError, ValueError, XmlRejected) as exc:
        with contextlib.suppress(OSError):
            _send(conn, {"ok": False, "error": str(exc)[:500]})
    except Exception as exc:  # never let one document stop the worker
        log.exception("warm worker: request failed")
        with contextlib.suppress(OSError):
            _send(conn, {"ok": False, "error": f"{exc.__class__.__name__}: {exc}"[:500]})


# ---------------------------------------------------------------------------------------------
# the client
# ---------------------------------------------------------------------------------------------


class WarmRunner:
    """``validate(tree, artefact)`` through the warm worker, else in-process (same findings).

    ``shards=2`` (or ``SEGUR_CDA_WORKER_SHARDS=2``): two workers, one holding the volets and one the 5
    profiles, asked in parallel and their findings concatenated (volets first): no process holds every
    compiled stylesheet (issue 16, peak memory per process). Any shard failing sends the whole document
    in-process.
    """

    def __init__(self, kit: Kit, cache_dir: Path | None = None, *, engine: str | None = None,
                 idle: float | None = None, start: bool = True, start_timeout: float = START_TIMEOUT,
                 worker_root: Path | None = None, shards: int | None = None) -> None:
        from conformance.cda.schematron import default_engine

        self.kit = kit
        self.cache_dir = cache_dir
        self.engine = engine or default_engine()
        self.idle = idle if idle is not None else float(os.environ.get(ENV_IDLE) or DEFAULT_IDLE)
        self.start = start
        self.start_timeout = start_timeout
        if shards is None:
            shards = 2 if (os.environ.get(ENV_SHARDS) or "").strip() == "2" else 1
        if shards not in (1, 2):
            raise ValueError(f"shards must be 1 or 2, not {shards}")
        root = worker_root if worker_root is not None else cache_dir
        parts: tuple[str | None, ...] = PARTS if shards == 2 else (None,)
        self.sockets = [(part, socket_path(kit, self.engine, root, part)) for part in parts]
        self.socket = self.sockets[0][1] if shards == 1 else None  # the one worker's socket (unsharded)
        self.used_worker = 0  # documents the worker answered (tests, benchmark)
        self._session = os.urandom(8).hex()
        self._local: Any = None
        self._broken = any(path is None for _part, path in self.sockets)
        self._lock = threading.Lock()

    # the in-process fallback, created only when needed (it compiles everything)
    def local(self) -> Any:
        if self._local is None:
            from conformance.cda.schematron import SchematronRunner

            self._local = SchematronRunner(self.kit, self.cache_dir, engine=self.engine)
        return self._local

    def validate(self, tree: etree._ElementTree, artefact: str, source: bytes | None = None) -> list[Finding]:
        with self._lock:
            found = None if self._broken else self._remote(tree, artefact, source)
        if found is None:
            return self.local().validate(tree, artefact, source)
        self.used_worker += 1
        return [replace(f, line=svrl_mod.resolve_line(tree, f.xpath)) if f.line is not None else f for f in found]

    def _remote(self, tree: etree._ElementTree, artefact: str, source: bytes | None = None) -> list[Finding] | None:
        data = source if source is not None else etree.tostring(tree, encoding="UTF-8", xml_declaration=True)
        if len(data) > MAX_DOC:
            return None
        if len(self.sockets) == 1:
            part, path = self.sockets[0]
            assert path is not None
            return self._ask(path, part, artefact, data)
        answers: dict[int, list[Finding] | None] = {}

        def ask(i: int, part: str | None, path: Path) -> None:
            answers[i] = self._ask(path, part, artefact, data)

        threads = [threading.Thread(target=ask, args=(i, part, path), daemon=True)
                   for i, (part, path) in enumerate(self.sockets) if path is not None]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        out: list[Finding] = []
        for i in range(len(self.sockets)):  # volets first, then profiles: the in-process order
            got = answers.get(i)
            if got is None:
                return None
            out.extend(got)
        return out

    def _ask(self, path: Path, part: str | None, artefact: str, data: bytes) -> list[Finding] | None:
        try:
            sock = self._connect(path, part)
            if sock is None:
                self._broken = True
                return None
            with sock:
                sock.settimeout(REPLY_TIMEOUT)
                _send(sock, {"op": "validate", "artefact": artefact, "session": self._session}, data)
                reply, _ = _recv(sock, MAX_REPLY, 0)
        except (OSError, ValueError) as exc:
            log.warning("warm worker unavailable (%s): validating in-process", exc)
            self._broken = True
            return None
        if not reply.get("ok"):
            log.warning("warm worker error (%s): validating in-process", reply.get("error"))
            return None
        return [Finding.from_dict(d) for d in reply.get("findings", [])]

    def _connect(self, path: Path, part: str | None = None) -> socket.socket | None:
        sock = _try_connect(path)
        if sock is not None or not self.start:
            return sock
        proc = self._spawn(path, part)
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            sock = _try_connect(path)
            if sock is not None:
                return sock
            if proc.poll() is not None:  # lost the lock race to another worker, or failed
                sock = _try_connect(path)
                if sock is None and proc.returncode != 0:
                    log.warning("warm worker did not start (exit %s)", proc.returncode)
                return sock if sock is not None else (self._wait_other(path, deadline) if proc.returncode == 0 else None)
            time.sleep(0.1)
        return None

    def _wait_other(self, path: Path, deadline: float) -> socket.socket | None:
        while time.monotonic() < deadline:
            sock = _try_connect(path)
            if sock is not None:
                return sock
            if not _locked(Path(f"{path}.lock")):
                return None
            time.sleep(0.1)
        return None

    def _spawn(self, path: Path, part: str | None = None) -> subprocess.Popen[bytes]:
        cmd = [sys.executable, "-m", "conformance.cda.sch_worker", "--kit", str(self.kit.path), "--socket",
               str(path), "--engine", self.engine, "--idle", str(self.idle)]
        if part is not None:
            cmd += ["--part", part]
        if self.cache_dir is not None:
            cmd += ["--cache", str(self.cache_dir)]
        log_path = Path(f"{path}.log")
        with contextlib.suppress(OSError):
            if log_path.stat().st_size > 1024 * 1024:
                log_path.unlink()  # bounded: a few lines per start and per command
        logf = open(log_path, "ab")  # noqa: SIM115 (handed to the child)
        try:
            return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                    start_new_session=True, close_fds=True)
        finally:
            logf.close()


def _try_connect(path: Path) -> socket.socket | None:
    try:
        st = path.lstat()
    except OSError:
        return None
    if not stat.S_ISSOCK(st.st_mode) or st.st_uid != os.getuid():
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(5.0)
        sock.connect(str(path))
        return sock
    except OSError:
        sock.close()
        return None


def _locked(path: Path) -> bool:
    """True when a live worker holds ``path`` (its lock file)."""
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


def ping(path: Path, op: str = "ping") -> int | None:
    """The worker's pid when one answers on ``path`` (tests, diagnostics); ``op="stop"`` also stops it."""
    sock = _try_connect(path)
    if sock is None:
        return None
    with sock:
        try:
            _send(sock, {"op": op})
            reply, _ = _recv(sock, MAX_HEADER, 0)
        except (OSError, ValueError):
            return None
    return int(reply["pid"]) if reply.get("ok") else None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m conformance.cda.sch_worker",
                                 description="warm CDA schematron worker (started by validate --warm)")
    ap.add_argument("--kit", type=Path, required=True)
    ap.add_argument("--socket", type=Path, required=True)
    ap.add_argument("--cache", type=Path, help="the runner's cache folder (default: the user cache)")
    ap.add_argument("--engine", choices=("fast", "official"), default="fast")
    ap.add_argument("--idle", type=float, default=DEFAULT_IDLE)
    ap.add_argument("--part", choices=PARTS, help="serve one shard only (WarmRunner(shards=2))")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if worker_dir(args.socket.parent.parent) != args.socket.parent:
        log.error("refusing to serve outside a private worker folder: %s", args.socket)
        return 2
    return serve(args.kit, args.socket, args.cache, args.engine, max(1.0, min(args.idle, 86400.0)), args.part)


if __name__ == "__main__":
    sys.exit(main())
