"""A misbehaving candidate sandbox for the harness's reliability tests (written by hand for this project).

It stands in front of a real contract-v1 sandbox (the reference sandbox) on 127.0.0.1 and forwards every
call, except the routes a rule names, which it answers badly:

- ``stall``: 200, ``Content-Type: application/json``, a large Content-Length, then one byte every
  ``interval`` seconds (the answer never completes: the hang reported in issue 15);
- ``html``: 200 ``text/html`` (a login portal or a proxy page) whose body happens to be JSON;
- ``status:NNN``: that status (302 with a Location, 404…) and a small HTML page;
- ``die``: the server stops listening (the candidate died mid-run) from this call on.

Bounded: it serves for ``lifetime`` seconds at most and then stops by itself; a stalled answer sends at
most ``max_bytes`` bytes; request bodies over 8 MB are refused. Run it alone with
``python misbehaving_candidate.py UPSTREAM_URL 'GET /capabilities=stall'`` (prints its URL).
"""

from __future__ import annotations

import http.client
import re
import sys
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

MAX_BODY = 8 * 1024 * 1024


@dataclass
class Rule:
    method: str
    path: re.Pattern[str]
    action: str
    after: int = 0  # act only from the (after+1)-th matching call on
    seen: int = 0

    @classmethod
    def parse(cls, text: str) -> Rule:
        """``"POST /residents/[^/]+/documents=stall"`` (the path is a regular expression, whole match)."""
        target, action = text.rsplit("=", 1)
        method, path = target.split(" ", 1)
        after = 0
        if "@" in action:
            action, n = action.split("@", 1)
            after = int(n)
        return cls(method.upper(), re.compile(path), action, after)


class MisbehavingCandidate:
    def __init__(self, upstream: str, rules: list[str], *, interval: float = 1.0, lifetime: float = 120.0,
                 max_bytes: int = 600) -> None:
        split = urlsplit(upstream)
        self.upstream_host = split.hostname or "127.0.0.1"
        self.upstream_port = split.port or 80
        self.prefix = split.path.rstrip("/")
        self.rules = [Rule.parse(r) for r in rules]
        self.interval = interval
        self.lifetime = lifetime
        self.max_bytes = max_bytes
        self.stalled = 0  # how many answers were stalled (the tests read it)
        self.calls: list[str] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{self.prefix}"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1},
                                        daemon=True)
        self._timer = threading.Timer(lifetime, self.stop)  # stops by itself, whatever the test does
        self._timer.daemon = True

    def __enter__(self) -> MisbehavingCandidate:
        self._thread.start()
        self._timer.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def stop(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        self._timer.cancel()
        threading.Thread(target=self._close, daemon=True).start()  # shutdown() waits for serve_forever

    def _close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _rule_for(self, method: str, path: str) -> Rule | None:
        with self._lock:
            for rule in self.rules:
                if rule.method == method and rule.path.fullmatch(path):
                    rule.seen += 1
                    return rule if rule.seen > rule.after else None
        return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 30

            def log_message(self, fmt: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                if owner._stop.is_set():  # dead: a kept-alive connection gets no answer either
                    self.close_connection = True
                    return
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY:
                    self.send_error(413)
                    return
                body = self.rfile.read(length) if length else b""
                path = self.path.split("?", 1)[0]
                local = path[len(owner.prefix):] if path.startswith(owner.prefix) else path
                owner.calls.append(f"{self.command} {local}")
                rule = owner._rule_for(self.command, local)
                action = rule.action if rule else "forward"
                if action == "stall":
                    self._stall()
                elif action == "html":
                    self._answer(200, b'{"contract": "1", "note": "served as a web page"}', "text/html")
                elif action.startswith("status:"):
                    status = int(action.split(":", 1)[1])
                    extra = {"Location": "http://127.0.0.1:9/login"} if 300 <= status < 400 else {}
                    self._answer(status, b"<html><body>Not here</body></html>", "text/html", extra)
                elif action == "die":
                    self.close_connection = True
                    owner.stop()
                else:
                    self._forward(body)

            def _answer(self, status: int, data: bytes, content_type: str, extra: dict[str, str] | None = None
                        ) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _stall(self) -> None:
                owner.stalled += 1
                self.close_connection = True
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "1000000")
                self.end_headers()
                self.wfile.flush()
                sent = 0
                try:
                    while sent < owner.max_bytes and not owner._stop.wait(owner.interval):
                        self.wfile.write(b" ")
                        self.wfile.flush()
                        sent += 1
                except OSError:
                    pass  # the harness gave up and closed: what we wanted

            def _forward(self, body: bytes) -> None:
                conn = http.client.HTTPConnection(owner.upstream_host, owner.upstream_port, timeout=60)
                try:
                    headers = {k: v for k, v in self.headers.items()
                               if k.lower() not in ("host", "connection", "content-length")}
                    conn.request(self.command, self.path, body=body or None, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                    self.send_response(resp.status)
                    for k, v in resp.getheaders():
                        if k.lower() not in ("content-length", "connection", "transfer-encoding", "date", "server"):
                            self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError as exc:
                    self._answer(502, f'{{"error": "upstream: {type(exc).__name__}"}}'.encode(), "application/json")
                finally:
                    conn.close()

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        return Handler


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__)
        return 2
    with MisbehavingCandidate(argv[0], argv[1:]) as cand:
        print(cand.url, flush=True)
        while not cand._stop.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
