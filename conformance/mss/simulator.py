"""The MSSanté operator simulator: SMTP with STARTTLS and IGC-Santé client certificates, on loopback.

What it does (protocols.md §2.4–2.5, checks M1–M11):
- accepts SMTP on 127.0.0.1 (ephemeral port) with aiosmtpd; MAIL is refused until STARTTLS, and until
  the client proved who it is: an IGC-Santé ORG client certificate (applicative mailbox, CONF.12) or,
  when enabled, SASL XOAUTH2 with a bearer token (personal/organisational mailboxes, CONF.07);
- records every connection (TLS version, cipher, client certificate, commands refused in clear) and
  every message (raw bytes, envelope, DSN parameters) for the checks and the evidence bundle;
- scenario switches: reject recipients with 550/552/554 (at RCPT or at DATA), drop the connection
  after DATA, present an expired / revoked / untrusted / wrong-host server certificate, answer with an
  MDN (success or ``processed/Error: 90x^…``) or a "KO" e-mail, or stay silent;
- delivers what it sends back (MDN, error e-mails) into per-address mailboxes the candidate fetches
  over IMAP with STARTTLS (``conformance.mss.imap``): contract v1 has no route to push a notification
  into the candidate, and a real DUI reads its operator mailbox anyway. ``outbox`` keeps a copy for
  the harness. The CRL of the test CA is served over HTTP at the URL the certificates name.
"""

from __future__ import annotations

import contextlib
import email.utils
import re
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session, TLSSetupException
from cryptography import x509

from conformance.mss.imap import ImapServer, MailStore, certificate_email
from conformance.mss.mdn import build_error_mail, build_mdn, parse_notification
from conformance.mss.pki import Issued, TestPki, certificate_facts

DEFAULT_SIZE_LIMIT = 20 * 1024 * 1024
MAX_RECORDS = 2000
MAX_EVENTS = 200
REJECT_TEXTS = {
    550: "550 5.1.1 Boite aux lettres inconnue ou inactive",
    552: "552 5.2.2 Boite aux lettres pleine / taille depassee",
    554: "554 5.7.1 Message refuse par l'operateur",
}
SERVER_CERTS = ("valid", "expired", "revoked", "untrusted", "wrong_host")
AUTH_MODES = ("client_cert", "bearer", "either")
_DSN_MAIL = re.compile(r"\s+(RET|ENVID)=\S+", re.I)
_DSN_RCPT = re.compile(r"\s+(NOTIFY|ORCPT)=\S+", re.I)


@dataclass(frozen=True)
class Scenario:
    """How the operator behaves for the next messages (switch with ``MssSimulator.use``)."""

    reject_code: int | None = None
    reject_recipients: tuple[str, ...] = ()  # empty: every recipient
    reject_stage: str = "rcpt"  # rcpt | data
    close_connection: bool = False  # drop the connection after DATA, without a reply
    server_cert: str = "valid"
    auth: str = "client_cert"
    notify: str = "none"  # none | success | error
    error_code: str = "902"
    error_label: str = ""

    def __post_init__(self) -> None:
        if self.server_cert not in SERVER_CERTS:
            raise ValueError(f"server_cert must be one of {SERVER_CERTS}")
        if self.auth not in AUTH_MODES:
            raise ValueError(f"auth must be one of {AUTH_MODES}")
        if self.notify not in ("none", "success", "error"):
            raise ValueError("notify must be none, success or error")
        if self.reject_stage not in ("rcpt", "data"):
            raise ValueError("reject_stage must be rcpt or data")


@dataclass
class ConnectionRecord:
    """One SMTP connection as the operator saw it."""

    id: int
    peer: str
    server_cert: str
    started: float = field(default_factory=time.time)
    ehlo: str = ""
    starttls: bool = False
    tls_version: str = ""
    cipher: str = ""
    client_cert: dict[str, str] | None = None
    client_cert_status: str = "absent"  # absent | valid | revoked | untrusted
    authenticated: bool = False
    auth_mechanism: str = ""
    auth_user: str = ""
    plaintext_commands: list[str] = field(default_factory=list)
    tls_error: str = ""
    events: list[str] = field(default_factory=list)
    closed: bool = False  # the TCP connection ended (its record is complete: TLS errors are in)

    def log(self, line: str) -> None:
        if len(self.events) < MAX_EVENTS:
            self.events.append(line[:300])

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass
class ReceivedMessage:
    """One message the candidate transmitted (DATA completed), with what the operator answered."""

    index: int
    connection: ConnectionRecord
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    reply: str
    accepted: bool
    mail_params: list[str] = field(default_factory=list)
    rcpt_params: dict[str, list[str]] = field(default_factory=dict)
    received_at: float = field(default_factory=time.time)

    @property
    def message_id(self) -> str:
        match = re.search(r"<[^<>\s]{1,500}>", _header_value(self.raw[:262144], "Message-ID"))
        return match.group(0) if match else ""

    def envelope_json(self) -> dict[str, Any]:
        return {
            "index": self.index, "mail_from": self.mail_from, "rcpt_tos": self.rcpt_tos, "reply": self.reply,
            "accepted": self.accepted, "mail_params": self.mail_params, "rcpt_params": self.rcpt_params,
            "message_id": self.message_id, "size": len(self.raw), "received_at": self.received_at,
            "connection": self.connection.to_json(),
        }


@dataclass
class OutgoingMail:
    """What the operator sent back (an MDN or a KO e-mail), and to which mailbox."""

    to: str
    raw: bytes
    in_reply_to: str
    kind: str
    sent_at: float = field(default_factory=time.time)


class _SimSMTP(SMTP):
    """aiosmtpd's SMTP with our per-connection record and the DSN (RFC 3461) parameters accepted."""

    def __init__(self, handler: _Handler, record: ConnectionRecord, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.record = record
        self._pending_rcpt_params: list[str] = []
        self.mail_params: list[str] = []
        self.rcpt_params: dict[str, list[str]] = {}

    async def smtp_EHLO(self, hostname: str) -> None:
        self.record.ehlo = (hostname or "")[:200]
        self.record.log(f"C: EHLO {hostname}")
        await super().smtp_EHLO(hostname)

    async def smtp_STARTTLS(self, arg: str) -> None:
        self.record.log("C: STARTTLS")
        await super().smtp_STARTTLS(arg)

    async def smtp_MAIL(self, arg: str | None) -> None:
        self.record.log(f"C: MAIL {arg or ''}")
        if arg:
            self.mail_params = [m.group(0).strip() for m in _DSN_MAIL.finditer(arg)]
            arg = _DSN_MAIL.sub("", arg)
        await super().smtp_MAIL(arg)

    async def smtp_RCPT(self, arg: str | None) -> None:
        self.record.log(f"C: RCPT {arg or ''}")
        if arg:
            self._pending_rcpt_params = [m.group(0).strip() for m in _DSN_RCPT.finditer(arg)]
            arg = _DSN_RCPT.sub("", arg)
        await super().smtp_RCPT(arg)

    async def smtp_DATA(self, arg: str) -> None:
        self.record.log("C: DATA")
        await super().smtp_DATA(arg)

    async def smtp_RSET(self, arg: str) -> None:
        self.mail_params, self.rcpt_params = [], {}
        await super().smtp_RSET(arg)

    async def push(self, status: Any) -> None:
        text = status.decode("utf-8", "replace") if isinstance(status, bytes) else str(status)
        self.record.log(f"S: {text}")
        await super().push(status)

    def connection_lost(self, error: Exception | None) -> None:
        super().connection_lost(error)
        self.record.closed = True

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        peer = transport.get_extra_info("peername")
        if peer and not self.record.peer:
            self.record.peer = f"{peer[0]}:{peer[1]}"

    async def handle_exception(self, error: Exception) -> str:
        # recorded, not logged with a traceback: a failed handshake is an expected scenario outcome
        cause = error.__cause__ or error
        text = f"{cause.__class__.__name__}: {cause}"[:300]
        if isinstance(error, TLSSetupException):
            self.record.tls_error = text
        self.record.log(f"!: {text}")
        return "421 4.7.0 TLS negotiation failed" if isinstance(error, TLSSetupException) else "500 5.0.0 erreur"


class _Handler:
    """aiosmtpd hooks: enforce TLS + identity, apply the scenario, record and deliver."""

    def __init__(self, sim: MssSimulator) -> None:
        self.sim = sim

    async def handle_EHLO(self, server: _SimSMTP, session: Session, envelope: Envelope, hostname: str,
                          responses: list[str]) -> list[str]:
        session.host_name = hostname
        return [*responses[:-1], "250-DSN", responses[-1]]

    def handle_STARTTLS(self, server: _SimSMTP, session: Session, envelope: Envelope) -> bool:
        rec = server.record
        rec.starttls = True
        sslobj = (session.ssl or {}).get("ssl_object")
        if sslobj is not None:
            rec.tls_version = sslobj.version() or ""
            rec.cipher = (sslobj.cipher() or ("",))[0]
            der = sslobj.getpeercert(binary_form=True)
            if der:
                status, facts = self.sim.judge_client_certificate(der)
                rec.client_cert, rec.client_cert_status = facts, status
        rec.log(f"i: TLS {rec.tls_version} {rec.cipher} client-cert={rec.client_cert_status}")
        return rec.client_cert_status != "revoked"

    def _gate(self, server: _SimSMTP, session: Session, command: str) -> str | None:
        rec = server.record
        if session.ssl is None:
            rec.plaintext_commands.append(command[:200])
            return "530 5.7.0 Must issue a STARTTLS command first"
        mode = self.sim.scenario.auth
        cert_ok = rec.client_cert_status == "valid"
        bearer_ok = bool(session.authenticated)
        if (mode == "client_cert" and cert_ok) or (mode == "bearer" and bearer_ok) or (
                mode == "either" and (cert_ok or bearer_ok)):
            return None
        return "530 5.7.0 Authentification requise (certificat IGC-Sante de BAL applicative ou jeton PSC)"

    async def handle_MAIL(self, server: _SimSMTP, session: Session, envelope: Envelope, address: str,
                          mail_options: list[str]) -> str:
        refused = self._gate(server, session, f"MAIL FROM:<{address}>")
        if refused:
            return refused
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server: _SimSMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        refused = self._gate(server, session, f"RCPT TO:<{address}>")
        if refused:
            return refused
        sc = self.sim.scenario
        if sc.reject_code and sc.reject_stage == "rcpt" and self._targeted(address):
            self.sim.rejects_issued += 1
            return REJECT_TEXTS.get(sc.reject_code, f"{sc.reject_code} 5.0.0 refus")
        envelope.rcpt_tos.append(address)
        server.rcpt_params[address] = list(server._pending_rcpt_params)
        return "250 2.1.5 OK"

    def _targeted(self, address: str) -> bool:
        wanted = {a.lower() for a in self.sim.scenario.reject_recipients}
        return not wanted or address.lower() in wanted

    async def handle_DATA(self, server: _SimSMTP, session: Session, envelope: Envelope) -> str:
        sc = self.sim.scenario
        raw = envelope.original_content or b""
        reply = "250 2.0.0 OK message accepte"
        accepted = True
        if sc.reject_code and sc.reject_stage == "data" and any(self._targeted(a) for a in envelope.rcpt_tos):
            self.sim.rejects_issued += 1
            reply, accepted = REJECT_TEXTS.get(sc.reject_code, f"{sc.reject_code} 5.0.0 refus"), False
        if sc.close_connection:
            reply, accepted = "(connexion fermée sans réponse)", False
            self.sim.drops_issued += 1
        message = self.sim._record_message(server, envelope, raw, reply, accepted)
        if sc.close_connection:
            server.record.log("i: connection dropped after DATA (scenario)")
            transport: Any = server.transport
            if transport is not None:
                transport.abort()
            return "421 4.4.2 connexion fermee"
        if accepted:
            self.sim._after_delivery(message)
        return reply

    async def auth_XOAUTH2(self, server: _SimSMTP, args: list[str]) -> AuthResult:
        blob: Any = None
        if len(args) > 1:
            import base64
            import binascii

            try:
                blob = base64.b64decode(args[1], validate=True)
            except (binascii.Error, ValueError):
                return AuthResult(success=False, handled=False, message="501 5.5.2 base64 invalide")
        else:
            blob = await server.challenge_auth("")
            if not isinstance(blob, bytes):
                return AuthResult(success=False, handled=True)
        fields = dict(p.split("=", 1) for p in blob.decode("utf-8", "replace").split("\x01") if "=" in p)
        user = fields.get("user", "")
        token = fields.get("auth", "").removeprefix("Bearer ").strip()
        server.record.auth_mechanism = "XOAUTH2"
        if self.sim.bearer_check is not None and user and token and self.sim.bearer_check(token, user):
            server.record.authenticated = True
            server.record.auth_user = user
            return AuthResult(success=True, auth_data=user)
        return AuthResult(success=False, handled=False, message="535 5.7.8 jeton refuse")


class _Controller(Controller):
    """aiosmtpd Controller on an ephemeral port, building one SMTP (and record) per connection."""

    def __init__(self, sim: MssSimulator, **kwargs: Any) -> None:
        super().__init__(_Handler(sim), hostname=sim.host, port=0, **kwargs)
        self.sim = sim

    def factory(self) -> SMTP:
        return self.sim._new_smtp(self.handler)

    def _trigger_server(self) -> None:
        server: Any = self.server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]
        super()._trigger_server()


class _CrlServer:
    """Serves the CRL of the test CA (DER at /igc-sante-test.crl, PEM at /igc-sante-test.pem.crl)."""

    def __init__(self, host: str) -> None:
        self.pki: TestPki | None = None
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:  # noqa: N802 - http.server naming
                pki = outer.pki
                if pki is None or self.path not in ("/igc-sante-test.crl", "/igc-sante-test.pem.crl"):
                    self.send_error(404)
                    return
                body = pki.crl_der() if self.path.endswith("test.crl") else pki.crl_pem()
                self.send_response(200)
                self.send_header("Content-Type", "application/pkix-crl")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer((host, 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://{host}:{self.httpd.server_address[1]}/igc-sante-test.crl"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="mss-crl", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


class MssSimulator:
    """The MSSanté operator on 127.0.0.1. ``start()``/``stop()`` or ``with MssSimulator() as sim:``."""

    def __init__(self, scenario: Scenario | None = None, *, host: str = "127.0.0.1",
                 size_limit: int = DEFAULT_SIZE_LIMIT, bearer_check: Callable[[str, str], bool] | None = None,
                 smtp_timeout: float = 30.0) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the MSSanté simulator binds to the loopback interface only")
        self.host = host
        self.scenario = scenario or Scenario()
        #: how many refusals the reject scenario really issued: a scenario the candidate never reached
        #: (no RCPT, e.g. STARTTLS refused first) was not played and proves nothing
        self.rejects_issued = 0
        #: how many connections the close_connection scenario really dropped after DATA (same reason)
        self.drops_issued = 0
        self.size_limit = size_limit
        self.bearer_check = bearer_check
        self.smtp_timeout = smtp_timeout
        self.messages: list[ReceivedMessage] = []
        self.connections: list[ConnectionRecord] = []
        self.outbox: list[OutgoingMail] = []
        self.store = MailStore()
        self._lock = threading.RLock()
        self._accepting = False
        self._crl = _CrlServer(host)
        self.pki = TestPki.create(hosts=(host, "localhost"), crl_url=self._crl.url)
        self._crl.pki = self.pki
        self._tmp = tempfile.TemporaryDirectory(prefix="mss-sim-")
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._controller: _Controller | None = None
        self.imap: ImapServer | None = None
        self.port = 0

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> MssSimulator:
        self._crl.start()
        self._controller = _Controller(self, ready_timeout=10.0)
        self._server_context("valid")
        self._controller.start()
        self.port = self._controller.port
        self.imap = ImapServer(self.store, lambda: self._server_context("valid"), self.judge_imap_certificate,
                               self.bearer_check, host=self.host).start()
        with self._lock:
            self.connections.clear()  # forget the controller's own readiness probe
            self._accepting = True
        return self

    def stop(self) -> None:
        self._accepting = False
        if self._controller is not None:
            with contextlib.suppress(Exception):
                self._controller.stop()
            self._controller = None
        if self.imap is not None:
            self.imap.stop()
            self.imap = None
        self._crl.stop()
        self._tmp.cleanup()

    def __enter__(self) -> MssSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def imap_port(self) -> int:
        return self.imap.port if self.imap else 0

    @property
    def crl_url(self) -> str:
        return self._crl.url

    # -- scenario ------------------------------------------------------------------------------
    def set_scenario(self, scenario: Scenario | None = None, **changes: Any) -> None:
        with self._lock:
            self.scenario = replace(scenario or Scenario(), **changes)

    @contextlib.contextmanager
    def use(self, scenario: Scenario | None = None, **changes: Any) -> Iterator[MssSimulator]:
        """Temporarily switch the scenario (restores the previous one on exit)."""
        previous = self.scenario
        self.set_scenario(scenario, **changes)
        try:
            yield self
        finally:
            with self._lock:
                self.scenario = previous

    # -- what a candidate is given ---------------------------------------------------------------
    def client_identity(self, mailbox: str, variant: str = "valid") -> Issued:
        return self.pki.organisation(mailbox, variant=variant)

    def endpoint(self, sender: str, *, variant: str = "valid", with_crl: bool = True) -> dict[str, Any]:
        """The ``mss`` object of PUT /endpoints: where to send and with which identity.

        ``imap_port`` is an addition to contract v1 (optional): where the candidate fetches the MDNs
        and error e-mails the operator delivers to ``sender``.
        """
        ident = self.client_identity(sender, variant)
        return {
            "host": self.host, "port": self.port, "imap_port": self.imap_port,
            "ca_pem": self.pki.trust_bundle(with_crl=with_crl),
            "client_cert_pem": ident.cert_pem.decode("ascii"), "client_key_pem": ident.key_pem.decode("ascii"),
            "sender": sender,
        }

    # -- records -------------------------------------------------------------------------------
    def clear(self) -> None:
        with self._lock:
            self.messages.clear()
            self.connections.clear()
            self.outbox.clear()
            self.store.clear()

    def wait_for(self, predicate: Callable[[MssSimulator], bool], timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if predicate(self):
                    return True
            time.sleep(0.02)
        with self._lock:
            return predicate(self)

    def find(self, message_id: str) -> list[ReceivedMessage]:
        with self._lock:
            return [m for m in self.messages if message_id and m.message_id == message_id]

    # -- internals -----------------------------------------------------------------------------
    def _write(self, name: str, data: bytes) -> str:
        path = Path(self._tmp.name) / name
        path.write_bytes(data)
        path.chmod(0o600)
        return str(path)

    def _server_context(self, variant: str) -> ssl.SSLContext:
        with self._lock:
            if variant in self._contexts:
                return self._contexts[variant]
            issued = {
                "valid": self.pki.server, "expired": self.pki.server_expired, "revoked": self.pki.server_revoked,
                "untrusted": self.pki.server_untrusted, "wrong_host": self.pki.server_wrong_host,
            }[variant]
            chain = issued.cert_pem + (self.pki.rogue_ca.cert_pem if variant == "untrusted" else self.pki.ca.cert_pem)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            # Observation, not enforcement: the simulator accepts down to what this OpenSSL still offers
            # (TLS 1.0/1.1 at security level 0) so that the version a candidate negotiates is seen and judged
            # (SC.MSS/CONF.01, DUI.MSS.01) instead of a bare handshake failure. A real operator refuses < 1.2.
            ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
            ctx.load_cert_chain(self._write(f"server-{variant}.pem", chain),
                                self._write(f"server-{variant}.key", issued.key_pem))
            ctx.verify_mode = ssl.CERT_OPTIONAL
            ctx.load_verify_locations(cadata=self.pki.ca.cert_pem.decode("ascii"))
            self._contexts[variant] = ctx
            return ctx

    def _new_smtp(self, handler: _Handler) -> SMTP:
        variant = self.scenario.server_cert
        with self._lock:
            record = ConnectionRecord(id=len(self.connections) + 1, peer="", server_cert=variant)
            if self._accepting and len(self.connections) < MAX_RECORDS:
                self.connections.append(record)
        return _SimSMTP(handler, record, hostname="operateur-mss.test", tls_context=self._server_context(variant),
                        require_starttls=False, auth_require_tls=True, data_size_limit=self.size_limit,
                        auth_exclude_mechanism=["PLAIN", "LOGIN"], timeout=self.smtp_timeout,
                        enable_SMTPUTF8=True)

    def judge_client_certificate(self, der: bytes) -> tuple[str, dict[str, str]]:
        """(status, facts) of a client certificate the TLS stack already verified against the CA."""
        try:
            cert = x509.load_der_x509_certificate(der)
        except ValueError:
            return "untrusted", {}
        facts = certificate_facts(cert)
        if not self.pki.is_trusted(cert):
            return "untrusted", facts
        if self.pki.is_revoked(cert):
            return "revoked", facts
        return "valid", facts

    def judge_imap_certificate(self, der: bytes) -> tuple[str, str]:
        status, _ = self.judge_client_certificate(der)
        return status, certificate_email(der)

    def _record_message(self, server: _SimSMTP, envelope: Envelope, raw: bytes, reply: str,
                        accepted: bool) -> ReceivedMessage:
        with self._lock:
            message = ReceivedMessage(
                index=len(self.messages) + 1, connection=server.record, mail_from=envelope.mail_from or "",
                rcpt_tos=list(envelope.rcpt_tos), raw=raw, reply=reply, accepted=accepted,
                mail_params=list(server.mail_params), rcpt_params=dict(server.rcpt_params))
            if len(self.messages) < MAX_RECORDS:
                self.messages.append(message)
        server.mail_params, server.rcpt_params = [], {}
        return message

    def _after_delivery(self, message: ReceivedMessage) -> None:
        """Deliver to the recipients' mailboxes, then notify the sender as the scenario says."""
        for rcpt in message.rcpt_tos:
            self.store.deliver(rcpt, message.raw)
        sc = self.scenario
        if sc.notify == "none":
            return
        head = message.raw[:262144]
        dnt = _header_address(head, "Disposition-Notification-To")
        for rcpt in message.rcpt_tos:
            code = sc.error_code if sc.notify == "error" else ""
            if dnt:
                raw = build_mdn(message.raw, reporter=rcpt, to=dnt, error_code=code, error_label=sc.error_label)
                self._send_back(dnt, raw, message.message_id, "mdn")
            elif code:
                to = _header_address(head, "Reply-To") or _header_address(head, "From") or message.mail_from
                raw = build_error_mail(message.raw, reporter=rcpt, to=to, error_code=code,
                                       error_label=sc.error_label)
                self._send_back(to, raw, message.message_id, "error-mail")

    def _send_back(self, to: str, raw: bytes, in_reply_to: str, kind: str) -> None:
        self.store.deliver(to, raw)
        with self._lock:
            if len(self.outbox) < MAX_RECORDS:
                self.outbox.append(OutgoingMail(to=to, raw=raw, in_reply_to=in_reply_to, kind=kind))

    def notifications(self) -> list[dict[str, str]]:
        """The MDNs / KO e-mails sent back so far, decoded (for evidence)."""
        out = []
        for mail in list(self.outbox):
            info = parse_notification(mail.raw)
            out.append({"to": mail.to, "kind": mail.kind, **(info.to_json() if info else {})})
        return out


def _header_value(head: bytes, name: str) -> str:
    """The first value of a header in a raw header block, unfolded (RFC 5322 §2.2.3)."""
    section = re.split(rb"\r?\n\r?\n", head, maxsplit=1)[0]
    match = re.search(rb"^" + re.escape(name.encode()) + rb":([^\r\n]{0,998}(?:\r?\n[ \t][^\r\n]{0,998}){0,50})",
                      section, re.I | re.M)
    if not match:
        return ""
    return re.sub(r"\r?\n[ \t]+", " ", match.group(1).decode("utf-8", "replace")).strip()


def _header_address(head: bytes, name: str) -> str:
    _, addr = email.utils.parseaddr(_header_value(head, name))
    return addr
