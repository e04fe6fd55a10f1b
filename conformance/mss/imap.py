"""Mailboxes of the MSSanté simulator, and a small IMAP4rev1 server so a candidate can fetch them.

Why IMAP: an MDN is an e-mail sent *to the candidate's mailbox*; a real DUI reads it from its
operator over IMAP (protocols.md §2.4: IMAP/SMTP with TLS, STARTTLS; socle SC.MSS/CONF.06). Contract
v1 has no route to push a notification into the candidate, so the simulator keeps what it sends in
per-address mailboxes and serves them here. Only the subset a mail client needs to poll a mailbox
is implemented: CAPABILITY, STARTTLS, AUTHENTICATE EXTERNAL (IGC-Santé client certificate, the
applicative-mailbox case) or XOAUTH2 (a PSC bearer token), SELECT/EXAMINE INBOX, (UID) SEARCH,
(UID) FETCH, (UID) STORE, EXPUNGE, CLOSE, NOOP, LOGOUT. LOGIN is refused, as the operator does.
Every wait is bounded (socket timeout, line length, command count).
"""

from __future__ import annotations

import base64
import binascii
import re
import socket
import socketserver
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509

MAX_LINE = 8192
MAX_COMMANDS = 2000
SOCKET_TIMEOUT = 30.0
MAX_PER_MAILBOX = 1000


@dataclass
class StoredMail:
    uid: int
    raw: bytes
    flags: set[str] = field(default_factory=set)
    stored_at: float = field(default_factory=time.time)


class MailStore:
    """Thread-safe per-address mailboxes (addresses compared case-insensitively)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._boxes: dict[str, list[StoredMail]] = {}
        self._next_uid: dict[str, int] = {}

    def deliver(self, address: str, raw: bytes) -> int:
        key = address.strip().lower()
        with self._lock:
            uid = self._next_uid.get(key, 1)
            self._next_uid[key] = uid + 1
            box = self._boxes.setdefault(key, [])
            box.append(StoredMail(uid, raw))
            del box[:-MAX_PER_MAILBOX]
            return uid

    def messages(self, address: str) -> list[StoredMail]:
        with self._lock:
            return list(self._boxes.get(address.strip().lower(), []))

    def expunge(self, address: str) -> list[int]:
        """Remove \\Deleted messages; return their 1-based sequence numbers (highest first, as IMAP sends)."""
        key = address.strip().lower()
        with self._lock:
            box = self._boxes.get(key, [])
            gone = [i + 1 for i, m in enumerate(box) if "\\Deleted" in m.flags]
            self._boxes[key] = [m for m in box if "\\Deleted" not in m.flags]
            return sorted(gone, reverse=True)

    def uid_next(self, address: str) -> int:
        with self._lock:
            return self._next_uid.get(address.strip().lower(), 1)

    def clear(self) -> None:
        with self._lock:
            self._boxes.clear()


@dataclass
class ImapSession:
    """What one IMAP connection did (for logs and for the CONF.06 / CONF.12 checks)."""

    id: int
    peer: str
    started: float = field(default_factory=time.time)
    starttls: bool = False
    tls_version: str = ""
    cipher: str = ""
    client_cert_email: str = ""
    auth_mechanism: str = ""
    mailbox: str = ""
    commands: list[str] = field(default_factory=list)
    fetched_uids: list[int] = field(default_factory=list)
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


class _Line:
    """A bounded line reader over a (possibly TLS-wrapped) socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""

    def readline(self) -> bytes | None:
        while b"\n" not in self.buf:
            if len(self.buf) > MAX_LINE:
                raise ValueError("line too long")
            chunk = self.sock.recv(4096)
            if not chunk:
                return None
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        if len(line) > MAX_LINE:
            raise ValueError("line too long")
        return line.rstrip(b"\r")

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)


_SEQ = re.compile(r"^[0-9:*,]+$")


def _seq_set(spec: str, maximum: int) -> list[int]:
    out: set[int] = set()
    for item in spec.split(",")[:100]:
        lo, _, hi = item.partition(":")
        a = maximum if lo == "*" else int(lo)
        b = a if not hi else (maximum if hi == "*" else int(hi))
        if a > b:
            a, b = b, a
        out.update(range(max(a, 1), min(b, maximum) + 1))
    return sorted(out)


class ImapServer:
    """IMAP4rev1 subset with STARTTLS on 127.0.0.1 (ephemeral port), one daemon thread per connection."""

    def __init__(self, store: MailStore, tls_context: Callable[[], ssl.SSLContext],
                 cert_check: Callable[[bytes], tuple[str, str]],
                 bearer_check: Callable[[str, str], bool] | None = None, host: str = "127.0.0.1") -> None:
        self.store = store
        self._tls_context = tls_context
        self._cert_check = cert_check  # DER → (status, e-mail)
        self._bearer_check = bearer_check
        self.sessions: list[ImapSession] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                outer._serve(self.request, self.client_address)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server((host, 0), Handler)
        self.host, self.port = self._server.server_address[:2]
        self._thread: threading.Thread | None = None

    def start(self) -> ImapServer:
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="mss-imap", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> ImapServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- protocol ------------------------------------------------------------------------------
    def _serve(self, sock: socket.socket, peer: Any) -> None:
        with self._lock:
            session = ImapSession(id=len(self.sessions) + 1, peer=f"{peer[0]}:{peer[1]}")
            self.sessions.append(session)
        sock.settimeout(SOCKET_TIMEOUT)
        conn = _Line(sock)
        state = {"tls": False, "auth": False, "selected": False}
        try:
            conn.send(b"* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] simulateur MSSante pret\r\n")
            for _ in range(MAX_COMMANDS):
                line = conn.readline()
                if line is None:
                    return
                text = line.decode("utf-8", "replace")
                tag, _, rest = text.partition(" ")
                command, _, args = rest.partition(" ")
                command = command.upper()
                if not tag or not command:
                    conn.send(b"* BAD empty command\r\n")
                    continue
                session.commands.append(command if command != "UID" else f"UID {args.split(' ')[0].upper()}")
                del session.commands[:-200]
                result = self._command(conn, session, state, tag, command, args)
                if result == "tls":
                    upgraded = self._starttls(conn, session, state)
                    if upgraded is None:
                        return
                    conn = upgraded
                elif result == "bye":
                    return
        except (OSError, ValueError, ssl.SSLError) as exc:
            session.error = f"{exc.__class__.__name__}: {exc}"[:300]
        finally:
            try:
                sock.close()
            except OSError:
                pass

    def _starttls(self, conn: _Line, session: ImapSession, state: dict[str, bool]) -> _Line | None:
        try:
            tls = self._tls_context().wrap_socket(conn.sock, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            session.error = f"échec TLS : {exc}"[:300]
            return None
        session.starttls = True
        session.tls_version = tls.version() or ""
        session.cipher = (tls.cipher() or ("",))[0]
        der = tls.getpeercert(binary_form=True)
        if der:
            status, mail = self._cert_check(der)
            if status == "valid":
                session.client_cert_email = mail
        state["tls"] = True
        return _Line(tls)

    def _caps(self, state: dict[str, bool]) -> bytes:
        if not state["tls"]:
            return b"IMAP4rev1 STARTTLS LOGINDISABLED"
        return b"IMAP4rev1 AUTH=EXTERNAL AUTH=XOAUTH2 LOGINDISABLED UIDPLUS"

    def _command(self, conn: _Line, session: ImapSession, state: dict[str, bool], tag: str, command: str,
                 args: str) -> str:
        t = tag.encode("utf-8", "replace")[:64]
        if command == "CAPABILITY":
            conn.send(b"* CAPABILITY " + self._caps(state) + b"\r\n" + t + b" OK CAPABILITY completed\r\n")
        elif command == "NOOP":
            conn.send(t + b" OK NOOP completed\r\n")
        elif command == "LOGOUT":
            conn.send(b"* BYE au revoir\r\n" + t + b" OK LOGOUT completed\r\n")
            return "bye"
        elif command == "STARTTLS":
            if state["tls"]:
                conn.send(t + b" BAD TLS already active\r\n")
            else:
                conn.send(t + b" OK Begin TLS negotiation now\r\n")
                return "tls"
        elif command == "LOGIN":
            conn.send(t + b" NO [PRIVACYREQUIRED] LOGIN refuse : certificat IGC-Sante ou jeton PSC requis\r\n")
        elif command == "AUTHENTICATE":
            self._authenticate(conn, session, state, t, args)
        elif not state["auth"]:
            conn.send(t + b" NO authentification requise\r\n")
        elif command in ("SELECT", "EXAMINE"):
            if args.strip().strip('"').upper() != "INBOX":
                conn.send(t + b" NO [NONEXISTENT] seule INBOX existe\r\n")
                return ""
            state["selected"] = True
            box = self.store.messages(session.mailbox)
            conn.send(b"* FLAGS (\\Seen \\Deleted \\Answered \\Flagged)\r\n"
                      + f"* {len(box)} EXISTS\r\n* 0 RECENT\r\n* OK [UIDVALIDITY 1] UIDs valid\r\n"
                        f"* OK [UIDNEXT {self.store.uid_next(session.mailbox)}] next uid\r\n".encode()
                      + t + (b" OK [READ-WRITE] " if command == "SELECT" else b" OK [READ-ONLY] ")
                      + command.encode() + b" completed\r\n")
        elif not state["selected"]:
            conn.send(t + b" NO aucune boite selectionnee\r\n")
        elif command == "UID":
            sub, _, rest = args.partition(" ")
            self._mail_command(conn, session, t, sub.upper(), rest, by_uid=True)
        elif command in ("SEARCH", "FETCH", "STORE"):
            self._mail_command(conn, session, t, command, args, by_uid=False)
        elif command in ("EXPUNGE", "CLOSE"):
            gone = self.store.expunge(session.mailbox)
            if command == "EXPUNGE":
                conn.send(b"".join(f"* {n} EXPUNGE\r\n".encode() for n in gone))
            else:
                state["selected"] = False
            conn.send(t + b" OK " + command.encode() + b" completed\r\n")
        else:
            conn.send(t + b" BAD commande non prise en charge\r\n")
        return ""

    def _authenticate(self, conn: _Line, session: ImapSession, state: dict[str, bool], t: bytes, args: str) -> None:
        if not state["tls"]:
            conn.send(t + b" NO [PRIVACYREQUIRED] STARTTLS d'abord\r\n")
            return
        if state["auth"]:
            conn.send(t + b" BAD deja authentifie\r\n")
            return
        mech, _, initial = args.partition(" ")
        mech = mech.upper()
        if mech not in ("EXTERNAL", "XOAUTH2"):
            conn.send(t + b" NO mecanisme non pris en charge\r\n")
            return
        if initial:
            blob = initial.strip()
        else:
            conn.send(b"+ \r\n")
            line = conn.readline()
            if line is None:
                return
            blob = line.decode("ascii", "replace").strip()
        if blob == "*":
            conn.send(t + b" BAD authentification abandonnee\r\n")
            return
        try:
            decoded = base64.b64decode(blob, validate=True) if blob not in ("", "=") else b""
        except (binascii.Error, ValueError):
            conn.send(t + b" BAD base64 invalide\r\n")
            return
        session.auth_mechanism = mech
        if mech == "EXTERNAL":
            identity = decoded.decode("utf-8", "replace").strip()
            mailbox = session.client_cert_email
            if mailbox and identity in ("", mailbox):
                self._authenticated(conn, session, state, t, mailbox)
                return
            conn.send(t + b" NO [AUTHENTICATIONFAILED] certificat client IGC-Sante valide requis\r\n")
            return
        fields = dict(p.split("=", 1) for p in decoded.decode("utf-8", "replace").split("\x01") if "=" in p)
        user = fields.get("user", "")
        token = fields.get("auth", "").removeprefix("Bearer ").strip()
        if self._bearer_check is not None and user and token and self._bearer_check(token, user):
            self._authenticated(conn, session, state, t, user)
            return
        conn.send(t + b" NO [AUTHENTICATIONFAILED] jeton refuse\r\n")

    def _authenticated(self, conn: _Line, session: ImapSession, state: dict[str, bool], t: bytes,
                       mailbox: str) -> None:
        session.mailbox = mailbox
        state["auth"] = True
        conn.send(t + b" OK [CAPABILITY " + self._caps(state) + b"] authentifie\r\n")

    def _mail_command(self, conn: _Line, session: ImapSession, t: bytes, command: str, args: str,
                      *, by_uid: bool) -> None:
        box = self.store.messages(session.mailbox)
        if command == "SEARCH":
            ids = [m.uid for m in box] if by_uid else list(range(1, len(box) + 1))
            if "UNSEEN" in args.upper():
                ids = [i for i, m in zip(ids, box, strict=True) if "\\Seen" not in m.flags]
            conn.send(b"* SEARCH" + b"".join(f" {i}".encode() for i in ids) + b"\r\n" + t + b" OK SEARCH completed\r\n")
            return
        spec, _, items = args.partition(" ")
        try:
            if not _SEQ.match(spec):
                raise ValueError(spec)
            if by_uid:
                wanted = set(_seq_set(spec, max((m.uid for m in box), default=0)))
                chosen = [(i + 1, m) for i, m in enumerate(box) if m.uid in wanted]
            else:
                chosen = [(n, box[n - 1]) for n in _seq_set(spec, len(box))]
        except ValueError:
            conn.send(t + b" BAD ensemble de messages invalide\r\n")
            return
        upper = items.upper()
        if command == "STORE":
            flags = set(re.findall(r"\\[A-Za-z]+", items))
            for _, mail in chosen:
                if upper.startswith("-FLAGS"):
                    mail.flags -= flags
                elif upper.startswith("+FLAGS"):
                    mail.flags |= flags
                else:
                    mail.flags = set(flags)
            out = b"".join(f"* {n} FETCH (UID {m.uid} FLAGS ({' '.join(sorted(m.flags))}))\r\n".encode()
                           for n, m in chosen)
            conn.send(out + t + b" OK STORE completed\r\n")
            return
        if command != "FETCH":
            conn.send(t + b" BAD commande non prise en charge\r\n")
            return
        for n, mail in chosen:
            parts = [f"UID {mail.uid}".encode()] if by_uid or "UID" in upper else []
            if "FLAGS" in upper:
                parts.append(f"FLAGS ({' '.join(sorted(mail.flags))})".encode())
            if "RFC822.SIZE" in upper:
                parts.append(f"RFC822.SIZE {len(mail.raw)}".encode())
            body_item = ""
            if "BODY.PEEK[]" in upper:
                body_item = "BODY[]"
            elif "BODY[]" in upper:
                body_item = "BODY[]"
                mail.flags.add("\\Seen")
            elif re.search(r"RFC822(?![.])", upper):
                body_item = "RFC822"
                mail.flags.add("\\Seen")
            if body_item:
                parts.append(f"{body_item} {{{len(mail.raw)}}}\r\n".encode() + mail.raw)
                session.fetched_uids.append(mail.uid)
                del session.fetched_uids[:-500]
            conn.send(f"* {n} FETCH (".encode() + b" ".join(parts) + b")\r\n")
        conn.send(t + b" OK FETCH completed\r\n")


def certificate_email(der: bytes) -> str:
    """The rfc822Name of a certificate (how an applicative mailbox is named in its ORG certificate)."""
    try:
        cert = x509.load_der_x509_certificate(der)
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        emails = san.get_values_for_type(x509.RFC822Name)
    except (ValueError, x509.ExtensionNotFound):
        return ""
    return str(emails[0]) if emails else ""
