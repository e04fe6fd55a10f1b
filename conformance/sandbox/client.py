"""HTTP client for sandbox contract v1 (docs/sandbox-api.yaml).

Two failure kinds matter to the verdicts: the sandbox is unreachable or broken (``SandboxError``: the
check could not run → ``error``), and the candidate does not support an operation (``SandboxUnsupported``,
HTTP 501: the requirement is ``not_run``). Neither may ever turn into ``passed``.

Every call to the candidate is bounded (``Deadlines``): a connect deadline and a first-byte deadline
(requests/urllib3's own ``timeout=(connect, read)``), a whole-answer deadline counted from the moment the
request leaves (a watchdog shuts the socket down when it passes: a candidate that sends a large
Content-Length and then one byte every 10 s cannot hold the run), and a size bound. A call that misses a
deadline raises ``SandboxTimeout`` ("no complete answer within N s"): the proofs that needed it are "not
evaluated" and the run goes on. An operation that missed its deadline ``OPERATION_STALL_LIMIT`` times in a row
is not asked again, and after ``STALL_LIMIT`` missed calls in a row (any operation) the candidate is taken as
stalled and every later call fails at once: a run against a candidate that listens but never finishes an
answer ends in bounded time (at most ``STALL_LIMIT`` × the answer deadline spent waiting).
"""

from __future__ import annotations

import base64
import os
import re
import socket
import threading
import time
from dataclasses import dataclass, replace
from http.client import HTTPException
from typing import Any

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

CONTRACT_VERSION = "1"
DEFAULT_TIMEOUT = 30.0  # kept for callers that pass a single number: the first-byte deadline
MAX_RESPONSE_BYTES = 100 * 1024 * 1024  # a CDA of 50 MB in base64, with room
STALL_LIMIT = 5  # calls in a row without a complete answer before the candidate is taken as stalled
OPERATION_STALL_LIMIT = 2  # the same for one operation (e.g. POST /residents/{id}/documents)
JSON_MEDIA_TYPES = ("application/json",)


@dataclass(frozen=True)
class Deadlines:
    """Bounds on one call to the candidate (seconds, bytes). Defaults: docs/sandbox-api.yaml, README."""

    connect_s: float = 10.0
    first_byte_s: float = 60.0  # a DMP or MSSanté send makes the candidate talk to our simulators first
    answer_s: float = 120.0  # the whole answer, headers and body, from the request leaving
    max_bytes: int = MAX_RESPONSE_BYTES

    ENV = {"connect_s": "SEGUR_CONNECT_TIMEOUT", "first_byte_s": "SEGUR_FIRST_BYTE_TIMEOUT",
           "answer_s": "SEGUR_ANSWER_TIMEOUT"}

    def __post_init__(self) -> None:
        for name in ("connect_s", "first_byte_s", "answer_s"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and 0 < value <= 86400):
                raise ValueError(f"{name} must be a number of seconds in ]0, 86400], not {value!r}")
        if self.max_bytes <= 0:
            raise ValueError("max_bytes must be positive")

    @classmethod
    def from_values(cls, connect: Any = None, first_byte: Any = None, answer: Any = None) -> Deadlines:
        """From option strings (None = default); a bad value raises ValueError with the option named."""
        base = cls()
        values: dict[str, Any] = {}
        for name, raw in (("connect_s", connect), ("first_byte_s", first_byte), ("answer_s", answer)):
            if raw in (None, ""):
                continue
            try:
                values[name] = float(raw)
            except (TypeError, ValueError):
                raise ValueError(f"{cls.ENV[name]}: {raw!r} is not a number of seconds") from None
        return replace(base, **values)

    @classmethod
    def from_env(cls) -> Deadlines:
        return cls.from_values(*(os.environ.get(cls.ENV[n]) for n in ("connect_s", "first_byte_s", "answer_s")))

    def capped(self, first_byte_s: float, answer_s: float) -> Deadlines:
        """The same bounds, no looser than the given ones (the preflight: /capabilities is instant)."""
        return replace(self, first_byte_s=min(self.first_byte_s, first_byte_s), answer_s=min(self.answer_s, answer_s))


_default_deadlines: Deadlines | None = None


def set_default_deadlines(deadlines: Deadlines | None) -> Deadlines | None:
    """The deadlines of every client created without its own (the plugin sets the run's); returns the old."""
    global _default_deadlines
    old, _default_deadlines = _default_deadlines, deadlines
    return old


def default_deadlines() -> Deadlines:
    return _default_deadlines if _default_deadlines is not None else Deadlines.from_env()


class SandboxError(RuntimeError):
    """The sandbox could not be reached or answered something outside the contract."""

    def __init__(self, message: str, message_en: str = "", status: int | None = None) -> None:
        super().__init__(message_en or message)
        self.message = message
        self.message_en = message_en or message
        self.status = status


class SandboxUnsupported(SandboxError):
    """HTTP 501: the candidate declares it does not implement this operation."""


class SandboxTimeout(SandboxError):
    """No complete answer within a deadline (connect, first byte or whole answer)."""


# ---------------------------------------------------------------------------------------------
# the whole-answer watchdog: urllib3's own connections, told which call they serve
# ---------------------------------------------------------------------------------------------
_current = threading.local()


class _Watch:
    """One call's whole-answer deadline: when it passes, the socket in use is shut down, which wakes up a
    read blocked on a trickling candidate (an ordinary requests exception follows, read as a timeout)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._conn: Any = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> _Watch:
        self._previous = getattr(_current, "watch", None)
        _current.watch = self
        self._timer.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._timer.cancel()
        _current.watch = self._previous

    def attach(self, conn: Any) -> None:
        with self._lock:
            self._conn = conn
            if self.expired:
                _shutdown(conn)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            if self._conn is not None:
                _shutdown(self._conn)


def _shutdown(conn: Any) -> None:
    sock = getattr(conn, "sock", None)
    if sock is None:
        return
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)  # the plain socket's: also under TLS, from any thread
    except OSError:
        pass


def _watched(conn: Any) -> None:
    watch = getattr(_current, "watch", None)
    if watch is not None:
        watch.attach(conn)


class _WatchedHTTPConnection(HTTPConnection):
    def request(self, *args: Any, **kw: Any) -> None:
        _watched(self)
        super().request(*args, **kw)


class _WatchedHTTPSConnection(HTTPSConnection):
    def request(self, *args: Any, **kw: Any) -> None:
        _watched(self)
        super().request(*args, **kw)


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class _WatchedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kw: Any) -> None:
        super().init_poolmanager(*args, **kw)
        self.poolmanager.pool_classes_by_scheme = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


def answer_deadline(seconds: float) -> _Watch:
    """``with answer_deadline(s) as watch:`` — a whole-answer deadline for calls made inside the block on a
    ``bounded_session()`` (for callers that read the body themselves); ``watch.expired`` says it passed."""
    return _Watch(seconds)


def bounded_session() -> requests.Session:
    """A requests.Session whose calls ``bounded_request`` can hold to a whole-answer deadline."""
    http = requests.Session()
    http.trust_env = False  # never go through a proxy: the sandbox is local to the vendor's CI
    http.mount("http://", _WatchedAdapter())
    http.mount("https://", _WatchedAdapter())
    return http


def bounded_request(http: requests.Session, method: str, url: str, deadlines: Deadlines, *,
                    what: str = "", **kw: Any) -> requests.Response:
    """One HTTP call under ``deadlines``; the body is read here (bounded), so ``.content``/``.json()`` are safe.

    ``http`` should come from ``bounded_session()`` (else only the connect and first-byte deadlines hold).
    Raises SandboxTimeout (a deadline passed), SandboxError (unreachable, too large)."""
    what = what or f"{method} {url}"
    started = time.monotonic()
    resp: requests.Response | None = None
    with _Watch(deadlines.answer_s) as watch:
        try:
            resp = http.request(method, url, timeout=(deadlines.connect_s, deadlines.first_byte_s),
                                allow_redirects=False, stream=True, **kw)
            declared = resp.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > deadlines.max_bytes:
                resp.close()
                raise _too_large(what, deadlines.max_bytes, declared)
            body = bytearray()
            for chunk in resp.iter_content(65536):  # the answer comes from the candidate: bounded
                body += chunk
                if len(body) > deadlines.max_bytes:
                    resp.close()
                    raise _too_large(what, deadlines.max_bytes)
            resp._content = bytes(body)  # so .json() / .text read what was bounded here
            resp._content_consumed = True  # type: ignore[attr-defined]
        except (requests.RequestException, urllib3.exceptions.HTTPError, HTTPException, OSError) as exc:
            # requests wraps what urllib3 raises; the rest is belt and braces for a socket shut down mid-read
            if resp is not None:
                resp.close()
            if watch.expired:
                raise _timeout(what, deadlines.answer_s, "answer", time.monotonic() - started) from None
            if isinstance(exc, requests.ConnectTimeout | urllib3.exceptions.ConnectTimeoutError):
                raise _timeout(what, deadlines.connect_s, "connect") from None
            if isinstance(exc, requests.ReadTimeout) or _is_read_timeout(exc):
                raise _timeout(what, deadlines.first_byte_s, "byte") from None
            raise SandboxError(
                f"bac à sable injoignable ({what}) : {exc.__class__.__name__}",
                f"sandbox unreachable ({what}): {exc.__class__.__name__}: {exc}",
            ) from None
    return resp


def _is_read_timeout(exc: BaseException) -> bool:
    """A read timeout while streaming the body surfaces as ConnectionError(ReadTimeoutError)."""
    seen = 0
    cur: BaseException | None = exc
    while cur is not None and seen < 8:
        if isinstance(cur, TimeoutError | socket.timeout) or type(cur).__name__ == "ReadTimeoutError":
            return True
        nxt = cur.args[0] if cur.args and isinstance(cur.args[0], BaseException) else None
        cur = nxt or cur.__cause__ or cur.__context__
        seen += 1
    return False


def _timeout(what: str, seconds: float, kind: str, elapsed: float | None = None) -> SandboxTimeout:
    if kind == "connect":
        return SandboxTimeout(f"pas de connexion en {seconds:g} s ({what})",
                              f"no connection within {seconds:g} s ({what})")
    if kind == "byte":
        return SandboxTimeout(f"pas de réponse complète : aucun octet reçu pendant {seconds:g} s ({what})",
                              f"no complete answer: no byte received for {seconds:g} s ({what})")
    return SandboxTimeout(f"pas de réponse complète en {seconds:g} s ({what})",
                          f"no complete answer within {seconds:g} s ({what})")


def _too_large(what: str, limit: int, declared: str = "") -> SandboxError:
    said = f" (Content-Length {declared})" if declared else ""
    return SandboxError(f"réponse trop volumineuse à {what} (> {limit} octets){said}",
                        f"answer too large to {what} (> {limit} bytes){said}")


def is_json_media_type(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media in JSON_MEDIA_TYPES or (media.startswith("application/") and media.endswith("+json"))


_ID_SEGMENT = re.compile(r"^/(residents|documents)/[^/]+")


class SandboxClient:
    def __init__(self, base_url: str, timeout: float | None = None, deadlines: Deadlines | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        deadlines = deadlines or default_deadlines()
        if timeout is not None:  # one number: the first-byte deadline (and the whole answer, if shorter)
            deadlines = replace(deadlines, first_byte_s=timeout, answer_s=max(deadlines.answer_s, timeout))
        self.deadlines = deadlines
        self.timeout = deadlines.first_byte_s
        self.http = bounded_session()
        self.stalls = 0  # calls in a row that ended on a deadline
        self.operation_stalls: dict[str, int] = {}  # the same, per operation

    # -- plumbing -------------------------------------------------------------------------------
    def request(self, method: str, path: str, *, json: Any = None, expect: tuple[int, ...] = (200, 201, 204),
                session: requests.Session | None = None, params: dict[str, str] | None = None,
                timeout: float | None = None) -> Any:
        url = f"{self.base_url}{path}"
        what = f"{method} {path}"
        operation = method + " " + _ID_SEGMENT.sub(r"/\1/{id}", path)
        if self.stalls >= STALL_LIMIT or self.operation_stalls.get(operation, 0) >= OPERATION_STALL_LIMIT:
            which = (f"ses {self.stalls} derniers appels", f"its last {self.stalls} calls") \
                if self.stalls >= STALL_LIMIT else (f"ses derniers appels {operation}", f"its last {operation} calls")
            raise SandboxTimeout(
                f"pas de réponse complète en {self.deadlines.answer_s:g} s : le candidat n'a donné aucune réponse "
                f"complète à {which[0]}, {what} n'est pas tenté",
                f"no complete answer within {self.deadlines.answer_s:g} s: the candidate gave no complete answer "
                f"to {which[1]}, {what} not attempted")
        deadlines = self.deadlines
        if timeout is not None:
            deadlines = replace(deadlines, first_byte_s=min(timeout, deadlines.answer_s))
        http = session or self.http
        if session is not None and not isinstance(http.get_adapter(url), _WatchedAdapter):
            http.mount(self.base_url, _WatchedAdapter())  # a caller's session (PSC browser cookies): bounded too
        try:
            resp = bounded_request(http, method, url, deadlines, what=what, json=json, params=params)
        except SandboxTimeout:
            self.stalls += 1
            self.operation_stalls[operation] = self.operation_stalls.get(operation, 0) + 1
            raise
        self.stalls = 0
        self.operation_stalls.pop(operation, None)
        if resp.status_code == 501:
            raise SandboxUnsupported(
                f"opération non prise en charge par le candidat : {method} {path}",
                f"operation not supported by the candidate: {method} {path}",
                501,
            )
        if resp.status_code not in expect:
            detail = _error_text(resp)
            raise SandboxError(
                f"réponse inattendue {resp.status_code} à {method} {path} : {detail}",
                f"unexpected {resp.status_code} answer to {method} {path}: {detail}",
                resp.status_code,
            )
        if resp.status_code == 204 or not resp.content:
            return None
        content_type = resp.headers.get("Content-Type", "")
        if not is_json_media_type(content_type):
            # the contract answers JSON: an HTML page (a login portal, a proxy's error page) is not an answer,
            # even when its text happens to parse
            shown = content_type[:80] or "absent"
            raise SandboxError(
                f"réponse non JSON à {method} {path} : Content-Type {shown}, application/json attendu "
                f"(contrat v1, docs/sandbox-api.yaml) ; début : {_snippet(resp.content)}",
                f"non-JSON answer to {method} {path}: Content-Type {shown}, application/json expected "
                f"(contract v1, docs/sandbox-api.yaml); starts with: {_snippet(resp.content)}",
                resp.status_code)
        try:
            return resp.json()
        except (ValueError, RecursionError):
            raise SandboxError(
                f"réponse non JSON à {method} {path} : corps illisible en JSON ; début : {_snippet(resp.content)}",
                f"non-JSON answer to {method} {path}: body does not parse as JSON; starts with: "
                f"{_snippet(resp.content)}", resp.status_code
            ) from None

    def obj(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
        """``request`` for the operations whose answer is a JSON object: anything else is a SandboxError
        (a clear "could not evaluate"), not a TypeError deep in a suite."""
        data = self.request(method, path, **kw)
        if not isinstance(data, dict):
            raise SandboxError(f"réponse à {method} {path} : objet JSON attendu, reçu {type(data).__name__}",
                               f"answer to {method} {path}: JSON object expected, got {type(data).__name__}")
        return data

    # -- contract v1 ----------------------------------------------------------------------------
    def capabilities(self) -> dict[str, Any]:
        caps = self.request("GET", "/capabilities")
        if not isinstance(caps, dict):
            raise SandboxError("capacités illisibles", "unreadable capabilities")
        return caps

    def reset(self) -> None:
        self.request("POST", "/reset")

    def set_endpoints(self, endpoints: dict[str, Any]) -> None:
        self.request("PUT", "/endpoints", json=endpoints)

    def create_resident(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.obj("POST", "/residents", json=body)

    def get_resident(self, resident_id: str) -> dict[str, Any]:
        return self.obj("GET", f"/residents/{resident_id}")

    def qualify(self, resident_id: str) -> dict[str, Any]:
        return self.obj("POST", f"/residents/{resident_id}/qualify", json={})

    def create_document(self, resident_id: str, doc_type: str, options: dict[str, Any] | None = None
                        ) -> dict[str, Any]:
        body: dict[str, Any] = {"type": doc_type}
        if options:
            body["options"] = options
        return self.obj("POST", f"/residents/{resident_id}/documents", json=body)

    def get_document(self, doc_id: str) -> dict[str, Any]:
        return self.obj("GET", f"/documents/{doc_id}")

    def send_dmp(self, doc_id: str, replaces: str | None = None) -> dict[str, Any]:
        body = {"replaces": replaces} if replaces else {}
        return self.obj("POST", f"/documents/{doc_id}/dmp", json=body)

    def send_mss(self, doc_id: str, **options: Any) -> dict[str, Any]:
        return self.obj("POST", f"/documents/{doc_id}/mss", json=options)

    def psc_login(self, session: requests.Session | None = None) -> dict[str, Any]:
        return self.obj("POST", "/psc/login", json={}, session=session)

    def psc_session(self, session: requests.Session | None = None) -> dict[str, Any]:
        return self.obj("GET", "/psc/session", session=session)

    def psc_logout(self, session: requests.Session | None = None) -> dict[str, Any]:
        return self.obj("POST", "/psc/logout", json={}, session=session)


def decode_cda(document: dict[str, Any]) -> bytes:
    """The CDA bytes of a ``POST /residents/{id}/documents`` answer."""
    raw = document.get("cda_base64")
    if not isinstance(raw, str):
        raise SandboxError("document sans champ cda_base64", "document without cda_base64 field")
    try:
        return base64.b64decode(raw, validate=True)
    except ValueError:
        raise SandboxError("cda_base64 n'est pas du base64 valide", "cda_base64 is not valid base64") from None


def _error_text(resp: requests.Response) -> str:
    try:
        data = resp.json()
        if isinstance(data, dict) and "error" in data:
            return str(data["error"])[:300]
    except (ValueError, RecursionError):
        pass
    return resp.text[:300]


def _snippet(content: bytes, limit: int = 80) -> str:
    text = content[:limit].decode("utf-8", "replace")
    return repr(" ".join(text.split()))
